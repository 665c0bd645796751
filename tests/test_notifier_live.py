"""The notifier against a real event store: two deliverers of one alert never both send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.escalation import escalation_decider
from domain.policy import EscalationPolicy, Level
from events.envelope import new_envelope
from events.escalation import CrisisAlertIssued, Recipient, slot_ref
from events.notification import DeliverySucceeded
from services.adapters.clock import FixedClock
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.app.messages import AlertMessage
from services.app.notifier import Notifier
from tests.factories import T0
from tests.test_escalation_domain import AREA, THEME, open_or_join


@dataclass
class SlowChannel:
    sent: int = 0

    async def send(self, message: AlertMessage, recipient: Recipient) -> str:
        await asyncio.sleep(0.3)
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
    channel = SlowChannel()
    notifier = Notifier(store, FixedClock(T0), {"console": channel}, {"default": policy})

    # e.g. a redelivery racing a delivery still in progress
    results = await asyncio.gather(
        notifier.on_event(raw), notifier.on_event(raw), return_exceptions=True
    )
    assert channel.sent == 1, results
    await notifier.on_event(raw)  # the retry of the one that lost: nothing left to do
    assert channel.sent == 1
    receipts = [e async for e in store.read(kinds=["notification"])]
    assert [type(e.data) for e in receipts].count(DeliverySucceeded) == 1
