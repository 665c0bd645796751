"""Mobilisation request decider (inzetverzoek): one aggregate per request.

Like an RSVP: only invited allies answer (accept / decline; a changed answer replaces the
earlier one, the same answer again records nothing), and only an ally who accepted reports
back.

No I/O and no clock: every command carries ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from domain.decider import Decider
from domain.errors import Conflict, DomainError, NotFound
from events.base import DomainEvent
from events.mobilisation import (
    MAX_MOBILISED,
    MobilisationAnswer,
    MobilisationAnswered,
    MobilisationReported,
    MobilisationReportPersonal,
    MobilisationRequested,
    MobilisationTask,
)


@dataclass(frozen=True)
class RequestMobilisation:
    now: datetime
    request_id: str
    area: str
    task: MobilisationTask
    message: str
    invited: tuple[str, ...]
    respond_by: datetime
    escalation_id: str | None = None


@dataclass(frozen=True)
class AnswerMobilisation:
    ally_id: str
    answer: MobilisationAnswer


@dataclass(frozen=True)
class ReportBack:
    ally_id: str
    report: str


MobilisationCommand = RequestMobilisation | AnswerMobilisation | ReportBack


@dataclass(frozen=True)
class MobilisationState:
    requested: MobilisationRequested | None = None
    answers: Any = field(default_factory=lambda: MappingProxyType({}))
    """ally id -> their current answer."""


INITIAL = MobilisationState()


def decide(command: MobilisationCommand, state: MobilisationState) -> Sequence[DomainEvent]:
    if isinstance(command, RequestMobilisation):
        if state.requested is not None:
            raise Conflict(f"request {command.request_id} already exists", field="request_id")
        if command.respond_by <= command.now:
            raise DomainError("respond_by must lie in the future", field="respond_by")
        invited = tuple(dict.fromkeys(command.invited))
        if not invited:
            raise NotFound("nobody to ask: no callable allies selected", field="invited")
        if len(invited) > MAX_MOBILISED:
            raise DomainError(f"at most {MAX_MOBILISED} allies", field="invited")
        return [
            MobilisationRequested(
                request_id=command.request_id,
                area=command.area,
                task=command.task,
                message=command.message,
                escalation_id=command.escalation_id,
                invited=invited,
                respond_by=command.respond_by,
            )
        ]
    req = state.requested
    if req is None:
        raise NotFound("unknown mobilisation request", field="request_id")
    if command.ally_id not in req.invited:
        raise NotFound(f"ally {command.ally_id} was not asked", field="ally_id")
    if isinstance(command, AnswerMobilisation):
        if state.answers.get(command.ally_id) == command.answer:
            return []
        return [
            MobilisationAnswered(
                request_id=req.request_id, ally_id=command.ally_id, answer=command.answer
            )
        ]
    if state.answers.get(command.ally_id) != "accept":
        raise Conflict("only an ally who accepted reports back", field="ally_id")
    return [
        MobilisationReported(
            request_id=req.request_id,
            ally_id=command.ally_id,
            personal=MobilisationReportPersonal(report=command.report),
        )
    ]


def evolve(state: MobilisationState, event: DomainEvent) -> MobilisationState:
    match event:
        case MobilisationRequested():
            return replace(state, requested=event)
        case MobilisationAnswered():
            answers = MappingProxyType({**state.answers, event.ally_id: event.answer})
            return replace(state, answers=answers)
        case _:
            return state


mobilisation_decider: Decider[MobilisationCommand, MobilisationState] = Decider(
    decide, evolve, INITIAL
)
