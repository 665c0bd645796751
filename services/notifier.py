"""The notifier reactor: delivers each ``CrisisAlertIssued`` to its recipients, recording every
attempt as a receipt on a notification aggregate (one per alert x recipient).

Replay safety: before sending, the receipts already in the log are loaded and delivery resumes
from them; once a ``DeliverySucceeded`` is recorded nothing is sent again for that decision,
however often the alert event is read (redelivery, a reset consumer, a replay)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from domain.errors import ConcurrencyConflict
from domain.policy import EscalationPolicy, policy_for
from events.base import DomainEvent
from events.envelope import AggregateRef, Envelope, new_envelope
from events.escalation import CrisisAlertIssued, Recipient
from events.notification import notification_id, receipt_event_id
from services.clock import Clock
from services.eventstore import EventStore, RawEvent
from services.notify.channels import Channel
from services.notify.delivery import RetryPolicy, deliver
from services.notify.message import AlertMessage, CallListSummary

log = structlog.get_logger(__name__)
SOURCE = "/bondgenoten/notifier"


class Notifier:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        channels: Mapping[str, Channel],
        policies: Mapping[str, EscalationPolicy],
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        ack_url: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.channels = channels
        self.policies = policies
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.ack_url = ack_url

    async def on_event(self, raw: RawEvent) -> None:
        if raw.headers.get("ce-type") != CrisisAlertIssued.TYPE:
            return
        env = raw.decode()
        alert: CrisisAlertIssued = env.data
        # Every recipient's delivery ends before a failure is raised: a retry of this alert must
        # never run beside a delivery still in progress (it would send that one twice).
        results = await asyncio.gather(
            *(self._deliver(env, alert, r) for r in alert.recipients), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    def message(self, alert: CrisisAlertIssued) -> AlertMessage:
        s = alert.situation
        levels = policy_for(self.policies, s.area).levels
        level_name = levels[alert.level].name if alert.level < len(levels) else f"{alert.level}"
        return AlertMessage(
            alert_id=alert.alert_id,
            escalation_id=alert.escalation_id,
            level_name=level_name,
            round=alert.round,
            area=s.area,
            area_name=s.area_name,
            themes=s.themes,
            band=s.band,
            trend=s.trend,
            score=s.score,
            suggested_grip=s.suggested_grip,
            signal_count=len(s.contributing),
            signal_roles=tuple(dict.fromkeys(c.role.value for c in s.contributing)),
            call_list=CallListSummary(
                allies=s.call_list_summary.callable_allies,
                duty_contacts=sum(s.call_list_summary.duty_contacts.values()),
            ),
            coverage_gaps=s.coverage_gaps,
            sent_at=self.clock.now(),
            ack_url=f"{self.ack_url}/{alert.escalation_id}/acknowledge" if self.ack_url else None,
        )

    async def _deliver(
        self, cause: Envelope[Any], alert: CrisisAlertIssued, recipient: Recipient
    ) -> None:
        ref = AggregateRef(
            kind="notification",
            area=alert.situation.area,
            id=notification_id(alert.alert_id, recipient.name),
        )
        history, version = await self.store.load(ref)

        async def record(receipt: DomainEvent) -> None:
            nonlocal version
            envelope = new_envelope(
                receipt,
                aggregate=ref,
                actor="system:notifier",
                source=SOURCE,
                recorded_at=self.clock.now(),
                correlation_id=alert.escalation_id,
                causation_id=cause.id,
                event_id=receipt_event_id(receipt),  # type: ignore[arg-type]
            )
            # Optimistic concurrency on the receipts: of two deliverers of one alert to one
            # recipient, only the one that records the attempt first may send.
            result = await self.store.append([envelope], expected_version=version)
            if result.duplicate:
                raise ConcurrencyConflict(ref.cloudevents_subject, version)
            version = result.version

        delivered = await deliver(
            self.message(alert),
            recipient,
            self.channels,
            self.retry,
            self.clock,
            self.sleep,
            record,
            history=[e.data for e in history],
        )
        log.info(
            "notification.done",
            alert_id=alert.alert_id,
            escalation_id=alert.escalation_id,
            recipient=recipient.name,
            delivered=delivered,
        )
