"""The OpenTelemetry SDK for the service: off unless an OTLP endpoint is configured
(``BONDGENOTEN_OTLP_ENDPOINT``, e.g. ``http://collector:4318/v1/traces``), then spans are batched
to it over OTLP/HTTP. The use cases and entry points only use the API (``services.app.tracing``)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def configure(endpoint: str | None, instance: str) -> TracerProvider | None:
    if not endpoint:
        return None
    attributes = {"service.name": "bondgenoten", "service.instance.id": instance or "default"}
    provider = TracerProvider(resource=Resource.create(attributes))
    # A short export timeout: an unreachable collector must not hold up a stop for long.
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=2)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
