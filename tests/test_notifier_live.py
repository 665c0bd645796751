"""The notifier against a real event store: two deliverers of one alert never both send, and
receivers can tell one deployment's alert from another's with the same id."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import pytest
from nats.aio.client import Client as NatsClient

from domain.escalation import escalation_decider
from domain.policy import EscalationPolicy, Level
from events.envelope import new_envelope
from events.escalation import CrisisAlertIssued, Recipient, slot_ref
from events.notification import DeliveryAttempted, DeliverySucceeded
from services.adapters.clock import FixedClock
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.topology import Topology, ensure_streams
from services.app.messages import AlertMessage, Notice
from services.app.notifier import Notifier
from services.app.ports import RawEvent
from tests.conftest import eventually
from tests.factories import T0
from tests.test_escalation_domain import AREA, THEME, open_or_join


@dataclass
class GatedChannel:
    """A send that holds until the test opens the gate, so two deliveries overlap for sure."""

    entered: int = 0
    sent: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: AlertMessage, recipient: Recipient) -> str:
        self.entered += 1
        await self.gate.wait()
        self.sent += 1
        return "ok"


async def test_concurrent_deliveries_of_one_alert_send_once(store: JetStreamEventStore) -> None:
    recipient = Recipient(name="oov", channels=("console",), addresses={"console": "-"})
    policy = EscalationPolicy(
        levels=(Level(name="OOV", recipients=(recipient,), ack_timeout_s=60),)
    )
    events = escalation_decider.run([], open_or_join(policy=policy))
    alert = next(e for e in events if isinstance(e, CrisisAlertIssued))
    envelope = new_envelope(
        alert, aggregate=slot_ref(AREA, THEME), actor="system:test", source="/t", recorded_at=T0
    )
    await store.append([envelope], expected_version=0)
    [raw] = [r async for r in store.read_raw()]
    channel = GatedChannel()
    notifier = Notifier(store, FixedClock(T0), {"console": channel}, {"default": policy})

    # e.g. a redelivery racing a delivery still in progress: one is sending (held at the gate)
    # while the other runs as far as it can, into the channel too or out as the loser.
    deliveries = [asyncio.create_task(notifier.on_event(raw)) for _ in range(2)]
    await eventually(
        lambda: (
            channel.entered == 2 or (channel.entered == 1 and any(d.done() for d in deliveries))
        ),
        what="one delivery sending while the other either sends too or gives way",
    )
    channel.gate.set()
    results = await asyncio.gather(*deliveries, return_exceptions=True)
    assert channel.sent == 1, results
    await notifier.on_event(raw)  # the retry of the one that lost: nothing left to do
    assert channel.sent == 1
    receipts = [e async for e in store.read(kinds=["notification"])]
    assert [type(e.data) for e in receipts].count(DeliverySucceeded) == 1


@dataclass
class Receiver:
    """Keeps the identifiers a receiver sees, and the ids the notifier records."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, message: Notice, recipient: Recipient) -> str:
        self.seen.append((message.external_id, message.alert_id))
        return "ok"


RECIPIENT = Recipient(name="oov", channels=("console",), addresses={"console": "-"})
POLICY = EscalationPolicy(levels=(Level(name="OOV", recipients=(RECIPIENT,), ack_timeout_s=60),))


async def first_alert_in(store: JetStreamEventStore) -> tuple[RawEvent, str]:
    """A fresh store's first escalation alerts: the alert id every fresh store hands out."""
    events = escalation_decider.run([], open_or_join(policy=POLICY))
    alert = next(e for e in events if isinstance(e, CrisisAlertIssued))
    envelope = new_envelope(
        alert, aggregate=slot_ref(AREA, THEME), actor="system:test", source="/t", recorded_at=T0
    )
    await store.append([envelope], expected_version=0)
    [raw] = [r async for r in store.read_raw()]
    return raw, alert.alert_id


async def test_identifiers_that_leave_the_service_carry_the_deployment(
    store: JetStreamEventStore,
) -> None:
    raw, alert_id = await first_alert_in(store)
    receiver = Receiver()
    notifier = Notifier(
        store, FixedClock(T0), {"console": receiver}, {"default": POLICY}, deployment="almere-1"
    )
    await notifier.on_event(raw)
    assert receiver.seen == [(f"almere-1-{alert_id}", alert_id)]
    receipts = [e.data async for e in store.read(kinds=["notification"])]
    assert {r.alert_id for r in receipts} == {alert_id}  # the log keeps the plain id
    assert any(isinstance(r, DeliveryAttempted) for r in receipts)
    with pytest.raises(ValueError, match="deployment"):
        Notifier(store, FixedClock(T0), {}, {}, deployment="almere 1, <oefening>")


async def test_the_same_alert_id_from_a_fresh_store_is_another_alert_for_receivers(
    store: JetStreamEventStore, nc: NatsClient
) -> None:
    """A reset store (or an exercise sharing a sender) hands out the same alert ids; without a
    deployment given, each store's notifier scopes them by its own log, the same after a
    restart, so a repeat is still recognised as one."""
    topology = Topology(f"F{uuid.uuid4().hex[:8].upper()}", f"f{uuid.uuid4().hex[:8]}")
    await ensure_streams(nc.jetstream(), topology)
    fresh = JetStreamEventStore(nc, topology)
    seen: list[tuple[str, str]] = []
    for s in (store, fresh):
        raw, alert_id = await first_alert_in(s)
        receiver = Receiver()
        await Notifier(s, FixedClock(T0), {"console": receiver}, {"default": POLICY}).on_event(raw)
        [(external, plain)] = receiver.seen
        assert plain == alert_id and external.endswith(f"-{alert_id}")
        seen.append((external, plain))
    assert seen[0][1] == seen[1][1] and seen[0][0] != seen[1][0]
    restarted = Notifier(store, FixedClock(T0), {}, {"default": POLICY})
    [raw] = [r async for r in store.read_raw(kinds=["escalation"])]
    await restarted._know_deployment(raw.position)
    assert restarted.deployment is not None
    assert seen[0][0] == f"{restarted.deployment}-{seen[0][1]}"
