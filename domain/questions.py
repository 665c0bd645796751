"""Constituency question decider: one aggregate per question.

Three moments: raised (by the ally, or by the call taker on their behalf), answered (by the
police or municipality it was routed to), relayed back (to whom, when; several times if the
answer goes to more than one group). Unanswered when its timer fires, the question escalates
to the next level of the policy: once, whatever number of times the timer is delivered.

No I/O and no clock: every command carries ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.decider import Decider
from domain.errors import Conflict, DomainError, NotFound
from events.base import DomainEvent
from events.network import DutyRole
from events.questions import (
    AnswerRelayed,
    QuestionAnswered,
    QuestionEscalated,
    QuestionPersonal,
    QuestionRaised,
    RaisedVia,
    question_timer_id,
)


@dataclass(frozen=True)
class RaiseQuestion:
    now: datetime
    question_id: str
    network_id: str
    area: str
    ally_id: str
    network_members: frozenset[str]
    routed_to: DutyRole
    raised_via: RaisedVia
    text: str
    escalate_after: timedelta
    escalation_id: str | None = None


@dataclass(frozen=True)
class AnswerQuestion:
    answer: str


@dataclass(frozen=True)
class RelayAnswer:
    now: datetime
    to: str
    relayed_at: datetime | None = None


@dataclass(frozen=True)
class EscalateQuestion:
    """The question's timer fired; ``level`` and the rest name the policy's next level."""

    timer_id: str
    level: int
    level_name: str
    recipients: tuple[str, ...]


QuestionCommand = RaiseQuestion | AnswerQuestion | RelayAnswer | EscalateQuestion


@dataclass(frozen=True)
class QuestionState:
    raised: QuestionRaised | None = None
    answered: bool = False
    escalated: bool = False
    relayed_to: frozenset[str] = frozenset()


INITIAL = QuestionState()


def decide(command: QuestionCommand, state: QuestionState) -> Sequence[DomainEvent]:
    if isinstance(command, RaiseQuestion):
        return _raise(command, state)
    q = state.raised
    if q is None:
        raise NotFound("unknown question", field="question_id")
    if isinstance(command, AnswerQuestion):
        if state.answered:
            raise Conflict(f"question {q.question_id} is already answered", field="question_id")
        return [QuestionAnswered(question_id=q.question_id, answer=command.answer)]
    if isinstance(command, RelayAnswer):
        if not state.answered:
            raise DomainError("the question has no answer to relay yet", field="question_id")
        if command.to in state.relayed_to:
            return []  # told them already: a repeated report records nothing
        at = command.relayed_at or command.now
        if at > command.now:
            raise DomainError("relayed_at lies in the future", field="relayed_at")
        return [AnswerRelayed(question_id=q.question_id, to=command.to, relayed_at=at)]
    # The timer: only the question's own, only while unanswered, only once.
    if command.timer_id != q.timer_id or state.answered or state.escalated:
        return []
    return [
        QuestionEscalated(
            question_id=q.question_id,
            timer_id=command.timer_id,
            level=command.level,
            level_name=command.level_name,
            recipients=command.recipients,
        )
    ]


def _raise(command: RaiseQuestion, state: QuestionState) -> list[DomainEvent]:
    if state.raised is not None:
        raise Conflict(f"question {command.question_id} already exists", field="question_id")
    if command.ally_id not in command.network_members:
        raise NotFound(
            f"ally {command.ally_id} is not a member of network {command.network_id}",
            field="ally_id",
        )
    return [
        QuestionRaised(
            question_id=command.question_id,
            network_id=command.network_id,
            area=command.area,
            ally_id=command.ally_id,
            routed_to=command.routed_to,
            raised_via=command.raised_via,
            escalation_id=command.escalation_id,
            timer_id=question_timer_id(command.question_id),
            escalate_at=command.now + command.escalate_after,
            personal=QuestionPersonal(text=command.text),
        )
    ]


def evolve(state: QuestionState, event: DomainEvent) -> QuestionState:
    match event:
        case QuestionRaised():
            return replace(state, raised=event)
        case QuestionAnswered():
            return replace(state, answered=True)
        case AnswerRelayed():
            return replace(state, relayed_to=state.relayed_to | {event.to})
        case QuestionEscalated():
            return replace(state, escalated=True)
        case _:
            return state


question_decider: Decider[QuestionCommand, QuestionState] = Decider(decide, evolve, INITIAL)
