"""One trace from a signal's HTTP request to the alert's delivery: the trace context travels in
the events (``ce-traceparent``) through the workflow and the notifier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.settings import Settings
from tests.api_helpers import client_for, seed_network
from tests.conftest import eventually, serve_in_background
from tests.receivers import HttpReceiver, serve_receiver
from tests.test_workflow_live import three_independent_signals, with_policy, write_policy

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    """The SDK, as ``BONDGENOTEN_OTLP_ENDPOINT`` would set it up, recording in memory."""
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(sdk)  # once per process: later calls are ignored


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async for r in serve_receiver():
        yield r


async def test_a_signal_request_and_the_alert_it_caused_share_one_trace(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver)
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            await three_independent_signals(client)
            await receiver.wait_for("/oov")

        def delivered() -> list[object]:
            return [s for s in EXPORTER.get_finished_spans() if s.name == "deliver"]

        [delivery, *_] = await eventually(delivered)
    spans = [
        s for s in EXPORTER.get_finished_spans() if s.context.trace_id == delivery.context.trace_id
    ]
    names = {s.name for s in spans}
    assert {"HTTP POST", "react workflow_signals", "react notifier", "deliver"} <= names
