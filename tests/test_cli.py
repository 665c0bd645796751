"""The console script's other commands against the test server: rebuild and asyncapi."""

from __future__ import annotations

import json

from nats.js import JetStreamContext

from projections.base import fold
from projections.tension_map import TensionMapProjection
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import decode_snapshot, snapshot_bucket
from services.bootstrap import Service
from services.settings import Settings
from tests.factories import signal_envelope
from tests.service_process import run_cli as run_process
from tests.service_process import service_env


async def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    return await run_process(service_env(settings), *args)


async def bondgenoten(settings: Settings, *args: str) -> str:
    code, out, err = await run_cli(settings, *args)
    assert code == 0, err
    return out


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
    assert f"{prefix}.cmd.{{role}}.{{id}}.signal.submit" in channels
    for command in ("declare", "acknowledge", "de-escalate", "resolve", "close"):
        assert f"{prefix}.cmd.{{role}}.{{id}}.escalation.{command}" in channels


async def test_rebuild_of_an_unknown_projection_names_the_known_ones(settings: Settings) -> None:
    code, out, _ = await run_cli(settings, "rebuild", "nosuch")
    assert code == 2
    assert "nosuch" in out and "tension_map" in out and "call_lists" in out


async def test_rebuild_while_the_service_reads_is_refused(
    service: Service, settings: Settings
) -> None:
    code, _, err = await run_cli(settings, "rebuild")
    assert code == 1
    assert "draait nog" in err and "Traceback" not in err


async def test_help_is_plain_dutch_without_markup(settings: Settings) -> None:
    for args in (("--help",), ("run", "--help"), ("rebuild", "--help")):
        code, out, _ = await run_cli(settings, *args)
        assert code == 0
        assert "``" not in out and ":mod:" not in out and "::" not in out
    assert "Escalatiedienst" in (await run_cli(settings, "--help"))[1]


async def test_asyncapi_names_the_configured_server_and_every_reply(settings: Settings) -> None:
    document = json.loads(await bondgenoten(settings, "asyncapi"))
    hosts = {s["host"] for s in document["servers"].values()}
    assert hosts == {settings.nats_url.removeprefix("nats://")}  # type: ignore[union-attr]
    operations = document["operations"].values()
    requests = [o for o in operations if o["action"] == "receive"]  # sends: outbound events
    assert requests and all("reply" in o for o in requests)
    assert "Reply" in document["components"]["schemas"]
