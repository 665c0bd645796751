"""Pulse check decider (thermometeren): one aggregate per pulse check.

Rules it owns:

* A pulse is started once, with a deadline in the future and at least one invited ally (the
  selection is resolved by the caller from the networks as they are at that moment).
* Only invited allies answer, each once; an answer after the deadline is still recorded (a late
  picture is better than none) and flagged ``late``.
* A framework for action adopts advice only from allies who gave advice in this pulse.

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
from events.network import DutyRole
from events.pulse import (
    MAX_PULSE_INVITED,
    FrameworkCompiled,
    PulseAnswerPersonal,
    PulseAnswerRecorded,
    PulseCheckStarted,
    PulseSelection,
)


@dataclass(frozen=True)
class StartPulse:
    now: datetime
    pulse_id: str
    area: str
    theme: str
    question: str
    deadline: datetime
    asked_by: DutyRole
    selection: PulseSelection
    invited: tuple[str, ...]
    escalation_id: str | None = None


@dataclass(frozen=True)
class AnswerPulse:
    now: datetime
    ally_id: str
    level: int
    note: str = ""
    advice: str = ""


@dataclass(frozen=True)
class CompileFramework:
    title: str
    adopted: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    escalation_id: str | None = None


PulseCommand = StartPulse | AnswerPulse | CompileFramework


@dataclass(frozen=True)
class PulseState:
    started: PulseCheckStarted | None = None
    answered: Any = field(default_factory=lambda: MappingProxyType({}))
    """ally id -> whether their answer holds advice."""


INITIAL = PulseState()


def decide(command: PulseCommand, state: PulseState) -> Sequence[DomainEvent]:
    if isinstance(command, StartPulse):
        return _start(command, state)
    pulse = state.started
    if pulse is None:
        raise NotFound("unknown pulse check", field="pulse_id")
    if isinstance(command, AnswerPulse):
        if command.ally_id not in pulse.invited:
            raise NotFound(f"ally {command.ally_id} was not asked in this pulse", field="ally_id")
        if command.ally_id in state.answered:
            raise Conflict(f"ally {command.ally_id} already answered", field="ally_id")
        return [
            PulseAnswerRecorded(
                pulse_id=pulse.pulse_id,
                ally_id=command.ally_id,
                area=pulse.area,
                theme=pulse.theme,
                level=command.level,
                late=command.now > pulse.deadline,
                has_advice=bool(command.advice),
                personal=PulseAnswerPersonal(note=command.note, advice=command.advice),
            )
        ]
    without = [a for a in dict.fromkeys(command.adopted) if not state.answered.get(a)]
    if without:
        raise DomainError(f"no advice of {without} in this pulse", field="adopted")
    return [
        FrameworkCompiled(
            pulse_id=pulse.pulse_id,
            area=pulse.area,
            escalation_id=command.escalation_id or pulse.escalation_id,
            title=command.title,
            adopted=tuple(dict.fromkeys(command.adopted)),
            measures=command.measures,
        )
    ]


def _start(command: StartPulse, state: PulseState) -> list[DomainEvent]:
    if state.started is not None:
        raise Conflict(f"pulse {command.pulse_id} already exists", field="pulse_id")
    if command.deadline <= command.now:
        raise DomainError("the deadline must lie in the future", field="deadline")
    invited = tuple(dict.fromkeys(command.invited))
    if not invited:
        raise NotFound("the selection finds no callable allies", field="selection")
    if len(invited) > MAX_PULSE_INVITED:
        raise DomainError(
            f"{len(invited)} allies selected, at most {MAX_PULSE_INVITED}", field="selection"
        )
    return [
        PulseCheckStarted(
            pulse_id=command.pulse_id,
            area=command.area,
            theme=command.theme,
            question=command.question,
            deadline=command.deadline,
            asked_by=command.asked_by,
            escalation_id=command.escalation_id,
            selection=command.selection,
            invited=invited,
        )
    ]


def evolve(state: PulseState, event: DomainEvent) -> PulseState:
    match event:
        case PulseCheckStarted():
            return replace(state, started=event)
        case PulseAnswerRecorded():
            answered = MappingProxyType({**state.answered, event.ally_id: event.has_advice})
            return replace(state, answered=answered)
        case _:
            return state


pulse_decider: Decider[PulseCommand, PulseState] = Decider(decide, evolve, INITIAL)


def select_allies(
    members: Sequence[tuple[str, Sequence[str], Sequence[str], Sequence[str]]],
    selection: PulseSelection,
) -> tuple[str, ...]:
    """The allies a selection finds among ``members`` (ally id, areas, themes, communities;
    callable members of the networks serving the pulse's area): those in every criterion
    given (communities, themes, areas: any of the listed values), plus those named. An empty
    selection asks nobody: the asker must say whom."""
    criteria = selection.communities or selection.themes or selection.areas
    found = []
    if criteria:
        for ally_id, areas, themes, communities in members:
            if selection.communities and not set(selection.communities) & set(communities):
                continue
            if selection.themes and not set(selection.themes) & set(themes):
                continue
            if selection.areas and not set(selection.areas) & set(areas):
                continue
            found.append(ally_id)
    known = {m[0] for m in members}
    found += [a for a in selection.allies if a in known]
    return tuple(dict.fromkeys(found))
