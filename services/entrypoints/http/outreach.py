"""Reads of pulse checks, constituency questions and mobilisation requests under ``/api/v1``,
and the pages behind the allies' personal links (``/peiling/…``, ``/inzet/…``).

Role views (:mod:`services.app.need_to_know`): allies are named only for the roles that see
contact details, everyone else sees their pseudonym; what allies wrote is shown to every
reader but the evaluator. Each read that shows who answered is audited.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, cast
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.types import DecoratedCallable as Endpoint
from pydantic import BaseModel, ValidationError

from domain.access import Principal
from domain.errors import DomainError, NotFound
from domain.intake import InvalidInput
from events.mobilisation import MobilisationAnswer
from events.personal import ErasedPersonal
from projections.outreach import (
    OpenQuestion,
    PulseSummary,
    QuestionRecord,
    open_questions,
    pulse_summary,
)
from services.app import commands as c
from services.app.framework import FrameworkDocument, framework_document, framework_markdown
from services.app.handlers import CommandHandlers
from services.app.links import SignedLinks
from services.app.need_to_know import Pseudonyms, sees_contact_details, sees_personal_text
from services.app.outreach_views import pulse_for
from services.app.queries import NotCaughtUp
from services.app.readmodels import ReadModels
from services.app.situation import area_name
from services.entrypoints.http.auth import Auth, action_extra, authenticated, origin_of
from services.entrypoints.http.errors import ERROR_RESPONSES
from services.entrypoints.http.pages import _followed, _key, _page, busy, unknown
from services.texts_nl import outreach as texts
from services.texts_nl import pages as page_texts
from services.texts_nl.alerts import theme_nl, when_nl

log = structlog.get_logger(__name__)
PRINCIPAL = Depends(authenticated)
MIN_POSITION_WAIT_S = 5.0
MinPosition = Annotated[int | None, Query(ge=0, description="wait until this log position")]


class Relayed(BaseModel):
    to: str
    relayed_at: datetime
    by: str


class QuestionView(BaseModel):
    """A question with its three moments: raised, answered, relayed back (and escalated)."""

    question_id: str
    network_id: str
    area: str
    ally: str
    """The ally's id, or their pseudonym for roles that do not see contact details."""
    routed_to: str
    raised_via: str
    escalation_id: str | None
    text: str
    erased: bool
    raised_at: datetime
    escalate_at: datetime
    answer: str | None
    answered_at: datetime | None
    answered_by: str | None
    relayed: list[Relayed]
    escalated_at: datetime | None
    escalated_level: int | None
    escalated_to: list[str]


class MobilisationView(BaseModel):
    request_id: str
    area: str
    task: str
    message: str
    escalation_id: str | None
    invited: list[str]
    respond_by: datetime
    answers: dict[str, str]
    reports: list[dict[str, Any]]


def outreach_router(read: ReadModels, auth: Auth, pseudonym: Pseudonyms) -> APIRouter:
    r = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    def route(path: str, action: str, **kw: Any) -> Callable[[Endpoint], Endpoint]:
        allowed = Depends(auth.require(action))
        return r.get(path, openapi_extra=action_extra(action), dependencies=[allowed], **kw)

    async def caught_up(position: int | None) -> None:
        if position is not None and not await read.caught_up(position, MIN_POSITION_WAIT_S):
            raise NotCaughtUp(f"read models have not reached position {position} yet")

    def who(principal: Principal) -> Any:
        if sees_contact_details(principal):
            return lambda ally_id: ally_id
        return pseudonym

    def name_of(principal: Principal) -> Any:
        """An ally as this reader may see them: their name, or their pseudonym."""
        if not sees_contact_details(principal):
            return pseudonym

        def named(ally_id: str) -> str:
            personal = read.ally_personal(ally_id)
            return personal.name if personal is not None else pseudonym(ally_id)

        return named

    def summary_for(principal: Principal, s: PulseSummary) -> PulseSummary:
        return pulse_for(principal, pseudonym, s)

    def pulse_record(pulse_id: str) -> Any:
        record = read.outreach.state.pulses.get(pulse_id)
        if record is None:
            raise NotFound(f"unknown pulse {pulse_id}", field="pulse_id")
        return record

    @route("/pulses", "read.pulses", response_model=list[PulseSummary], tags=["pulse"])
    async def pulses(
        request: Request,
        escalation_id: str | None = None,
        area: str | None = None,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
    ) -> Any:
        """Pulse checks (thermometeren), newest first, each summarised."""
        await caught_up(min_position)
        now = read.clock.now()
        found = [
            p
            for p in read.outreach.state.pulses.values()
            if (escalation_id is None or p.escalation_id == escalation_id)
            and (area is None or p.area == area)
        ]
        found.sort(key=lambda p: p.started_at, reverse=True)
        await auth.record(principal.actor, "read.pulses", "pulses", "ok", request)
        return [summary_for(principal, pulse_summary(p, now)) for p in found]

    @route("/pulses/{pulse_id}", "read.pulses", response_model=PulseSummary, tags=["pulse"])
    async def get_pulse(
        request: Request,
        pulse_id: str,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
    ) -> Any:
        """One pulse check: who was asked and answered, the spread of levels, the advice."""
        await caught_up(min_position)
        summary = pulse_summary(pulse_record(pulse_id), read.clock.now())
        result = "revealed" if sees_contact_details(principal) else "pseudonymised"
        await auth.record(principal.actor, "read.pulses", f"pulse:{pulse_id}", result, request)
        return summary_for(principal, summary)

    @route(
        "/pulses/{pulse_id}/framework",
        "read.pulses",
        response_model=FrameworkDocument,
        summary="The framework for action (handelingskader): JSON, or Dutch Markdown or HTML",
        tags=["pulse"],
        responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
    )
    async def framework(
        request: Request,
        pulse_id: str,
        format: Literal["json", "markdown", "html"] = "json",
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
    ) -> Any:
        await caught_up(min_position)
        record = pulse_record(pulse_id)
        summary = pulse_summary(record, read.clock.now())
        if not sees_personal_text(principal):
            summary = summary_for(principal, summary)
        doc = framework_document(record, summary, area_name(read, record.area), name_of(principal))
        if doc is None:
            raise NotFound(texts.FRAMEWORK_NOT_COMPILED, field="pulse_id")
        await auth.record(principal.actor, "read.pulses", f"framework:{pulse_id}", "ok", request)
        if format == "json":
            return doc
        text = framework_markdown(doc)
        if format == "markdown":
            return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
        return _page(doc.title, f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre>")

    def question_view(principal: Principal, q: QuestionRecord) -> QuestionView:
        text = q.personal.text if not isinstance(q.personal, ErasedPersonal) else ""
        return QuestionView(
            question_id=q.question_id,
            network_id=q.network_id,
            area=q.area,
            ally=who(principal)(q.ally_id),
            routed_to=q.routed_to,
            raised_via=q.raised_via,
            escalation_id=q.escalation_id,
            text=text if sees_personal_text(principal) else "",
            erased=isinstance(q.personal, ErasedPersonal),
            raised_at=q.raised_at,
            escalate_at=q.escalate_at,
            answer=q.answer,
            answered_at=q.answered_at,
            answered_by=q.answered_by,
            relayed=[Relayed(to=x.to, relayed_at=x.relayed_at, by=x.by) for x in q.relays],
            escalated_at=q.escalated_at,
            escalated_level=q.escalated_level,
            escalated_to=q.escalated_to,
        )

    @route(
        "/questions/open",
        "read.questions",
        response_model=list[OpenQuestion],
        summary="Open constituency questions with their age, per escalation or network",
        tags=["question"],
    )
    async def open_(
        escalation_id: str | None = None,
        network_id: str | None = None,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
    ) -> Any:
        await caught_up(min_position)
        found = open_questions(
            read.outreach.state,
            read.clock.now(),
            escalation_id=escalation_id,
            network_id=network_id,
        )
        label = who(principal)
        return [q.model_copy(update={"ally_id": label(q.ally_id)}) for q in found]

    @route(
        "/questions/{question_id}",
        "read.questions",
        response_model=QuestionView,
        summary="A constituency question: raised, answered, relayed back (and escalated)",
        tags=["question"],
    )
    async def get_question(
        request: Request,
        question_id: str,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
    ) -> Any:
        await caught_up(min_position)
        q = read.outreach.state.questions.get(question_id)
        if q is None:
            raise NotFound(f"unknown question {question_id}", field="question_id")
        await auth.record(
            principal.actor, "read.questions", f"question:{question_id}", "ok", request
        )
        return question_view(principal, q)

    @route(
        "/mobilisations/{request_id}",
        "read.mobilisations",
        response_model=MobilisationView,
        summary="A mobilisation request: who accepted or declined, and their reports",
        tags=["mobilisation"],
    )
    async def get_mobilisation(
        request: Request,
        request_id: str,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
    ) -> Any:
        await caught_up(min_position)
        m = read.outreach.state.mobilisations.get(request_id)
        if m is None:
            raise NotFound(f"unknown mobilisation request {request_id}", field="request_id")
        label, text = who(principal), sees_personal_text(principal)
        await auth.record(
            principal.actor, "read.mobilisations", f"mobilisation:{request_id}", "ok", request
        )
        return MobilisationView(
            request_id=m.request_id,
            area=m.area,
            task=m.task,
            message=m.message,
            escalation_id=m.escalation_id,
            invited=[label(a) for a in m.invited],
            respond_by=m.respond_by,
            answers={label(a): x.answer for a, x in m.answers.items()},
            reports=[
                {
                    "ally": label(x.ally_id),
                    "reported_at": x.reported_at,
                    "erased": isinstance(x.personal, ErasedPersonal),
                    "report": x.personal.report
                    if text and not isinstance(x.personal, ErasedPersonal)
                    else "",
                }
                for x in m.reports
            ],
        )

    return r


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form body (the pages post plain HTML forms), first value per field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, max_num_fields=10).items()}


def outreach_pages(
    handlers: CommandHandlers,
    read: ReadModels,
    pulse_links: SignedLinks,
    mobilisation_links: SignedLinks,
    auth: Auth,
) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    async def send(
        command: c.Command, ally: Principal, token: str, what: str, request: Request
    ) -> None:
        await handlers.handle(
            command,
            principal=ally,
            key=_key(token, what),
            channel="page",
            origin=origin_of(request),
        )

    @r.get("/peiling/{token}", response_class=HTMLResponse)
    async def pulse_page(token: str, request: Request) -> HTMLResponse:
        found = await _followed(
            pulse_links, auth, request, token, "link.pulse.open", "pulse",
            read.outreach.state.pulses.get,
        )  # fmt: skip
        if isinstance(found, HTMLResponse):
            return found
        _, ally, pulse = found
        if ally.id in pulse.answers:
            return _page(texts.PULSE_ANSWERED_TITLE, texts.PULSE_ANSWERED_BODY)
        levels = "\n".join(
            texts.PULSE_LEVEL_OPTION.format(value=n, label=html.escape(label))
            for n, label in texts.LEVELS_NL.items()
        )
        body = texts.PULSE_PAGE.format(
            question=html.escape(pulse.question),
            area_name=html.escape(area_name(read, pulse.area)),
            deadline=html.escape(when_nl(pulse.deadline)),
            late=texts.PULSE_LATE if read.clock.now() > pulse.deadline else "",
            levels=levels,
        )
        return _page(texts.PULSE_TITLE.format(theme=theme_nl(pulse.theme)), body)

    @r.post("/peiling/{token}", response_class=HTMLResponse)
    async def pulse_answer(token: str, request: Request) -> HTMLResponse:
        found = await _followed(
            pulse_links, auth, request, token, "link.pulse.use", "pulse",
            read.outreach.state.pulses.get,
        )  # fmt: skip
        if isinstance(found, HTMLResponse):
            return found
        pulse_id, ally, _ = found
        form = await _form(request)
        try:
            command = c.RecordPulseAnswer(
                pulse_id=pulse_id,
                ally_id=ally.id,
                level=int(form.get("level", "0")) if form.get("level", "").isdigit() else 0,
                note=form.get("note", ""),
                advice=form.get("advice", ""),
            )
        except ValidationError:
            return _page(texts.PULSE_INVALID_TITLE, texts.PULSE_INVALID_BODY, 422)
        try:
            await send(command, ally, token, "answer", request)
        except (DomainError, InvalidInput):  # answered already (another tab, by phone)
            return _page(texts.PULSE_ANSWERED_TITLE, texts.PULSE_ANSWERED_BODY, 409)
        except Exception:
            log.warning("pulse.answer_failed", pulse_id=pulse_id)
            return busy()
        body = texts.PULSE_THANKS_BODY.format(level=command.level)
        return _page(page_texts.THANKS_TITLE, body)

    @r.get("/inzet/{token}", response_class=HTMLResponse)
    async def mobilisation_page(token: str, request: Request) -> HTMLResponse:
        found = await _followed(
            mobilisation_links, auth, request, token, "link.mobilisation.open", "mobilisation",
            read.outreach.state.mobilisations.get,
        )  # fmt: skip
        if isinstance(found, HTMLResponse):
            return found
        _, ally, m = found
        answer = m.answers.get(ally.id)
        current = (
            texts.MOBILISATION_CURRENT.format(answer=texts.MOBILISATION_ANSWERS[answer.answer])
            if answer
            else ""
        )
        body = texts.MOBILISATION_PAGE.format(
            message=html.escape(m.message),
            area_name=html.escape(area_name(read, m.area)),
            deadline=html.escape(when_nl(m.respond_by)),
            current=current,
            report=texts.MOBILISATION_REPORT_FORM if answer and answer.answer == "accept" else "",
        )
        title = texts.MOBILISATION_TITLE.format(task=texts.TASKS_NL.get(m.task, m.task))
        return _page(title, body)

    @r.post("/inzet/{token}", response_class=HTMLResponse)
    async def mobilisation_answer(token: str, request: Request, answer: str = "") -> HTMLResponse:
        if answer not in (*texts.MOBILISATION_ANSWERS, "report"):
            return unknown()
        found = await _followed(
            mobilisation_links, auth, request, token, "link.mobilisation.use", "mobilisation",
            read.outreach.state.mobilisations.get,
        )  # fmt: skip
        if isinstance(found, HTMLResponse):
            return found
        request_id, ally, _ = found
        command: c.Command
        try:
            if answer == "report":
                report = (await _form(request)).get("report", "")
                command = c.ReportMobilisation(
                    request_id=request_id, ally_id=ally.id, report=report
                )
            else:
                command = c.AnswerMobilisation(
                    request_id=request_id,
                    ally_id=ally.id,
                    answer=cast(MobilisationAnswer, answer),
                )
        except ValidationError:
            return _page(texts.PULSE_INVALID_TITLE, texts.PULSE_INVALID_BODY, 422)
        # One key per distinct report (a double tap records once; a second report is new).
        body_hash = hashlib.sha256(await request.body()).hexdigest()[:16]
        what = answer if answer != "report" else f"report:{body_hash}"
        try:
            await send(command, ally, token, what, request)
        except DomainError:
            return _page(page_texts.CLOSED_TITLE, page_texts.CLOSED_BODY, 409)
        except Exception:
            log.warning("mobilisation.answer_failed", request_id=request_id)
            return busy()
        if answer == "report":
            return _page(page_texts.THANKS_TITLE, texts.MOBILISATION_REPORTED_BODY)
        body = texts.MOBILISATION_THANKS_BODY.format(answer=texts.MOBILISATION_ANSWERS[answer])
        return _page(page_texts.THANKS_TITLE, body)

    return r
