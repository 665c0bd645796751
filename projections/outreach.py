"""Pulse checks, constituency questions and mobilisation requests as the API shows them.

One fold over the ``pulse``, ``question`` and ``mobilisation`` aggregates, plus ``AllyErased``
from the networks: when an ally is erased, every personal part of theirs held here (answer
notes and advice, questions, reports) is replaced by :class:`ErasedPersonal` at once, as a
replay would read it once their key is gone. Snapshots seal personal parts under the ally's
key (like the call lists' members), so a destroyed key erases the snapshot's copy too.

Idempotence: every handler sets a record to what its event says (keyed by pulse, question,
request and ally), or appends a report with its event id checked, so a redelivered event
changes nothing.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from events.envelope import AwareDatetime, Envelope
from events.mobilisation import (
    MobilisationAnswered,
    MobilisationReported,
    MobilisationReportPersonal,
    MobilisationRequested,
)
from events.network import AllyErased
from events.personal import ErasedPersonal, PersonalCipher, snapshot_context
from events.pulse import (
    FrameworkCompiled,
    PulseAnswerPersonal,
    PulseAnswerRecorded,
    PulseCheckStarted,
    PulseSelection,
)
from events.questions import (
    AnswerRelayed,
    QuestionAnswered,
    QuestionEscalated,
    QuestionPersonal,
    QuestionRaised,
)
from projections.call_lists import _SealsPersonal

# ---------------------------------------------------------------- records


class PulseAnswer(_SealsPersonal):
    ally_id: str
    level: int
    late: bool
    answered_at: AwareDatetime
    has_advice: bool = False
    personal: PulseAnswerPersonal | ErasedPersonal


class Framework(BaseModel):
    title: str
    adopted: list[str]
    measures: list[str]
    escalation_id: str | None = None
    compiled_at: AwareDatetime
    compiled_by: str


class PulseRecord(BaseModel):
    pulse_id: str
    area: str
    theme: str
    question: str
    deadline: AwareDatetime
    asked_by: str
    escalation_id: str | None = None
    selection: PulseSelection
    invited: list[str]
    started_at: AwareDatetime
    started_by: str
    answers: dict[str, PulseAnswer] = Field(default_factory=dict)
    framework: Framework | None = None


class Relay(BaseModel):
    to: str
    relayed_at: AwareDatetime
    by: str


class QuestionRecord(_SealsPersonal):
    question_id: str
    network_id: str
    area: str
    ally_id: str
    routed_to: str
    raised_via: str
    escalation_id: str | None = None
    raised_at: AwareDatetime
    raised_by: str
    escalate_at: AwareDatetime
    personal: QuestionPersonal | ErasedPersonal
    answer: str | None = None
    answered_at: AwareDatetime | None = None
    answered_by: str | None = None
    relays: list[Relay] = Field(default_factory=list)
    escalated_at: AwareDatetime | None = None
    escalated_level: int | None = None
    escalated_level_name: str | None = None
    escalated_to: list[str] = Field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.answer is None


class MobilisationReport(_SealsPersonal):
    event_id: str
    ally_id: str
    reported_at: AwareDatetime
    personal: MobilisationReportPersonal | ErasedPersonal


class MobilisationAnswer(BaseModel):
    answer: str
    answered_at: AwareDatetime


class MobilisationRecord(BaseModel):
    request_id: str
    area: str
    task: str
    message: str
    escalation_id: str | None = None
    invited: list[str]
    respond_by: AwareDatetime
    requested_at: AwareDatetime
    requested_by: str
    answers: dict[str, MobilisationAnswer] = Field(default_factory=dict)
    reports: list[MobilisationReport] = Field(default_factory=list)


class OutreachState(BaseModel):
    pulses: dict[str, PulseRecord] = Field(default_factory=dict)
    questions: dict[str, QuestionRecord] = Field(default_factory=dict)
    mobilisations: dict[str, MobilisationRecord] = Field(default_factory=dict)


# ---------------------------------------------------------------- the fold


class OutreachProjection:
    name: str = "outreach"
    version: int = 1
    kinds: tuple[str, ...] = ("pulse", "question", "mobilisation", "network")

    def __init__(self, cipher: PersonalCipher | None = None) -> None:
        self.cipher = cipher

    def initial(self) -> OutreachState:
        return OutreachState()

    def evolve(self, state: OutreachState, event: Envelope[Any]) -> OutreachState:
        e = event.data
        at = event.occurred_at
        if isinstance(e, PulseCheckStarted):
            if e.pulse_id not in state.pulses:
                state.pulses[e.pulse_id] = PulseRecord(
                    pulse_id=e.pulse_id,
                    area=e.area,
                    theme=e.theme,
                    question=e.question,
                    deadline=e.deadline,
                    asked_by=e.asked_by.value,
                    escalation_id=e.escalation_id,
                    selection=e.selection,
                    invited=list(e.invited),
                    started_at=at,
                    started_by=event.actor,
                )
        elif isinstance(e, PulseAnswerRecorded):
            pulse = state.pulses.get(e.pulse_id)
            if pulse is not None:
                pulse.answers[e.ally_id] = PulseAnswer(
                    ally_id=e.ally_id,
                    level=e.level,
                    late=e.late,
                    answered_at=at,
                    has_advice=e.has_advice,
                    personal=e.personal,
                )
        elif isinstance(e, FrameworkCompiled):
            pulse = state.pulses.get(e.pulse_id)
            if pulse is not None:
                pulse.framework = Framework(
                    title=e.title,
                    adopted=list(e.adopted),
                    measures=list(e.measures),
                    escalation_id=e.escalation_id,
                    compiled_at=at,
                    compiled_by=event.actor,
                )
        elif isinstance(e, QuestionRaised | QuestionAnswered | AnswerRelayed | QuestionEscalated):
            _question(state, event)
        elif isinstance(e, MobilisationRequested | MobilisationAnswered | MobilisationReported):
            _mobilisation(state, event)
        elif isinstance(e, AllyErased):
            _erase(state, e.ally_id)
        return state

    def dump(self, state: OutreachState) -> bytes:
        return state.model_dump_json(context=snapshot_context(self.cipher)).encode()

    def load(self, data: bytes) -> OutreachState:
        return OutreachState.model_validate_json(data, context=snapshot_context(self.cipher))


def _question(state: OutreachState, event: Envelope[Any]) -> None:
    e, at = event.data, event.occurred_at
    if isinstance(e, QuestionRaised):
        if e.question_id not in state.questions:
            state.questions[e.question_id] = QuestionRecord(
                question_id=e.question_id,
                network_id=e.network_id,
                area=e.area,
                ally_id=e.ally_id,
                routed_to=e.routed_to.value,
                raised_via=e.raised_via,
                escalation_id=e.escalation_id,
                raised_at=at,
                raised_by=event.actor,
                escalate_at=e.escalate_at,
                personal=e.personal,
            )
        return
    q = state.questions.get(e.question_id)
    if q is None:
        return
    if isinstance(e, QuestionAnswered):
        q.answer, q.answered_at, q.answered_by = e.answer, at, event.actor
    elif isinstance(e, AnswerRelayed):
        if all(r.to != e.to for r in q.relays):
            q.relays.append(Relay(to=e.to, relayed_at=e.relayed_at, by=event.actor))
    elif isinstance(e, QuestionEscalated):
        q.escalated_at, q.escalated_level = at, e.level
        q.escalated_level_name, q.escalated_to = e.level_name, list(e.recipients)


def _mobilisation(state: OutreachState, event: Envelope[Any]) -> None:
    e, at = event.data, event.occurred_at
    if isinstance(e, MobilisationRequested):
        if e.request_id not in state.mobilisations:
            state.mobilisations[e.request_id] = MobilisationRecord(
                request_id=e.request_id,
                area=e.area,
                task=e.task,
                message=e.message,
                escalation_id=e.escalation_id,
                invited=list(e.invited),
                respond_by=e.respond_by,
                requested_at=at,
                requested_by=event.actor,
            )
        return
    m = state.mobilisations.get(e.request_id)
    if m is None:
        return
    if isinstance(e, MobilisationAnswered):
        m.answers[e.ally_id] = MobilisationAnswer(answer=e.answer, answered_at=at)
    elif isinstance(e, MobilisationReported) and all(r.event_id != event.id for r in m.reports):
        m.reports.append(
            MobilisationReport(
                event_id=event.id, ally_id=e.ally_id, reported_at=at, personal=e.personal
            )
        )


def _erase(state: OutreachState, ally_id: str) -> None:
    erased = ErasedPersonal()
    for pulse in state.pulses.values():
        answer = pulse.answers.get(ally_id)
        if answer is not None:
            answer.personal = erased
    for q in state.questions.values():
        if q.ally_id == ally_id:
            q.personal = erased
    for m in state.mobilisations.values():
        for r in m.reports:
            if r.ally_id == ally_id:
                r.personal = erased


# ---------------------------------------------------------------- queries (pure)


class AnswerView(BaseModel):
    ally_id: str
    level: int
    late: bool
    answered_at: datetime
    note: str
    advice: str
    erased: bool


class PulseSummary(BaseModel):
    """A pulse at a glance: who was asked and answered, the spread of levels, the advice."""

    pulse_id: str
    area: str
    theme: str
    question: str
    deadline: datetime
    deadline_passed: bool
    asked_by: str
    escalation_id: str | None
    selection: PulseSelection
    invited: list[str]
    answered: list[str]
    not_answered: list[str]
    late: list[str]
    levels: dict[str, int] = Field(description="tension level (1-5) -> number of answers")
    mean_level: float | None
    median_level: float | None
    answers: list[AnswerView]
    advice: list[AnswerView] = Field(description="the answers with advice")
    framework: Framework | None


def pulse_summary(record: PulseRecord, at: datetime) -> PulseSummary:
    answers = [record.answers[a] for a in record.invited if a in record.answers]
    levels = [a.level for a in answers]
    views = [
        AnswerView(
            ally_id=a.ally_id,
            level=a.level,
            late=a.late,
            answered_at=a.answered_at,
            note=a.personal.note if isinstance(a.personal, PulseAnswerPersonal) else "",
            advice=a.personal.advice if isinstance(a.personal, PulseAnswerPersonal) else "",
            erased=isinstance(a.personal, ErasedPersonal),
        )
        for a in answers
    ]
    return PulseSummary(
        pulse_id=record.pulse_id,
        area=record.area,
        theme=record.theme,
        question=record.question,
        deadline=record.deadline,
        deadline_passed=at > record.deadline,
        asked_by=record.asked_by,
        escalation_id=record.escalation_id,
        selection=record.selection,
        invited=list(record.invited),
        answered=[a.ally_id for a in answers],
        not_answered=[a for a in record.invited if a not in record.answers],
        late=[a.ally_id for a in answers if a.late],
        levels={str(n): levels.count(n) for n in range(1, 6)},
        mean_level=round(statistics.fmean(levels), 2) if levels else None,
        median_level=statistics.median(levels) if levels else None,
        answers=views,
        advice=[
            v for v in views if v.advice or (v.erased and record.answers[v.ally_id].has_advice)
        ],
        framework=record.framework,
    )


class OpenQuestion(BaseModel):
    question_id: str
    network_id: str
    area: str
    ally_id: str
    routed_to: str
    escalation_id: str | None
    raised_at: datetime
    age_s: float
    escalated: bool


def open_questions(
    state: OutreachState,
    at: datetime,
    *,
    escalation_id: str | None = None,
    network_id: str | None = None,
) -> list[OpenQuestion]:
    """Unanswered questions, oldest first, with their age at ``at``."""
    found = [
        q
        for q in state.questions.values()
        if q.open
        and (escalation_id is None or q.escalation_id == escalation_id)
        and (network_id is None or q.network_id == network_id)
    ]
    found.sort(key=lambda q: (q.raised_at, q.question_id))
    return [
        OpenQuestion(
            question_id=q.question_id,
            network_id=q.network_id,
            area=q.area,
            ally_id=q.ally_id,
            routed_to=q.routed_to,
            escalation_id=q.escalation_id,
            raised_at=q.raised_at,
            age_s=round(max(0.0, (at - q.raised_at).total_seconds()), 1),
            escalated=q.escalated_at is not None,
        )
        for q in found
    ]
