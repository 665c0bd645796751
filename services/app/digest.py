"""The weekly network digest (weekoverzicht netwerkonderhoud): every Monday morning each
network's coordinators get its health flags, in Dutch, through the notifier's channels.

A durable timer per ISO week (``digest.<year>-W<week>``, on the timers stream like the
workflow's) fires at Monday 08:00 Dutch time; when it fires, the digest of that week is sent
and the next week's timer armed. ``arm`` at start-up arms the coming week's timer (scheduling
the same timer id again changes nothing).

Replay never resends: each network's digest of a week has a deterministic id
(:func:`digest_id`), and every delivery is recorded as receipts on the notification aggregate
of that id and recipient, exactly as alerts are (:func:`services.app.delivery.deliver`); a
timer fired again, or redelivered, finds the ``DeliverySucceeded`` and sends nothing.

Recipients are functions, never persons: the policy's ``network_digest`` recipients of the
network's municipality (``[<key>.network_digest]`` in the escalation policy). The digest
carries codes, counts and the flags' reasons; never allies' ids, names or communities beyond
the area's communities nobody represents.

Slow burns: the digest also names the tension-map cells on watch within the network's areas at
the moment it is made up (``watch``: area, theme, slow score and trend, reporter and day counts;
:mod:`projections.slow_burns` picks them), so a steady low-level worry reaches the coordinators
even when no escalation was opened on it. Without any, the digest says nothing about them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import BaseModel, ConfigDict, Field

from domain.delivery import RetryPolicy
from domain.policy import EscalationPolicy, policy_for
from events.envelope import (
    AreaCode,
    AwareDatetime,
    Token,
    deterministic_id,
)
from events.escalation import Recipient
from projections.network_health import NetworkHealth
from projections.tension_map import CellView, Trend
from services.app.delivery import Delivery, deliver_recorded
from services.app.messages import Deployment, external_id
from services.app.ports import Channel, Clock, EventStore, RawEvent, Scheduler
from services.texts_nl import network as texts

log = structlog.get_logger(__name__)
SOURCE = "/bondgenoten/digest"
ACTOR = "system:digest"
TIMER_PREFIX = "digest."
DUE_AT = time(8, 0)
"""Monday morning, Dutch time: the week's digest."""


def _zone() -> Any:
    try:
        return ZoneInfo("Europe/Amsterdam")
    except ZoneInfoNotFoundError:  # no tz database on this host: weeks in UTC
        return UTC


def week_of(at: datetime) -> str:
    """The ISO week ``at`` falls in, in Dutch time: ``2026-W12``."""
    year, week, _ = at.astimezone(_zone()).isocalendar()
    return f"{year}-W{week:02d}"


def due_of(week: str) -> datetime:
    """When the digest of ``week`` is due: its Monday at 08:00 Dutch time (aware, UTC)."""
    monday = datetime.strptime(f"{week}-1", "%G-W%V-%u").date()
    return datetime.combine(monday, DUE_AT, tzinfo=_zone()).astimezone(UTC)


def next_week(at: datetime) -> str:
    """The first week whose digest is due after ``at``."""
    week = week_of(at)
    return week if due_of(week) > at else week_of(due_of(week) + timedelta(days=7))


def digest_id(network_id: str, week: str) -> str:
    """One id per network and week (a ``Token``): the receipts' and receivers' key."""
    return f"digest-{week}-{deterministic_id('digest', network_id, week)[:16]}"


class DigestTimer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["network_digest"] = "network_digest"
    timer_id: str
    week: str = Field(pattern=r"^[0-9]{4}-W[0-9]{2}$")


def is_digest_timer(body: bytes) -> bool:
    """Whether a fired timer is the digest's (the workflow's consumer sees it too)."""
    try:
        return bool(json.loads(body).get("kind") == "network_digest")
    except (ValueError, AttributeError):
        return False


class DigestWatch(BaseModel):
    """A slow burn in the network's areas: codes and counts, never who reported."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    area: AreaCode
    theme: str
    slow: float
    slow_trend: Trend
    reporters: int
    """Distinct reporters in the last week (a count)."""
    days: int
    """Distinct days with signals in the last week."""

    @classmethod
    def of(cls, cell: CellView) -> DigestWatch:
        return cls(
            area=cell.area,
            theme=cell.theme,
            slow=cell.slow,
            slow_trend=cell.slow_trend,
            reporters=cell.slow_reporters,
            days=cell.slow_days,
        )


class DigestMessage(BaseModel):
    """One network's weekly digest: figures, flag codes and their Dutch reasons."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: Token
    deployment: Deployment | None = None
    week: str
    network_id: Token
    name: str
    area: AreaCode
    members: int
    size_cap: int
    meetings_last_12_months: int
    meetings_per_year: int
    next_meeting_at: AwareDatetime | None = None
    flags: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    watch: tuple[DigestWatch, ...] = ()
    """Slow burns within the network's areas when the digest was made up."""
    sent_at: AwareDatetime

    @property
    def external_id(self) -> str:
        return external_id(self.deployment, self.alert_id)

    def _fields(self) -> dict[str, Any]:
        fields = texts.digest_fields(
            name=self.name,
            area=self.area,
            at=self.sent_at,
            members=self.members,
            cap=self.size_cap,
            meetings=self.meetings_last_12_months,
            target=self.meetings_per_year,
            next_meeting=self.next_meeting_at,
            reasons=self.reasons,
            watch=[
                texts.watch_line(
                    area=w.area,
                    theme=w.theme,
                    slow=w.slow,
                    trend=w.slow_trend,
                    reporters=w.reporters,
                    days=w.days,
                )
                for w in self.watch
            ],
        )
        return {**fields, "week": self.week, "alert_id": self.alert_id}

    @property
    def headline_nl(self) -> str:
        template = texts.DIGEST_HEADLINE if self.flags else texts.DIGEST_HEADLINE_OK
        return template.format(**self._fields())

    @property
    def body_nl(self) -> str:
        return texts.DIGEST_BODY.format(**self._fields())

    @property
    def console_nl(self) -> str:
        return texts.DIGEST_CONSOLE.format(
            headline=self.headline_nl, body=self.body_nl, alert_id=self.alert_id
        )

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["headline_nl"] = self.headline_nl
        data["body_nl"] = self.body_nl
        return data


def digest_message(
    health: NetworkHealth,
    week: str,
    sent_at: datetime,
    deployment: str | None,
    watch: Sequence[CellView] = (),
) -> DigestMessage:
    return DigestMessage(
        alert_id=digest_id(health.network_id, week),
        deployment=deployment,
        week=week,
        network_id=health.network_id,
        name=health.name,
        area=health.area,
        members=health.members,
        size_cap=health.size_cap,
        meetings_last_12_months=health.meetings_last_12_months,
        meetings_per_year=health.meetings_per_year,
        next_meeting_at=health.next_meeting_at,
        flags=tuple(f.code for f in health.flags),
        # the digest is a list for everyone on the function's address: counts, no ally ids
        reasons=tuple(texts.flag_reason(f.code, f.params) for f in health.flags),
        watch=tuple(DigestWatch.of(c) for c in watch if c.watch),
        sent_at=sent_at,
    )


class NetworkDigest:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        channels: Mapping[str, Channel],
        policies: Mapping[str, EscalationPolicy],
        scheduler: Scheduler,
        health: Callable[[datetime], Sequence[NetworkHealth]],
        *,
        caught_up: Callable[[], Awaitable[bool]] | None = None,
        slow_burns: Callable[[datetime], Mapping[str, Sequence[CellView]]] | None = None,
        deployment: Callable[[], str | None] = lambda: None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``health``: every network judged at a moment (the live read models);
        ``caught_up``: waits until they reflect the log; ``slow_burns``: per network id, the
        tension-map cells on watch within its areas at a moment (none without it);
        ``deployment``: the notifier's
        deployment id once known (scopes the ids receivers see)."""
        self.store = store
        self.clock = clock
        self.channels = channels
        self.policies = policies
        self.scheduler = scheduler
        self.health = health
        self.caught_up = caught_up
        self.slow_burns = slow_burns
        self.deployment = deployment
        self.retry = retry or RetryPolicy()
        self.sleep = sleep

    async def arm(self, after: datetime | None = None) -> str:
        """Arm the timer of the first week due after ``after`` (default: now); idempotent."""
        week = next_week(after or self.clock.now())
        timer = DigestTimer(timer_id=f"{TIMER_PREFIX}{week}", week=week)
        await self.scheduler.schedule(
            timer.timer_id, due_of(week), timer.model_dump_json().encode()
        )
        return week

    async def on_timer(self, raw: RawEvent) -> None:
        if not is_digest_timer(raw.body):
            return
        timer = DigestTimer.model_validate_json(raw.body)
        if self.caught_up is not None and not await self.caught_up():
            raise TimeoutError("read models are catching up")  # retried by the reactor
        await self.send(timer.week)
        await self.arm(due_of(timer.week))

    async def send(self, week: str) -> None:
        """Each network's digest of ``week`` to its municipality's digest recipients, once."""
        now = self.clock.now()
        watched = self.slow_burns(now) if self.slow_burns is not None else {}
        for health in self.health(now):
            recipients = policy_for(self.policies, health.area).network_digest
            if not recipients:
                continue
            message = digest_message(
                health, week, now, self.deployment(), watched.get(health.network_id, ())
            )
            for recipient in recipients:
                await self._deliver(message, recipient)

    async def _deliver(self, message: DigestMessage, recipient: Recipient) -> None:
        delivered = await deliver_recorded(
            Delivery(self.store, self.clock, self.channels, self.retry, self.sleep),
            message,
            recipient,
            area=message.area,
            actor=ACTOR,
            source=SOURCE,
            correlation_id=message.alert_id,
        )
        log.info(
            "digest.done",
            alert_id=message.alert_id,
            network_id=message.network_id,
            recipient=recipient.name,
            delivered=delivered,
        )
