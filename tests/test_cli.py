"""The console script's other commands against the test server: rebuild and asyncapi."""

from __future__ import annotations

import asyncio
import json
import sys

from nats.js import JetStreamContext

from projections.base import fold
from projections.tension_map import TensionMapProjection
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import decode_snapshot, snapshot_bucket
from services.settings import Settings
from tests.factories import signal_envelope
from tests.service_process import service_env


async def bondgenoten(settings: Settings, *args: str) -> str:
    env = service_env(settings)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_rebuild_folds_the_log_into_a_fresh_snapshot(
    store: JetStreamEventStore, js: JetStreamContext, settings: Settings
) -> None:
    envelopes = [signal_envelope(signal_id=f"s{i}") for i in range(5)]
    for e in envelopes:
        await store.append([e], expected_version=0)
    out = await bondgenoten(settings, "rebuild", "tension_map")
    assert out.strip() == "tension_map opnieuw opgebouwd tot positie 5"
    bucket = await snapshot_bucket(js, store.topology.projections_bucket)
    snap = decode_snapshot(TensionMapProjection(), (await bucket.get("tension_map")).data or b"")
    assert snap is not None and snap.checkpoint == 5
    assert snap.state == fold(TensionMapProjection(), envelopes)


async def test_asyncapi_lists_every_command_subject(settings: Settings) -> None:
    document = json.loads(await bondgenoten(settings, "asyncapi"))
    channels = {c["address"] for c in document["channels"].values()}
    prefix = settings.subject_prefix
    assert f"{prefix}.cmd.signal.submit" in channels
    for command in ("declare", "acknowledge", "de-escalate", "resolve", "close"):
        assert f"{prefix}.cmd.escalation.{command}" in channels
