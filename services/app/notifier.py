"""The notifier reactor: delivers each ``CrisisAlertIssued`` to its recipients, each
``ConveningCalled`` as an invitation to every invited ally and each ``RsvpReminderDue`` as a
reminder to those who have not answered, recording every attempt as a receipt on a
notification aggregate (one per notice x recipient).

Replay safety: before sending, the receipts already in the log are loaded and delivery resumes
from them; once a ``DeliverySucceeded`` is recorded nothing is sent again for that decision,
however often the alert event is read (redelivery, a reset consumer, a replay).

Identifiers that leave the service (CAP ``identifier``, webhook ``Idempotency-Key``, e-mail
``Message-ID``) are ``<deployment>-<alert id>``: alert ids repeat across fresh stores, and a
receiver that deduplicates must not drop a real alert for an earlier store's. Receipts in the
log keep the plain alert id."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog

from domain.delivery import RetryPolicy
from domain.escalation import slot_of
from domain.policy import EscalationPolicy, InvitationPolicy, policy_for
from events.base import DomainEvent
from events.envelope import Envelope, deterministic_id
from events.escalation import (
    ConveningCalled,
    CrisisAlertIssued,
    EscalationClosed,
    Recipient,
    RsvpReminderDue,
)
from events.network import AllyPersonal
from events.notification import (
    DeliveryFailed,
    DeliverySucceeded,
)
from services.app.delivery import Delivery, deliver_recorded
from services.app.invitation import InvitationKind, InvitationMessage
from services.app.messages import DEPLOYMENT_PATTERN, AlertMessage, CallListSummary, Notice
from services.app.ports import Channel, Clock, EventStore, RawEvent
from services.app.readmodels import ReadModelLagging

log = structlog.get_logger(__name__)
SOURCE = "/bondgenoten/notifier"
NOTIFIED = frozenset(
    {CrisisAlertIssued.TYPE, ConveningCalled.TYPE, RsvpReminderDue.TYPE, EscalationClosed.TYPE}
)


class Meeting(Protocol):
    """What an invitation tells about the convening (a ``ConveningCalled`` or its record)."""

    @property
    def convening_id(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def place(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def rsvp_deadline(self) -> datetime: ...
    @property
    def invited(self) -> Sequence[str]: ...


async def _always(_position: int) -> bool:
    return True


def deployment_of_log(first: RawEvent) -> str:
    """A deployment id derived from the first event of a log: the same for every instance and
    restart on that store (a repeated delivery keeps its identifiers), another for a fresh
    store (its first event has another id or was recorded at another moment)."""
    return deterministic_id(
        "deployment", first.headers.get("ce-id", ""), first.headers.get("ce-recordedat", "")
    )[:16]


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
        ack_link: Callable[[str, str], str | None] | None = None,
        allies: Callable[[str], AllyPersonal | None] = lambda _id: None,
        convenings: Callable[[str], Meeting | None] = lambda _id: None,
        area_name: Callable[[str], str] = str,
        rsvp_link: Callable[[str, str], str | None] | None = None,
        caught_up: Callable[[int], Awaitable[bool]] | None = None,
        deployment: str | None = None,
    ) -> None:
        """``deployment``: an opaque id unique per store (letters, digits, ``_``, ``-``) that
        scopes the identifiers receivers see. ``None`` (for callers that do not pass one yet)
        derives it from the first event in the log, once (:func:`deployment_of_log`)."""
        if deployment is not None and not re.fullmatch(DEPLOYMENT_PATTERN, deployment):
            raise ValueError("deployment must be 1-64 letters, digits, '_' or '-'")
        self.deployment = deployment
        self._deriving = asyncio.Lock()
        self.store = store
        self.clock = clock
        self.channels = channels
        self.policies = policies
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.deliveries: Counter[tuple[str, str]] = Counter()
        """Delivery attempts by channel and result (succeeded, failed): the metrics read them."""
        self.ack_link = ack_link
        self.allies = allies
        self.convenings = convenings
        self.area_name = area_name
        self.rsvp_link = rsvp_link
        self.caught_up = caught_up or _always

    async def on_event(self, raw: RawEvent) -> None:
        if raw.headers.get("ce-type") not in NOTIFIED:
            return
        await self._know_deployment(raw.position)
        env = raw.decode()
        deliveries: list[tuple[Notice, Recipient]]
        if isinstance(env.data, CrisisAlertIssued):
            message = self.message(env.data)
            deliveries = [(self._personal(message, r), r) for r in env.data.recipients]
        else:
            # Invitees come from the convening's record: it must include this event's past.
            if not await self.caught_up(raw.position):
                raise ReadModelLagging(f"convenings behind position {raw.position}")
            deliveries = self._invitations(env.data)
        # Word that a meeting is off goes out before the invitation to the one replacing it,
        # so a moved meeting never reads as called off.
        cancellations = [d for d in deliveries if getattr(d[0], "kind", "") == "cancellation"]
        rest = [d for d in deliveries if d not in cancellations]
        for batch in (cancellations, rest):
            # Every delivery ends before a failure is raised: a retry of this event must
            # never run beside a delivery still in progress (it would send that one twice).
            results = await asyncio.gather(
                *(self._deliver(env, m, r) for m, r in batch), return_exceptions=True
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]

    async def _know_deployment(self, position: int) -> None:
        """Derive the deployment id from the log's first event (at most at ``position``, the
        event being handled), unless one was given. Once: concurrent events wait for the first
        to read it and then go on together, as they would without this step."""
        if self.deployment is not None:
            return
        async with self._deriving:
            if self.deployment is not None:
                return
            events = self.store.read_raw(1, until=position)
            try:
                first = await anext(events, None)
            finally:
                close = getattr(events, "aclose", None)
                if close is not None:
                    await close()
            if first is not None:
                self.deployment = deployment_of_log(first)
                log.info("notifier.deployment_derived", deployment=self.deployment)

    def _invitations(
        self, event: ConveningCalled | RsvpReminderDue | EscalationClosed
    ) -> list[tuple[Notice, Recipient]]:
        """Who is told what about a convening: invited, reminded, or told it is off (moved
        to another time or place, or the escalation closed before it took place)."""
        notices: list[tuple[InvitationKind, str, Meeting | None, Sequence[str]]] = []
        if isinstance(event, ConveningCalled):
            notices.append(("invitation", f"inv-{event.convening_id}", event, event.invited))
            cancelled = event.supersedes
        elif isinstance(event, RsvpReminderDue):
            meeting = self.convenings(event.convening_id)
            notices.append(("reminder", f"rem-{event.timer_id}"[:64], meeting, event.not_answered))
            cancelled = None
        else:
            cancelled = event.cancelled_convening
        if cancelled is not None:
            old = self.convenings(cancelled)
            notices.append(("cancellation", f"cxl-{cancelled}", old, old.invited if old else ()))
        area, theme = slot_of(event.escalation_id)
        policy = policy_for(self.policies, area).invitations
        area_name = self.area_name(area)
        out: list[tuple[Notice, Recipient]] = []
        for kind, notice_id, meeting, allies in notices:
            if meeting is None:
                continue
            for ally_id in allies:
                recipient = self._ally_recipient(ally_id, policy)
                if recipient is None:
                    log.warning("invitation.unreachable", ally_id=ally_id, notice=notice_id)
                    continue
                link = None if kind == "cancellation" else self.rsvp_link  # nothing to answer
                message = InvitationMessage(
                    alert_id=notice_id,
                    deployment=self.deployment,
                    kind=kind,
                    ally_id=ally_id,
                    escalation_id=event.escalation_id,
                    convening_id=meeting.convening_id,
                    area=area,
                    area_name=area_name,
                    theme=theme,
                    mode=meeting.mode,
                    place=meeting.place,
                    starts_at=meeting.starts_at,
                    rsvp_deadline=meeting.rsvp_deadline,
                    sent_at=self.clock.now(),
                    rsvp_url=link(meeting.convening_id, ally_id) if link else None,
                )
                out.append((message, recipient))
        return out

    def _ally_recipient(self, ally_id: str, policy: InvitationPolicy) -> Recipient | None:
        personal = self.allies(ally_id)
        if personal is None:
            return None  # not (or no longer) a member: no gateway may be asked to reach them
        addresses = dict(policy.addresses)
        if personal.email:
            addresses["email"] = str(personal.email)
        channels = tuple(c for c in policy.channels if addresses.get(c))
        if not channels:
            return None
        return Recipient(name=ally_id, channels=channels, addresses=addresses)

    def message(self, alert: CrisisAlertIssued) -> AlertMessage:
        s = alert.situation
        levels = policy_for(self.policies, s.area).levels
        # Levels count from 1; a policy changed since the alert may no longer have this one.
        known = 1 <= alert.level <= len(levels)
        level_name = levels[alert.level - 1].name if known else str(alert.level)
        return AlertMessage(
            alert_id=alert.alert_id,
            deployment=self.deployment,
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
            ack_url=None,  # each recipient's own link: see _personal
            trigger=alert.trigger or "band_crossed",
            reason=alert.reason,
        )

    def _count(self, receipt: DomainEvent) -> None:
        if isinstance(receipt, DeliverySucceeded | DeliveryFailed):
            outcome = "succeeded" if isinstance(receipt, DeliverySucceeded) else "failed"
            self.deliveries[(receipt.channel, outcome)] += 1

    def _personal(self, message: AlertMessage, recipient: Recipient) -> AlertMessage:
        """Each recipient's alert carries their own acknowledge link (a signed page)."""
        if self.ack_link is None:
            return message
        link = self.ack_link(message.escalation_id, recipient.name)
        return message.model_copy(update={"ack_url": link})

    async def _deliver(self, cause: Envelope[Any], message: Notice, recipient: Recipient) -> None:
        escalation_id = cause.data.escalation_id
        delivered = await deliver_recorded(
            Delivery(self.store, self.clock, self.channels, self.retry, self.sleep),
            message,
            recipient,
            area=slot_of(escalation_id)[0],
            actor="system:notifier",
            source=SOURCE,
            correlation_id=escalation_id,
            causation_id=cause.id,
            counted=self._count,
        )
        log.info(
            "notification.done",
            alert_id=message.alert_id,
            escalation_id=escalation_id,
            recipient=recipient.name,
            delivered=delivered,
        )
