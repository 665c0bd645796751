"""Outbound: the escalation events an operations system (police, municipality, crisis
organisation) may follow, published from the log by a reactor.

Subjects ``<prefix>.out.escalation.<municipality>.<event>`` (``bg.out.escalation.GM0034.opened``),
captured by the stream ``<stream prefix>_OUTBOUND`` (7 days), so a subscriber with its own
credential either subscribes live (core NATS) or resumes from its own durable consumer. The
same messages feed the signed webhook subscriptions (``services.adapters.notify.feed``).

**Replay never repeats**: each message carries ``Nats-Msg-Id`` = the event's id and the
stream deduplicates for as long as it keeps a message (its duplicate window is its age limit).
An event recorded longer ago than that window is not published at all: it could no longer be
told from a new one, and a week-old state change is history (read it with
``GET /api/v1/escalations/{id}/review``). So however often the reactor reads the log again
(a new consumer, a restored store), each event is on the subjects, and in every webhook feed,
once.

**No personal data**: the message is a fixed public shape (:class:`OutboundEscalationEvent`);
recipients' addresses, RSVPs and invitees never leave.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field

from domain.escalation import slot_of
from events.envelope import municipality_of
from services.app.ports import Clock, RawEvent

PREFIX = "nl.bondgenoten.escalation."
EVENTS: Mapping[str, tuple[str, ...]] = {
    # event token -> the fields of its data that go out (ids, codes, levels, functions)
    "opened": ("trigger", "band", "reason", "suggested_grip", "signal_ids"),
    "signal-joined": ("signal_id", "band", "suggested_grip"),
    "crisis-alert-issued": ("level", "round", "trigger", "reason", "ack_timeout_s"),
    "ack-timeout-elapsed": ("level", "round", "exhausted"),
    "acknowledged": ("by", "note"),
    "convening-called": ("convening_id", "starts_at", "mode", "quorum", "rsvp_deadline"),
    "convening-quorate": ("convening_id",),
    "convened": ("convening_id",),
    "de-escalated": ("by", "reason"),
    "resolved": ("by", "reason"),
    "closed": ("by", "reason"),
}
"""What is published: the escalation's course, not its bookkeeping (timers, reminders, RSVPs)."""


class OutboundEscalationEvent(BaseModel):
    """One escalation event as operations systems receive it (NATS and webhook feed)."""

    id: str = Field(description="the event's id; also Nats-Msg-Id and webhook-id: dedupe on it")
    event: str = Field(description="opened, acknowledged, closed, … (the subject's last token)")
    type: str = Field(description="the CloudEvents type in the log")
    escalation_id: str
    municipality: str = Field(description="CBS code, e.g. GM0034")
    area: str
    theme: str
    occurred_at: datetime
    recorded_at: datetime
    position: int = Field(description="log position (HTTP reads accept it as min_position)")
    actor: str = Field(description="who caused it, role:id")
    details: dict[str, Any] = Field(
        default_factory=dict, description="the event's public fields (levels, band, reason, by)"
    )


class OutboundPublisher(Protocol):
    async def publish(self, municipality: str, event: str, msg_id: str, body: bytes) -> None:
        """Publish once: a second publish with the same ``msg_id`` is dropped."""
        ...


def outbound_event(raw: RawEvent) -> OutboundEscalationEvent | None:
    """The public message for a stored event, or None if it is not published."""
    token = raw.headers.get("ce-type", "").removeprefix(PREFIX)
    if token not in EVENTS:
        return None
    env = raw.decode()
    data = env.data.model_dump(mode="json")
    area, theme = slot_of(data["escalation_id"])
    return OutboundEscalationEvent(
        id=env.id,
        event=token,
        type=env.type,
        escalation_id=data["escalation_id"],
        municipality=municipality_of(area),
        area=area,
        theme=theme,
        occurred_at=env.occurred_at,
        recorded_at=env.recorded_at,
        position=raw.position,
        actor=env.actor,
        details={k: data[k] for k in EVENTS[token] if data.get(k) not in (None, "", ())},
    )


class Outbound:
    """The reactor's handler: escalation events from the log onto the outbound subjects."""

    def __init__(self, publisher: OutboundPublisher, clock: Clock, window: timedelta) -> None:
        self.publisher = publisher
        self.clock = clock
        self.window = window
        self.published = 0
        self.skipped_old = 0

    async def on_event(self, raw: RawEvent) -> None:
        if raw.headers.get("ce-type", "").removeprefix(PREFIX) not in EVENTS:
            return
        message = outbound_event(raw)
        if message is None:
            return
        if message.recorded_at < self.clock.now() - self.window:
            self.skipped_old += 1  # beyond deduplication: published once, back then
            return
        body = message.model_dump_json().encode()
        await self.publisher.publish(message.municipality, message.event, message.id, body)
        self.published += 1
