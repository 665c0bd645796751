"""After-action review (evaluatie achteraf): one incident's review from the log, redacted for
the reader, and the key durations of every incident in a period.

An incident is gathered through the subjects of its own aggregates and its area, never by
scanning the whole log: the escalation slot's events, the area's notifications and signals
(:meth:`EventStore.read` with ``area``). The fold itself is :func:`projections.incident
.incident_review`; the same log gives the same review.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.access import Principal
from events.envelope import Envelope
from events.escalation import ESCALATION_KIND, EscalationOpened, slot_of_escalation, slot_ref
from events.questions import QUESTION_KIND
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


Progress = Callable[[int], None]
"""Told how many events a review has read so far (a long replay shows it on the CLI)."""
PROGRESS_EVERY = 1000
CONTACT_KIND = "contact"
"""The aggregate kind of call outcomes (``services.app.handlers``: per ally, in the network's
area)."""


class Reviews:
    def __init__(
        self, store: EventStore, read: ReadModels | None, clock: Clock, pseudonym: Pseudonyms
    ) -> None:
        self.store = store
        self.read = read
        self.clock = clock
        self.pseudonym = pseudonym

    async def events_of(
        self, escalation_id: str, progress: Progress | None = None
    ) -> list[Envelope[Any]]:
        """The events an incident's review needs, through subjects only: the escalation slot,
        and of its area the notifications, signals, call outcomes and questions."""
        slot = slot_of_escalation(escalation_id)
        if slot is None:
            return []
        area, theme = slot
        read = 0

        def counted(n: int = 1) -> None:
            nonlocal read
            before, read = read, read + n
            if progress is not None and before // PROGRESS_EVERY != read // PROGRESS_EVERY:
                progress(read)

        own, _ = await self.store.load(slot_ref(area, theme))
        counted(len(own))
        events = [e for e in own if getattr(e.data, "escalation_id", None) == escalation_id]
        async for e in self.store.read(kinds=["notification"], area=area):
            counted()
            if e.correlation_id == escalation_id:
                events.append(e)
        async for e in self.store.read(kinds=SIGNAL_KINDS, area=area, skip_undecodable=True):
            counted()
            events.append(e)
        async for e in self.store.read(kinds=[CONTACT_KIND], area=area, skip_undecodable=True):
            counted()
            if getattr(e.data, "escalation_id", None) == escalation_id:
                events.append(e)
        # A question's later events (answered, relayed) do not name the escalation: kept when
        # their question was raised about it (raised comes first in the log).
        questions: set[str] = set()
        async for e in self.store.read(kinds=[QUESTION_KIND], area=area, skip_undecodable=True):
            counted()
            if getattr(e.data, "escalation_id", None) == escalation_id:
                questions.add(e.data.question_id)
            if getattr(e.data, "question_id", None) in questions:
                events.append(e)
        if progress is not None:
            progress(read)
        return events

    async def review(
        self, escalation_id: str, reader: Principal, progress: Progress | None = None
    ) -> IncidentReview | None:
        events = await self.events_of(escalation_id, progress)
        found = incident_review(escalation_id, events, until=self.clock.now())
        return None if found is None else self.redacted(found, reader)

    def redacted(self, review: IncidentReview, reader: Principal) -> IncidentReview:
        """Allies appear by pseudonym unless the reader's role sees who they are; a review
        never holds names, phone numbers, e-mail addresses or allies' communities. A
        convening's communities (required, covered, missing) say who attended: a reviewer
        sees them as neutral codes (``community-1``…, numbered per review in sorted order), so
        coverage stays readable without naming anyone's community."""
        if sees_contact_details(reader):
            return review
        names = sorted(
            {c for line in review.convenings for c in line.required_communities}
            | {c for line in review.convenings for c in line.covered_communities}
            | {c for line in review.convenings for c in line.missing_communities}
        )
        code = {name: f"community-{i}" for i, name in enumerate(names, start=1)}

        def coded(communities: list[str]) -> list[str]:
            return [code[c] for c in communities]

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
                "questions": [
                    q.model_copy(update={"ally": self.pseudonym(q.ally)}) for q in review.questions
                ],
                "convenings": [
                    c.model_copy(
                        update={
                            "required_communities": coded(c.required_communities),
                            "covered_communities": coded(c.covered_communities),
                            "missing_communities": coded(c.missing_communities),
                        }
                    )
                    for c in review.convenings
                ],
            }
        )

    async def opened_in(self, start: datetime, end: datetime) -> list[str]:
        """The escalations opened in ``[start, end)``, in the order they were opened: from the
        live read model in the service; without one (the CLI, the service may be stopped) from
        the escalation subjects, never the rest of the log."""
        if self.read is not None:
            found = [
                (r.opened_at, r.escalation_id)
                for r in self.read.escalations.state.escalations.values()
                if start <= r.opened_at < end
            ]
        else:
            found = [
                (e.data.opened_at, e.data.escalation_id)
                async for e in self.store.read(kinds=[ESCALATION_KIND], skip_undecodable=True)
                if isinstance(e.data, EscalationOpened) and start <= e.data.opened_at < end
            ]
        return [escalation_id for _, escalation_id in sorted(found)]

    async def period(
        self, start: datetime, end: datetime, progress: Progress | None = None
    ) -> list[IncidentSummary]:
        """Every escalation opened in ``[start, end)``, with its key durations."""
        rows = []
        done = 0

        def overall(n: int) -> None:
            if progress is not None:
                progress(done + n)

        for escalation_id in await self.opened_in(start, end):
            events = await self.events_of(escalation_id, overall)
            done += len(events)
            review = incident_review(escalation_id, events, until=self.clock.now())
            if review is None:
                continue
            opened, closed = review.moment("opened"), review.moment("closed")
            assert opened is not None  # a review exists only for an opened escalation
            first_alert = review.moment("alerted", level=1) or review.moment("alerted")
            ack = review.moment("acknowledged")
            rows.append(
                IncidentSummary(
                    escalation_id=escalation_id,
                    area=review.area,
                    theme=review.theme,
                    trigger=review.trigger,
                    opened_at=opened.occurred_at,
                    closed_at=closed.occurred_at if closed else None,
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
