"""Outbound escalation events: on the NATS subjects for an operations identity with its own
nkey (live and from its durable consumer), denied to another identity, and in the signed
webhook feed once, also when the log is read again from the start."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats.errors
import pytest

from domain.access import Role
from services.adapters.jetstream.authorization import add_integration, outbound_consumer
from services.adapters.jetstream.embedded import free_port
from services.adapters.jetstream.outbound import JetStreamOutbound
from services.adapters.jetstream.reactor import Reactor
from services.app.outbound import Outbound, outbound_event
from services.app.ports import RawEvent
from services.bootstrap import Service
from services.entrypoints.nats.client import IntegrationClient
from services.settings import Settings
from tests.api_helpers import AREA, bearer, client_for, seed_network
from tests.conftest import DATA, eventually, serve_in_background
from tests.receivers import HttpReceiver, serve_receiver

SECRET = "feed-secret-for-tests-only"
OPS = (Role.POLICE, "meldkamer-oost")
STRANGER = (Role.ALLY, "a9")


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[HttpReceiver]:
    async for r in serve_receiver():
        yield r


@pytest.fixture(scope="module")
async def ops_service(
    tmp_path_factory: pytest.TempPathFactory, receiver: HttpReceiver
) -> AsyncIterator[Service]:
    """The service on its embedded server with generated authorization and one webhook feed."""
    data = Path(tmp_path_factory.mktemp("outbound"))
    settings = Settings(
        nats_url=None,
        data_dir=data,
        nats_port=free_port(),
        http_port=free_port(),
        escalation_policy=DATA / "policy-console.toml",
        outbound_webhooks=[{"name": "ops", "url": receiver.url("/feed"), "secret": SECRET}],
    )
    for role, identity in (OPS, STRANGER):
        add_integration(settings.nats_dir, settings.subject_prefix, role.value, identity)
    async with serve_in_background(settings) as service:
        yield service


async def connect_as(service: Service, role: Role, identity: str) -> IntegrationClient:
    return await IntegrationClient.connect(
        service.infra.nats_url,
        role=role.value,
        id=identity,
        seed_file=service.infra.settings.nats_dir / "identities" / f"{role.value}.{identity}.nk",
    )


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's check of a Standard Webhooks signature (written from the spec)."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    return any(
        hmac.compare_digest(s.removeprefix("v1,").encode(), expected)
        for s in headers["webhook-signature"].split()
    )


async def test_an_ops_identity_receives_the_escalation_and_the_feed_gets_it_once(
    ops_service: Service, receiver: HttpReceiver
) -> None:
    service = ops_service
    t = service.infra.topology
    police = await connect_as(service, *OPS)
    stranger = await connect_as(service, *STRANGER)
    try:
        live: asyncio.Queue[Any] = asyncio.Queue()

        async def on_message(msg: Any) -> None:
            await live.put(msg)

        await police.nc.subscribe(f"{t.subject_prefix}.out.escalation.>", cb=on_message)
        # Another identity may not follow the escalations: the server denies it.
        await stranger.nc.subscribe(f"{t.subject_prefix}.out.escalation.>", cb=on_message)
        await stranger.nc.flush()
        await eventually(lambda: stranger.denials, what="the stranger's subscription denied")
        assert stranger.denials[0].operation == "subscription"

        async with client_for(service) as client:
            await seed_network(client, service)
            declared = await client.post(
                "/api/v1/escalations",
                json={"area": AREA, "theme": "demonstration", "reason": "groep onderweg"},
                headers=bearer(service, "police:meldkamer-oost"),
            )
            assert declared.status_code == 201, declared.text

        msg = await asyncio.wait_for(live.get(), timeout=10)
        assert msg.subject == f"{t.subject_prefix}.out.escalation.GM0034.opened"
        opened = json.loads(msg.data)
        assert (
            opened["event"] == "opened"
            and opened["escalation_id"] == (declared.json()["escalation_id"])
        )
        assert msg.headers["Nats-Msg-Id"] == opened["id"]
        assert "recipients" not in json.dumps(opened)  # addresses never leave

        # Resuming from its own durable consumer on the outbound stream.
        js = police.nc.jetstream()
        sub = await js.pull_subscribe(
            f"{t.subject_prefix}.out.escalation.>",
            durable=outbound_consumer(OPS[0].value, OPS[1]),
            stream=t.outbound_stream,
        )
        [stored] = await sub.fetch(1, timeout=5)
        assert json.loads(stored.data)["id"] == opened["id"]
        await stored.ack()
        # ...and only its own: another consumer name is denied.
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await js.pull_subscribe(
                f"{t.subject_prefix}.out.>", durable="someone-else", stream=t.outbound_stream
            )
        assert any("someone-else" in d.subject for d in police.denials), police.denials

        # The webhook feed: signed, with the event id.
        hook = await receiver.wait_for("/feed")
        assert hook.headers["webhook-id"] == opened["id"]
        assert verify(SECRET, hook.headers, hook.body)
        assert json.loads(hook.body)["id"] == opened["id"]
        assert not verify("another-secret-entirely", hook.headers, hook.body)
    finally:
        await police.nc.close()
        await stranger.nc.close()

    # Read the whole log again from the start, as a new outbound reactor would (a new
    # consumer, a restored store): the same events, the same message ids, nothing new.
    info_before = await service.infra.js.stream_info(t.outbound_stream)
    escalation_events = [e async for e in service.infra.store.read(kinds=["escalation"])]
    replay = Reactor(
        service.infra.js,
        t,
        name="outbound_replay",
        stream=t.events_stream,
        filter_subjects=[t.kind_filter("escalation")],
        handle=Outbound(
            JetStreamOutbound(service.infra.js, t), service.infra.clock, timedelta(days=7)
        ).on_event,
        keys=service.infra.keys,
    )
    task = asyncio.create_task(replay.run())
    try:
        await eventually(lambda: replay.handled >= len(escalation_events), what="replay done")
    finally:
        replay.stop()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    info_after = await service.infra.js.stream_info(t.outbound_stream)
    assert info_after.state.messages == info_before.state.messages
    # The feed consumer has nothing new to deliver: once is once.
    await eventually(
        lambda: _consumer_idle(service, "outbound_webhook_ops"), what="feed consumer idle"
    )
    ids = [r.headers["webhook-id"] for r in receiver.to("/feed")]
    assert ids.count(opened["id"]) == 1, ids
    assert len(ids) == len(set(ids))


async def _consumer_idle(service: Service, name: str) -> bool:
    t = service.infra.topology
    info = await service.infra.js.consumer_info(t.outbound_stream, name)
    return info.num_pending == 0 and info.num_ack_pending == 0


class Published:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def publish(self, municipality: str, event: str, msg_id: str, body: bytes) -> None:
        self.ids.append(msg_id)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


async def test_an_event_older_than_the_dedup_window_is_not_published_again(
    ops_service: Service,
) -> None:
    """Beyond the stream's duplicate window a repeat could not be told from a new event:
    such an event was published back then, and is not published now."""
    events = [e async for e in ops_service.infra.store.read_raw(kinds=["escalation"])]
    raw = next(e for e in events if e.headers.get("ce-type", "").endswith(".opened"))
    message = outbound_event(raw)
    assert message is not None
    published = Published()
    week = timedelta(days=7)
    later = Outbound(published, FixedClock(message.recorded_at + timedelta(days=8)), week)
    await later.on_event(raw)
    assert published.ids == [] and later.skipped_old == 1
    now = Outbound(published, FixedClock(datetime.now(UTC)), week)
    await now.on_event(raw)
    await now.on_event(RawEvent(raw.position, raw.subject, {"ce-type": "x.rsvp"}, b""))
    assert published.ids == [message.id]
