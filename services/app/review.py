"""After-action review (evaluatie achteraf): one incident's review from the log, redacted for
the reader, and the key durations of every incident in a period.

An incident is gathered through the subjects of its own aggregates and its area, never by
scanning the whole log: the escalation slot's events, the area's notifications and signals
(:meth:`EventStore.read` with ``area``). The fold itself is :func:`projections.incident
.incident_review`; the same log gives the same review.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.access import Principal
from events.envelope import Envelope
from events.escalation import slot_of_escalation, slot_ref
from events.signals import SIGNAL_KINDS
from projections.incident import IncidentReview, incident_review
from services.app.need_to_know import Pseudonyms, sees_contact_details
from services.app.ports import Clock, EventStore
from services.app.readmodels import ReadModels


class IncidentSummary(BaseModel):
    """One row of the multi-incident view: the durations evaluations compare."""

    escalation_id: str
    area: str
    theme: str
    trigger: str
    opened_at: datetime
    closed_at: datetime | None
    seconds_to_alert: float | None
    seconds_to_acknowledgement: float | None
    seconds_to_quorum: float | None
    """From the convening being called to it being quorate."""
    signals: int
    late_signals: int


class Reviews:
    def __init__(
        self, store: EventStore, read: ReadModels, clock: Clock, pseudonym: Pseudonyms
    ) -> None:
        self.store = store
        self.read = read
        self.clock = clock
        self.pseudonym = pseudonym

    async def events_of(self, escalation_id: str) -> list[Envelope[Any]]:
        """The events an incident's review needs, through subjects only."""
        slot = slot_of_escalation(escalation_id)
        if slot is None:
            return []
        area, theme = slot
        own, _ = await self.store.load(slot_ref(area, theme))
        events = [e for e in own if getattr(e.data, "escalation_id", None) == escalation_id]
        events += [
            e
            async for e in self.store.read(kinds=["notification"], area=area)
            if e.correlation_id == escalation_id
        ]
        events += [
            e async for e in self.store.read(kinds=SIGNAL_KINDS, area=area, skip_undecodable=True)
        ]
        return events

    async def review(self, escalation_id: str, reader: Principal) -> IncidentReview | None:
        events = await self.events_of(escalation_id)
        found = incident_review(escalation_id, events, until=self.clock.now())
        return None if found is None else self.redacted(found, reader)

    def redacted(self, review: IncidentReview, reader: Principal) -> IncidentReview:
        """Allies appear by pseudonym unless the reader's role sees who they are; a review
        never holds names, phone numbers, e-mail addresses or allies' communities."""
        if sees_contact_details(reader):
            return review

        def who(actor: str) -> str:
            role, _, ident = actor.partition(":")
            return self.pseudonym(ident) if role == "ally" else actor

        return review.model_copy(
            update={
                "signals": [
                    s.model_copy(update={"reporter": who(s.reporter)}) for s in review.signals
                ],
                "calls": [
                    c.model_copy(update={"ally": self.pseudonym(c.ally)}) for c in review.calls
                ],
            }
        )

    async def period(self, start: datetime, end: datetime) -> list[IncidentSummary]:
        """Every escalation opened in ``[start, end)``, with its key durations."""
        records = sorted(
            (
                r
                for r in self.read.escalations.state.escalations.values()
                if start <= r.opened_at < end
            ),
            key=lambda r: (r.opened_at, r.escalation_id),
        )
        rows = []
        for record in records:
            review = incident_review(
                record.escalation_id,
                await self.events_of(record.escalation_id),
                until=self.clock.now(),
            )
            if review is None:
                continue
            first_alert = review.moment("alerted", level=1) or review.moment("alerted")
            ack = review.moment("acknowledged")
            rows.append(
                IncidentSummary(
                    escalation_id=record.escalation_id,
                    area=record.area,
                    theme=record.theme,
                    trigger=record.trigger,
                    opened_at=record.opened_at,
                    closed_at=record.closed_at,
                    seconds_to_alert=review.seconds_between("opened", "alerted"),
                    seconds_to_acknowledgement=(
                        (ack.occurred_at - first_alert.occurred_at).total_seconds()
                        if ack and first_alert
                        else None
                    ),
                    seconds_to_quorum=review.seconds_between("convening_called", "quorate"),
                    signals=sum(1 for s in review.signals if s.joined),
                    late_signals=sum(1 for s in review.signals if s.joined and s.recorded_later),
                )
            )
        return rows
