"""Every acknowledged append survives kill -9 of nats-server (sync_interval: always)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from services.adapters.jetstream.embedded import EmbeddedNats, free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.topology import Topology, ensure_streams
from tests.conftest import connect, eventually
from tests.factories import signal_envelope

pytestmark = pytest.mark.slow


async def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "store", port=free_port()).start()
    topology = Topology(stream_prefix="DUR", subject_prefix="dur")
    acked: list[str] = []
    nc = await connect(server.url)
    try:
        await ensure_streams(nc.jetstream(), topology)
        store = JetStreamEventStore(nc, topology, timeout_s=1.0)

        async def writer(w: int) -> None:
            for i in range(10_000):
                e = signal_envelope(signal_id=f"w{w}-{i}")
                try:
                    await store.append([e], expected_version=0)
                except Exception:
                    return  # the server died under us: this append was not acknowledged
                acked.append(e.id)

        writers = [asyncio.create_task(writer(w)) for w in range(8)]
        await eventually(lambda: len(acked) >= 300, timeout=60, interval=0.01)
        server.kill()  # SIGKILL while writers are mid-flight
        await asyncio.gather(*writers)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()

    assert len(acked) >= 300
    server.start()
    nc = await connect(server.url)
    try:
        store = JetStreamEventStore(nc, topology)
        stored = {e.id async for e in store.read()}
        missing = set(acked) - stored
        assert not missing, f"{len(missing)} acknowledged events lost"
    finally:
        await nc.close()
        server.stop()
