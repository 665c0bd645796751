"""NATS authorization against the real embedded nats-server with the generated configuration.

The service runs as ``bondgenoten run`` does without ``NATS_URL``: it generates the nkey
authorization in its data directory and connects with its own seed. Each integration identity
connects with its own seed (``bondgenoten nats-user``) through :class:`IntegrationClient`, which
surfaces the server's permission denials (nats-py reports them only to ``error_cb``).
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import nats.errors
import pytest

from domain.access import Role, allowed
from events.codec import encode
from events.envelope import AggregateRef, new_envelope
from services.adapters.jetstream.authorization import (
    add_integration,
    ensure_authorization,
)
from services.adapters.jetstream.embedded import free_port
from services.app import commands as c
from services.bootstrap import Service
from services.entrypoints.nats.client import IntegrationClient, NoReply, PermissionDenied
from services.settings import Settings
from tests.api_helpers import AREA, NETWORK, client_for, signal_body
from tests.conftest import DATA, eventually, serve_in_background, settled, stream_messages
from tests.factories import signal
from tests.service_process import run_cli

IDENTITIES = {
    Role.ALLY: "a1",
    Role.POLICE: "meldkamer-oost",
    Role.MUNICIPALITY: "oov",
    Role.COORDINATOR: "coord-1",
    Role.CRISIS: "sgbo",
    Role.REVIEWER: "eval-1",
    Role.ADMIN: "beheer",
}
COMMANDS = [command.NAME for command in c.COMMANDS]
DECLARE = {"area": AREA, "theme": "demonstration", "reason": "groep onderweg"}


@pytest.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The service on its embedded, authenticated server, with one identity per role."""
    data = Path(tmp_path_factory.mktemp("secured"))
    settings = Settings(
        nats_url=None,
        data_dir=data,
        nats_port=free_port(),
        http_port=free_port(),
        escalation_policy=DATA / "policy-console.toml",
    )
    for role, identity in IDENTITIES.items():
        add_integration(settings.nats_dir, settings.subject_prefix, role.value, identity)
    async with serve_in_background(settings) as service:
        yield service


async def as_identity(service: Service, role: Role) -> IntegrationClient:
    nats_dir = service.infra.settings.nats_dir
    identity = IDENTITIES[role]
    return await IntegrationClient.connect(
        service.infra.nats_url,
        role=role.value,
        id=identity,
        seed_file=nats_dir / "identities" / f"{role.value}.{identity}.nk",
    )


async def seed_network_over_nats(service: Service) -> None:
    async with await as_identity(service, Role.MUNICIPALITY) as municipality:
        formed = await municipality.request(
            "network.form",
            {"network_id": NETWORK, "name": "Netwerk Stad", "area": AREA, "areas": [AREA]},
            command_id=f"form-{NETWORK}",
        )
        assert formed["ok"] or formed["errors"][0]["code"] == "conflict", formed
        for ally_id in ("a1", "a2"):
            enrolled = await municipality.request(
                "network.enroll-ally",
                {
                    "network_id": NETWORK,
                    "ally_id": ally_id,
                    "areas": [AREA],
                    "themes": ["demonstration"],
                    "consent_to_be_called": True,
                    "personal": {"name": f"Bondgenoot {ally_id}", "phone": "+31 6 1234 5678"},
                },
                command_id=f"enroll-{ally_id}",
            )
            assert enrolled["ok"], enrolled


# ---------------------------------------------------------------- configuration


def test_the_generated_configuration_is_private_and_idempotent(tmp_path: Path) -> None:
    first = ensure_authorization(tmp_path, "bg")
    user = add_integration(tmp_path, "bg", "police", "meldkamer-oost")
    again = ensure_authorization(tmp_path, "bg")
    assert again.service_seed.read_bytes() == first.service_seed.read_bytes()
    assert again.users[0].public_key == first.users[0].public_key
    assert user.public_key in again.config_file.read_text()
    for path in (again.config_file, again.service_seed, user.seed_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    text = again.config_file.read_text()
    for seed_file in (again.service_seed, user.seed_file):  # public keys only, never a seed
        assert seed_file.read_text().strip() not in text
    assert '"bg.cmd.police.meldkamer-oost.>"' in text and '"_INBOX.police.meldkamer-oost.>"' in text


async def cli(data_dir: Path, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "BONDGENOTEN_DATA_DIR": str(data_dir), "BONDGENOTEN_LOG_LEVEL": "WARNING"}
    env.pop("NATS_URL", None)
    return await run_cli(env, *args)


async def test_the_cli_creates_an_integration_and_refuses_the_service_role(
    tmp_path: Path,
) -> None:
    code, out, err = await cli(tmp_path, "nats-user", "--role", "police", "--id", "meldkamer-oost")
    assert code == 0, err
    assert "bg.cmd.police.meldkamer-oost.>" in out and "inbox_prefix" in out
    assert "geen ingebouwde NATS-server" in out  # none runs: the next start picks it up
    assert (tmp_path / "nats" / "identities" / "police.meldkamer-oost.nk").exists()
    code, _, err = await cli(tmp_path, "nats-user", "--role", "police", "--id", "a.b")
    assert code == 2 and "Ongeldige naam" in err
    code, _, err = await cli(tmp_path, "nats-user", "--role", "service", "--id", "x")
    assert code == 2 and "service" in err
    code, out, err = await cli(tmp_path, "nats-config")
    assert code == 0 and "police.meldkamer-oost" in out, err


async def test_monitoring_listens_on_loopback_only(secured: Service) -> None:
    embedded = secured.infra.embedded
    assert embedded is not None
    conf = (embedded.store_dir / "nats-server.conf").read_text()
    assert f'http: "127.0.0.1:{embedded.monitor_port}"' in conf
    assert "sync_interval: always" in conf and "include authorization.conf" in conf


# ---------------------------------------------------------------- who may connect


async def test_an_unauthenticated_connection_is_refused(secured: Service) -> None:
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await nats.connect(secured.infra.nats_url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_an_unknown_nkey_is_refused(secured: Service, tmp_path: Path) -> None:
    stranger = add_integration(tmp_path, "bg", "police", "meldkamer-oost")  # not on the server
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await IntegrationClient.connect(
            secured.infra.nats_url,
            role="police",
            id="meldkamer-oost",
            seed_file=stranger.seed_file,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


async def test_a_new_integration_is_let_in_once_the_cli_reloads_the_server(
    secured: Service,
) -> None:
    data_dir = secured.infra.settings.data_dir
    code, out, err = await cli(data_dir, "nats-user", "--role", "police", "--id", "wijk-3")
    assert code == 0 and "nieuwe rechten geladen" in out, (out, err)
    seed = secured.infra.settings.nats_dir / "identities" / "police.wijk-3.nk"

    async def connects() -> bool:
        client = await IntegrationClient.connect(
            secured.infra.nats_url,
            role="police",
            id="wijk-3",
            seed_file=seed,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )
        await client.close()
        return True

    assert await eventually(connects, ignoring=(nats.errors.Error,), what="the reloaded server")


# ---------------------------------------------------------------- the role x action matrix


async def test_each_identity_may_only_request_what_the_matrix_allows(secured: Service) -> None:
    """Every command for every integration role: forbidden ones are refused before their body
    is read (the one error shape, code ``forbidden``, field ``subject``); allowed ones get past
    authorization (an empty body is then refused for its missing fields)."""
    for role in IDENTITIES:
        async with await as_identity(secured, role) as client:
            for action in sorted(COMMANDS):
                reply = await client.request(action, {})
                assert reply["ok"] is False and set(reply) == {"ok", "errors"}, reply
                (first, *_) = reply["errors"]
                assert set(first) == {"field", "message", "code"}
                if allowed(client.principal, action):
                    assert first["code"] != "forbidden", (role, action, reply)
                else:
                    assert (first["code"], first["field"]) == ("forbidden", "subject"), (
                        role,
                        action,
                        reply,
                    )


async def test_allowed_commands_work_with_the_subjects_identity_as_actor(
    secured: Service,
) -> None:
    await seed_network_over_nats(secured)
    async with (
        await as_identity(secured, Role.POLICE) as police,
        await as_identity(secured, Role.ALLY) as ally,
    ):
        signalled = await ally.request("signal.submit", signal_body(), command_id="sig-auth-1")
        assert signalled["ok"], signalled
        # A police system reports as the police: never in an ally's name.
        posing = await police.request("signal.submit", signal_body(), command_id="sig-auth-2")
        assert not posing["ok"] and posing["errors"][0]["code"] == "forbidden"
        assert posing["errors"][0]["field"] == "source_role"
        declared = await police.request("escalation.declare", DECLARE, command_id="decl-auth-1")
        assert declared["ok"], declared
        # A body cannot choose the actor: an `actor` field is not part of the request.
        smuggled = await police.request(
            "escalation.acknowledge",
            {"escalation_id": declared["escalation_id"], "actor": "crisis:burgemeester"},
        )
        assert not smuggled["ok"] and smuggled["errors"][0]["field"] == "actor"
    events = await stream_messages(secured.infra.nc, secured.infra.topology.events_stream)
    actors = {(m.headers or {}).get("ce-actor") for m in events}
    assert {"police:meldkamer-oost", "ally:a1", "municipality:oov"} <= actors, actors
    assert "crisis:burgemeester" not in actors


async def test_another_identitys_subject_is_denied(secured: Service) -> None:
    async with await as_identity(secured, Role.POLICE) as police:
        subject = "bg.cmd.crisis.sgbo.escalation.close"
        with pytest.raises(PermissionDenied) as denied:
            await police.request("escalation.close", {}, subject=subject)
        assert denied.value.operation == "publish" and denied.value.subject.lower() == subject
        # The service's own identity is never reachable from outside either.
        with pytest.raises(PermissionDenied):
            await police.request(
                "escalation.close", {}, subject="bg.cmd.service.x.escalation.close"
            )


# ---------------------------------------------------------------- the log and the secrets


async def test_an_integration_cannot_touch_streams_events_or_secrets(secured: Service) -> None:
    topology = secured.infra.topology
    async with await as_identity(secured, Role.POLICE) as police:
        # Subscribing to the events (membership events hold personal data): denied.
        await police.nc.subscribe("bg.ev.>")
        assert (await police.denial("bg.ev.>")).operation == "subscription"
        # Every JetStream API call (stream info, consumers to fetch from BG_EVENTS, KV reads,
        # creating and deleting streams) is a publish on $JS.API: denied, never a hang.
        api_calls = [
            f"$JS.API.STREAM.INFO.{topology.events_stream}",
            f"$JS.API.CONSUMER.CREATE.{topology.events_stream}",
            f"$JS.API.DIRECT.GET.KV_{topology.secrets_bucket}.$KV.{topology.secrets_bucket}.rsvp",
            f"$JS.API.STREAM.MSG.GET.KV_{topology.secrets_bucket}",
            "$JS.API.STREAM.CREATE.STOLEN",
            f"$JS.API.STREAM.DELETE.{topology.events_stream}",
        ]
        for subject in api_calls:
            with pytest.raises(PermissionDenied):
                await police.request_raw(subject, b"{}")
        # Through nats-py's own JetStream API the same denial shows as a timeout only:
        with pytest.raises(nats.errors.TimeoutError):
            await police.nc.jetstream(timeout=0.5).stream_info(topology.events_stream)
        assert any("STREAM.INFO" in d.subject.upper() for d in police.denials)
        # Watching the secrets bucket directly: denied.
        await police.nc.subscribe(f"$KV.{topology.secrets_bucket}.>")
        await police.denial(f"$KV.{topology.secrets_bucket}.>")
    # The log is intact.
    info = await secured.infra.js.stream_info(topology.events_stream)
    assert info.config.name == topology.events_stream


async def test_a_denied_request_ends_with_a_clear_message_not_a_hang(secured: Service) -> None:
    async with await as_identity(secured, Role.POLICE) as police:
        with pytest.raises(PermissionDenied, match="permission denied: publish"):
            await police.request_raw("bg.ev.signal.x", b"{}", timeout=30)
        # Several requests denied on one subject at once: each hears of it (none hangs).
        many = await asyncio.gather(
            *(police.request_raw("bg.ev.signal.y", b"{}", timeout=30) for _ in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(o, PermissionDenied) for o in many), many
        # A subject nobody answers: a clear NoReply, not a bare timeout.
        with pytest.raises(NoReply, match="no responder"):
            await police.request("no.such-command", {}, timeout=1)


async def test_a_fabricated_event_reaches_neither_the_log_nor_projections_nor_alerts(
    secured: Service,
) -> None:
    """The attack of issue 9: a client publishes a major-incident ``signal.received`` straight
    onto the event subjects. The server drops it; nothing downstream ever sees it."""
    await seed_network_over_nats(secured)
    topology = secured.infra.topology
    area = "GM0034-poort"  # an area nothing else in this module reports on
    fake = signal("fake-1", area=area, network_id=NETWORK, level=5, major_incident=True)
    envelope = new_envelope(
        fake,
        aggregate=AggregateRef(kind="signal", area=area, id=fake.signal_id),
        actor="police:meldkamer-oost",
        source="/bondgenoten/nats",
        recorded_at=datetime.now(UTC),
        occurred_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    headers, body = encode(envelope)
    subject = topology.event_subject("signal", "GM0034", area, fake.signal_id)
    async with await as_identity(secured, Role.POLICE) as police:
        await police.nc.publish(subject, body, headers={**headers, "Nats-Msg-Id": envelope.id})
        await police.nc.flush()
        denied = await police.denial(subject)
    assert denied.operation == "publish"
    # Everything the service had to do is done: nothing of the fabricated event anywhere.
    await settled(secured)
    in_area = await secured.infra.js.stream_info(
        topology.events_stream, subjects_filter=f"bg.ev.*.*.{area}.>"
    )
    assert not in_area.state.subjects, in_area.state.subjects
    events = await stream_messages(secured.infra.nc, topology.events_stream)
    assert all(b"fake-1" not in m.data for m in events)
    async with client_for(secured) as client:
        r = await client.get("/api/v1/tension-map", params={"area": area})
        assert r.status_code == 200, r.text
        assert r.json()["cells"] == [], r.text
        escalations = await client.get("/api/v1/escalations")
        assert escalations.status_code == 200, escalations.text
    assert area not in escalations.text
    # The workflow and the notifier got nothing: no escalation, alert or receipt for the area.
    kinds = {(m.subject or "").split(".")[2] for m in events if area in (m.subject or "")}
    assert not kinds & {"escalation", "notification", "signal"}, kinds
    # The service itself was never denied anything it needs (its errors are counted).
    assert secured.infra.errors.permission_denials == 0, secured.infra.errors.counts
