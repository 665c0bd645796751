"""``/rsvp/{token}``: the page behind an invitation's personal link, where an ally answers
attending / not attending / later. Outside ``/api/v1``: it is for people, not systems."""

from __future__ import annotations

import html
import uuid
from datetime import datetime
from typing import cast

import structlog
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from domain.errors import DomainError
from domain.escalation import slot_of
from events.escalation import RsvpAnswer
from projections.escalations import ConveningRecord
from services.app.links import RsvpLinks
from services.app.readmodels import ReadModels
from services.app.situation import area_name
from services.app.workflow import Workflow
from services.texts_nl import rsvp as texts
from services.texts_nl.alerts import mode_nl, theme_nl, when_nl

log = structlog.get_logger(__name__)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(texts.PAGE.format(title=html.escape(title), body=body), status)


def _when(value: datetime) -> str:
    return html.escape(when_nl(value))


def rsvp_router(workflow: Workflow, read: ReadModels, links: RsvpLinks) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def unknown() -> HTMLResponse:
        return _page(texts.UNKNOWN_TITLE, texts.UNKNOWN_BODY, 404)

    def closed() -> HTMLResponse:
        return _page(texts.CLOSED_TITLE, texts.CLOSED_BODY, 410)

    def invited(token: str) -> tuple[str, str, ConveningRecord] | None:
        """Convening, ally and meeting of a link we issued, for a meeting we know."""
        try:
            convening_id, ally_id = links.parse(token)
        except DomainError:
            return None
        meeting = read.convening(convening_id)
        return (convening_id, ally_id, meeting) if meeting is not None else None

    @r.get("/rsvp/{token}", response_class=HTMLResponse)
    async def invitation(token: str) -> HTMLResponse:
        found = invited(token)
        if found is None:
            return unknown()
        convening_id, ally_id, meeting = found
        if meeting.convened_at is not None or meeting.cancelled_at is not None:
            return closed()
        area, theme = slot_of(read.escalation_of_convening(convening_id) or "")
        answer = meeting.answers.get(ally_id)
        current = texts.CURRENT_ANSWER.format(answer=texts.RSVP_ANSWERS[answer]) if answer else ""
        body = texts.INVITATION_BODY.format(
            theme=html.escape(theme_nl(theme)),
            area_name=html.escape(area_name(read, area)),
            mode=html.escape(mode_nl(meeting.mode)),
            place=f" ({html.escape(meeting.place)})" if meeting.place else "",
            starts=_when(meeting.starts_at),
            deadline=_when(meeting.rsvp_deadline),
            current=current,
        )
        title = texts.INVITATION_TITLE.format(mode=mode_nl(meeting.mode), theme=theme_nl(theme))
        return _page(title, body)

    @r.post("/rsvp/{token}", response_class=HTMLResponse)
    async def answer(token: str, answer: str = "") -> HTMLResponse:
        found = invited(token)
        if found is None or answer not in texts.RSVP_ANSWERS:
            return unknown()
        convening_id, ally_id, meeting = found
        if meeting.cancelled_at is not None:
            return closed()
        try:
            reply = cast(RsvpAnswer, answer)  # checked against the answers above
            await workflow.rsvp(convening_id, ally_id, reply, uuid.uuid4().hex)
        except DomainError:  # the escalation was closed or the meeting took place meanwhile
            return closed()
        except Exception:  # NATS busy or away, many answering at once: ask again, in Dutch
            log.warning("rsvp.failed", convening_id=convening_id)
            return _page(texts.BUSY_TITLE, texts.BUSY_BODY, 503)
        body = texts.THANKS_BODY.format(answer=texts.RSVP_ANSWERS[answer])
        return _page(texts.THANKS_TITLE, body)

    return r
