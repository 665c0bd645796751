"""kill -9 of the projection process mid-stream, then a restart: the result is exactly the
projection an uninterrupted run gives."""

from __future__ import annotations

import asyncio
import signal as os_signal
import subprocess
import sys
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError, ObjectNotFoundError

from events.signals import Evidence, SourceRole
from projections.base import fold
from projections.tension_map import TensionMapProjection
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import decode_snapshot, snapshot_bucket
from services.settings import Settings
from tests.conftest import eventually
from tests.factories import signal, signal_envelope
from tests.service_process import service_env

pytestmark = pytest.mark.slow
TOTAL = 3000


def _start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = service_env(settings)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services", "project"], env=env, stdout=out, stderr=out
        )


async def _checkpoint(store: JetStreamEventStore) -> int:
    bucket = await snapshot_bucket(store._js, store.topology.projections_bucket)
    try:
        blob = (await bucket.get("tension_map")).data or b""
    except (ObjectNotFoundError, NotFoundError):
        return 0
    snap = decode_snapshot(TensionMapProjection(), blob)
    return snap.checkpoint if snap else 0


async def _write(store: JetStreamEventStore, start: int, stop: int) -> None:
    async def one(i: int) -> None:
        s = signal(
            f"s{i}",
            area=("GM0034-haven", "GM0034-stad", "GM0034-poort")[i % 3],
            themes=(("demonstration",), ("asylum_reception", "polarisation"))[i % 2],
            level=1 + i % 5,
            evidence=list(Evidence)[i % 3],
            role=list(SourceRole)[i % 3],
            reporter_id=f"r{i % 37}",
        )
        await store.append([signal_envelope(s, minutes=i / 10)], expected_version=0)

    for chunk in range(start, stop, 16):
        await asyncio.gather(*(one(i) for i in range(chunk, min(chunk + 16, stop))))


async def test_kill_9_mid_stream_then_restart_equals_uninterrupted_run(
    store: JetStreamEventStore, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "project.log"
    proc = _start(settings, log)
    writer = asyncio.create_task(_write(store, 0, TOTAL))

    async def mid_stream() -> bool:
        return await _checkpoint(store) >= 300

    await eventually(mid_stream, timeout=60, interval=0.05)
    proc.send_signal(os_signal.SIGKILL)
    proc.wait()
    killed_at = await _checkpoint(store)
    await writer
    last = await store.last_position()
    assert killed_at < last, "the kill must land mid-stream"

    proc = _start(settings, log)
    try:

        async def caught_up() -> bool:
            return await _checkpoint(store) == last

        # each poll reads the whole snapshot: poll gently, not to slow the process it watches
        await eventually(caught_up, timeout=180, interval=0.5)
    finally:
        proc.send_signal(os_signal.SIGINT)
        proc.wait(timeout=15)

    bucket = await snapshot_bucket(store._js, store.topology.projections_bucket)
    resumed = decode_snapshot(TensionMapProjection(), (await bucket.get("tension_map")).data or b"")
    assert resumed is not None
    uninterrupted = fold(TensionMapProjection(), [e async for e in store.read()])
    assert resumed.state == uninterrupted
