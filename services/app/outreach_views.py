"""Pulse checks, constituency questions and mobilisation requests as a reader may see them,
shared by the API's reads and the dashboard's live picture so both redact alike: allies by id
for the roles that see contact details, by pseudonym for the others; what allies wrote for
every reader but the evaluator (:func:`services.app.need_to_know.sees_personal_text`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from domain.access import Principal
from events.personal import ErasedPersonal
from events.questions import QuestionPersonal
from projections.outreach import MobilisationRecord, PulseSummary, QuestionRecord
from services.app.need_to_know import Pseudonyms, sees_contact_details, sees_personal_text

Label = Callable[[str], str]


def ally_label(principal: Principal, pseudonym: Pseudonyms) -> Label:
    """How this reader sees an ally's id: as it is, or as their pseudonym."""
    if sees_contact_details(principal):
        return lambda ally_id: ally_id
    return pseudonym


def pulse_for(principal: Principal, pseudonym: Pseudonyms, s: PulseSummary) -> PulseSummary:
    """A pulse summary redacted for ``principal``."""
    label = ally_label(principal, pseudonym)
    text = sees_personal_text(principal)
    answers = [
        a.model_copy(
            update={
                "ally_id": label(a.ally_id),
                "note": a.note if text else "",
                "advice": a.advice if text else "",
            }
        )
        for a in s.answers
    ]
    advice = [a for a in answers if a.advice or a.erased] if text else []
    framework = s.framework
    if framework is not None:
        framework = framework.model_copy(update={"adopted": [label(a) for a in framework.adopted]})
    selection = s.selection.model_copy(
        update={"allies": tuple(label(a) for a in s.selection.allies)}
    )
    return s.model_copy(
        update={
            "invited": [label(a) for a in s.invited],
            "answered": [label(a) for a in s.answered],
            "not_answered": [label(a) for a in s.not_answered],
            "late": [label(a) for a in s.late],
            "answers": answers,
            "advice": advice,
            "framework": framework,
            "selection": selection,
        }
    )


QuestionStage = Literal["open", "answered", "relayed"]


class QuestionItem(BaseModel):
    """A constituency question on the dashboard: where it stands (open, answered and waiting to
    be relayed back, relayed) and its moments."""

    question_id: str
    network_id: str
    area: str
    ally: str
    routed_to: str
    escalation_id: str | None
    stage: QuestionStage
    text: str
    erased: bool
    raised_at: datetime
    escalate_at: datetime
    answer: str | None
    answered_at: datetime | None
    relayed_to: list[str]
    relayed_at: datetime | None
    escalated_at: datetime | None
    escalated_level_name: str | None


def question_item(principal: Principal, pseudonym: Pseudonyms, q: QuestionRecord) -> QuestionItem:
    erased = isinstance(q.personal, ErasedPersonal)
    personal = q.personal
    text = personal.text if isinstance(personal, QuestionPersonal) else ""
    if not sees_personal_text(principal):
        text = ""
    stage: QuestionStage = "open" if q.answer is None else "relayed" if q.relays else "answered"
    return QuestionItem(
        question_id=q.question_id,
        network_id=q.network_id,
        area=q.area,
        ally=ally_label(principal, pseudonym)(q.ally_id),
        routed_to=q.routed_to,
        escalation_id=q.escalation_id,
        stage=stage,
        text=text,
        erased=erased,
        raised_at=q.raised_at,
        escalate_at=q.escalate_at,
        answer=q.answer,
        answered_at=q.answered_at,
        relayed_to=[r.to for r in q.relays],
        relayed_at=max((r.relayed_at for r in q.relays), default=None),
        escalated_at=q.escalated_at,
        escalated_level_name=q.escalated_level_name,
    )


class MobilisationReportItem(BaseModel):
    ally: str
    reported_at: datetime
    report: str
    erased: bool


class MobilisationItem(BaseModel):
    """A mobilisation request at a glance: who accepted, declined or has not answered, and the
    reports back."""

    request_id: str
    area: str
    task: str
    message: str
    escalation_id: str | None
    requested_at: datetime
    respond_by: datetime
    invited: int
    accepted: list[str]
    declined: list[str]
    not_answered: int
    reports: list[MobilisationReportItem]


def mobilisation_item(
    principal: Principal, pseudonym: Pseudonyms, m: MobilisationRecord
) -> MobilisationItem:
    label = ally_label(principal, pseudonym)
    text = sees_personal_text(principal)
    return MobilisationItem(
        request_id=m.request_id,
        area=m.area,
        task=m.task,
        message=m.message,
        escalation_id=m.escalation_id,
        requested_at=m.requested_at,
        respond_by=m.respond_by,
        invited=len(m.invited),
        accepted=[label(a) for a, x in m.answers.items() if x.answer == "accept"],
        declined=[label(a) for a, x in m.answers.items() if x.answer == "decline"],
        not_answered=sum(1 for a in m.invited if a not in m.answers),
        reports=[
            MobilisationReportItem(
                ally=label(r.ally_id),
                reported_at=r.reported_at,
                erased=isinstance(r.personal, ErasedPersonal),
                report=r.personal.report
                if text and not isinstance(r.personal, ErasedPersonal)
                else "",
            )
            for r in m.reports
        ],
    )
