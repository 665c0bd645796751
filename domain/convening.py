"""Rapid convening (snel bijeenroepen): the part of the escalation slot that tracks one meeting.

Helper functions, not a decider of its own: a convening lives inside the escalation slot
aggregate, so its RSVPs share the slot's optimistic concurrency. That keeps "no convening for a
closed escalation" and "quorate exactly once" single-writer facts without a saga; with at most
15 allies per network the extra contention on the slot is negligible.

Quorum (quorum): at least ``quorum`` invited allies answered "attending" AND every required
community is covered by the communities of at least one attending ally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from domain.errors import Conflict, DomainError, NotFound
from domain.policy import ConveningDefaults
from events.base import DomainEvent
from events.escalation import (
    Convened,
    ConveningCalled,
    ConveningMode,
    ConveningQuorate,
    RsvpAnswer,
    RsvpDeadlinePassed,
    RsvpPersonal,
    RsvpRecorded,
    RsvpReminderDue,
)

MAX_INVITED = 30
"""At most this many invitees: two networks' worth; a bigger meeting is not rapid convening."""


@dataclass(frozen=True)
class Rsvp:
    answer: RsvpAnswer
    communities: frozenset[str]


@dataclass(frozen=True)
class ConveningState:
    convening_id: str
    invited: tuple[str, ...]
    required: frozenset[str]
    quorum: int
    reminder_timer_id: str
    deadline_timer_id: str
    starts_at: datetime | None = None
    rsvps: Mapping[str, Rsvp] = field(default_factory=lambda: MappingProxyType({}))
    quorate_recorded: bool = False
    reminded: bool = False
    deadline_passed: bool = False
    convened: bool = False

    @property
    def attending(self) -> tuple[str, ...]:
        # Invitation order, so events and views are deterministic.
        return tuple(a for a in self.invited if self.answer_of(a) == "attending")

    @property
    def covered(self) -> frozenset[str]:
        return frozenset().union(*(self.rsvps[a].communities for a in self.attending))

    @property
    def missing_communities(self) -> tuple[str, ...]:
        return tuple(sorted(self.required - self.covered))

    @property
    def is_quorate(self) -> bool:
        return len(self.attending) >= self.quorum and not self.missing_communities

    def answer_of(self, ally_id: str) -> RsvpAnswer | None:
        rsvp = self.rsvps.get(ally_id)
        return rsvp.answer if rsvp else None


def started(e: ConveningCalled) -> ConveningState:
    return ConveningState(
        convening_id=e.convening_id,
        invited=e.invited,
        required=frozenset(e.required_communities),
        quorum=e.quorum,
        reminder_timer_id=e.reminder_timer_id,
        deadline_timer_id=e.deadline_timer_id,
        starts_at=e.starts_at,
    )


def evolve(c: ConveningState, e: DomainEvent) -> ConveningState:
    match e:
        case RsvpRecorded():
            rsvp = Rsvp(e.answer, frozenset(e.personal.communities))
            return replace(c, rsvps=MappingProxyType({**c.rsvps, e.ally_id: rsvp}))
        case ConveningQuorate():
            return replace(c, quorate_recorded=True)
        case RsvpReminderDue():
            return replace(c, reminded=True)
        case RsvpDeadlinePassed():
            return replace(c, deadline_passed=True)
        case Convened():
            return replace(c, convened=True)
        case _:
            return c


def record_rsvp(
    c: ConveningState,
    escalation_id: str,
    ally_id: str,
    answer: RsvpAnswer,
    communities: Sequence[str],
) -> list[DomainEvent]:
    """The RSVP, plus ``ConveningQuorate`` the first time the convening becomes quorate.

    Answers after the deadline are still recorded: a late "attending" still helps. A repeated
    identical answer records nothing (a retried or double-tapped reply)."""
    if c.convened:
        raise Conflict(f"convening {c.convening_id} already took place", field="convening_id")
    if ally_id not in c.invited:
        raise NotFound(f"ally {ally_id} is not invited to {c.convening_id}", field="ally_id")
    # Only the communities this convening needs: the rest of an affiliation is not our business.
    covers = tuple(x for x in dict.fromkeys(communities) if x in c.required)
    rsvp = Rsvp(answer, frozenset(covers))
    if c.rsvps.get(ally_id) == rsvp:
        return []
    recorded = RsvpRecorded(
        escalation_id=escalation_id,
        convening_id=c.convening_id,
        ally_id=ally_id,
        answer=answer,
        personal=RsvpPersonal(communities=covers),
    )
    events: list[DomainEvent] = [recorded]
    after = evolve(c, recorded)
    # Exactly once: a quorum lost (someone withdraws) and regained is not announced again; the
    # live status is in the projection, this event marks the moment the meeting became viable.
    if after.is_quorate and not c.quorate_recorded:
        events.append(
            ConveningQuorate(
                escalation_id=escalation_id,
                convening_id=c.convening_id,
                attending=after.attending,
                covered_communities=tuple(sorted(after.covered)),
            )
        )
    return events


def reminder_due(c: ConveningState, escalation_id: str, timer_id: str) -> list[DomainEvent]:
    """Remind those without a definite answer; nothing if stale, done, or nobody to remind."""
    if timer_id != c.reminder_timer_id or c.reminded or c.convened or c.deadline_passed:
        return []
    not_answered = tuple(a for a in c.invited if c.answer_of(a) in (None, "later"))
    if not not_answered:
        return []
    return [
        RsvpReminderDue(
            escalation_id=escalation_id,
            convening_id=c.convening_id,
            timer_id=timer_id,
            not_answered=not_answered,
        )
    ]


def deadline_passed(c: ConveningState, escalation_id: str, timer_id: str) -> list[DomainEvent]:
    """Record the picture at the deadline once, so the chair can decide to go ahead or not."""
    if timer_id != c.deadline_timer_id or c.deadline_passed or c.convened:
        return []
    return [
        RsvpDeadlinePassed(
            escalation_id=escalation_id,
            convening_id=c.convening_id,
            timer_id=timer_id,
            quorate=c.is_quorate,
            attending=c.attending,
            missing_communities=c.missing_communities,
        )
    ]


def convened(
    c: ConveningState, escalation_id: str, attending: Sequence[str] | None
) -> list[DomainEvent]:
    """The meeting happened; ``attending`` defaults to those who said they would come."""
    if c.convened:
        raise Conflict(f"convening {c.convening_id} already took place", field="convening_id")
    present = tuple(dict.fromkeys(attending)) if attending is not None else c.attending
    if not present:
        raise DomainError("a convening needs at least one attending ally", field="attending")
    return [Convened(escalation_id=escalation_id, convening_id=c.convening_id, attending=present)]


@dataclass(frozen=True)
class ConveningProposal:
    """What the workflow proposes; the crisis organisation confirms or changes it."""

    starts_at: datetime
    rsvp_deadline: datetime
    mode: ConveningMode
    place: str
    communities: tuple[str, ...]
    invited: tuple[str, ...]
    quorum: int
    coverage_gaps: tuple[str, ...] = ()


def propose(
    now: datetime,
    defaults: ConveningDefaults,
    affected_communities: Sequence[str],
    callable_allies: Sequence[str],
    coverage_gaps: Sequence[str] = (),
    *,
    area: str | None = None,
) -> ConveningProposal:
    """Invite the call list (best first, at most ``MAX_INVITED``), require the affected
    communities someone on it covers, and ask for no more attendees than can come: a quorum
    that can never be reached helps nobody. Communities nobody covers are reported as gaps
    (they need another route: the alert names them too), not required.

    With ``area`` the meeting is proposed at that area's own place (``defaults.places``);
    without it, at the municipality's ``place``."""
    invited = tuple(dict.fromkeys(callable_allies))[:MAX_INVITED]
    gaps = tuple(dict.fromkeys(c for c in affected_communities if c in coverage_gaps))
    return ConveningProposal(
        starts_at=now + timedelta(minutes=defaults.lead_min),
        rsvp_deadline=now + timedelta(minutes=defaults.rsvp_min),
        mode=defaults.mode,
        place=defaults.place if area is None else defaults.place_for(area),
        communities=tuple(dict.fromkeys(c for c in affected_communities if c not in gaps)),
        invited=invited,
        quorum=max(1, min(defaults.quorum, len(invited))),
        coverage_gaps=gaps,
    )
