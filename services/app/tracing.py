"""Traces from a request to the alert it leads to (OpenTelemetry API only: without a configured
exporter every call here is a no-op; ``services.adapters.tracing`` configures one).

The trace context travels with the events: each event appended while a span is current carries
it as the CloudEvents distributed-tracing extension (``ce-traceparent``, ``ce-tracestate``), and
a reactor handling the event continues that trace. So a signal's HTTP request, the workflow's
decision to open, the alert and its delivery form one trace, across processes and restarts.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter

TRACER = trace.get_tracer("bondgenoten")
PREFIX = "ce-"


class _Setter(Setter[MutableMapping[str, str]]):
    def set(self, carrier: MutableMapping[str, str], key: str, value: str) -> None:
        carrier[PREFIX + key] = value


class _Getter(Getter[Any]):
    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = carrier.get(PREFIX + key)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Any) -> list[str]:
        return [k.removeprefix(PREFIX) for k in carrier if k.startswith(PREFIX)]


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current trace context into an event's headers (nothing without a span)."""
    propagate.inject(headers, setter=_Setter())


@contextmanager
def continued(name: str, headers: Any, **attributes: Any) -> Iterator[None]:
    """A span continuing the trace an event carries (a consumer of that event)."""
    parent = propagate.extract(headers, getter=_Getter())
    with TRACER.start_as_current_span(
        name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ):
        yield


@contextmanager
def span(
    name: str, kind: trace.SpanKind = trace.SpanKind.INTERNAL, **attributes: Any
) -> Iterator[None]:
    with TRACER.start_as_current_span(name, kind=kind, attributes=attributes):
        yield


__all__ = ["TRACER", "continued", "inject", "span"]
