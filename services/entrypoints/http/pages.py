"""Pages for people who follow a personal link, outside ``/api/v1``:

* ``/rsvp/{token}``: an invited ally answers attending / not attending / later;
* ``/bevestigen/{token}``: an alerted function acknowledges the alert (the link in alerts).

Plain Dutch HTML without scripts; every action goes through the one handler table.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar, cast

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from domain.access import Principal
from domain.errors import DomainError
from domain.escalation import slot_of
from events.escalation import RsvpAnswer
from projections.escalations import ConveningRecord, EscalationRecord, escalation
from services.app import commands as c
from services.app.handlers import CommandHandlers
from services.app.links import LinkExpired, SignedLinks
from services.app.readmodels import ReadModels
from services.app.situation import area_name
from services.entrypoints.http.auth import ANONYMOUS, Auth, origin_of
from services.texts_nl import pages as texts
from services.texts_nl.alerts import mode_nl, theme_nl, when_nl

log = structlog.get_logger(__name__)
T = TypeVar("T")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(texts.PAGE.format(title=html.escape(title), body=body), status)


def _when(value: datetime) -> str:
    return html.escape(when_nl(value))


def _key(token: str, what: str) -> str:
    """One idempotency key per link and answer: pressing the button twice records once."""
    return hashlib.sha256(f"{token}|{what}".encode()).hexdigest()[:32]


def unknown() -> HTMLResponse:
    return _page(texts.UNKNOWN_TITLE, texts.UNKNOWN_BODY, 404)


def busy() -> HTMLResponse:
    return _page(texts.BUSY_TITLE, texts.BUSY_BODY, 503)


def expired() -> HTMLResponse:
    return _page(texts.EXPIRED_TITLE, texts.EXPIRED_BODY, 410)


async def _followed(
    links: SignedLinks,
    auth: Auth,
    request: Request,
    token: str,
    action: str,
    kind: str,
    find: Callable[[str], T | None],
) -> tuple[str, Principal, T] | HTMLResponse:
    """The id, the principal and what ``find`` knows by that id (a ``kind``) of a valid link we
    issued, or the Dutch page for an expired or unknown one. Every use of a link is audited,
    ids only."""
    try:
        first, principal = links.parse(token, auth.clock.now())
    except LinkExpired:
        await auth.record(ANONYMOUS, action, f"link:{links.purpose}", "denied", request, "expired")
        return expired()
    except DomainError:
        why = "unknown link"
        await auth.record(ANONYMOUS, action, f"link:{links.purpose}", "denied", request, why)
        return unknown()
    known = find(first)
    if known is None:
        return unknown()
    await auth.record(principal.actor, action, f"{kind}:{first}", "ok", request)
    return first, principal, known


def rsvp_router(
    handlers: CommandHandlers, read: ReadModels, links: SignedLinks, auth: Auth
) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def closed() -> HTMLResponse:
        return _page(texts.CLOSED_TITLE, texts.CLOSED_BODY, 410)

    async def invited(
        token: str, request: Request, action: str
    ) -> tuple[str, Principal, ConveningRecord] | HTMLResponse:
        """Convening, ally and meeting of a valid link we issued, for a meeting we know."""
        return await _followed(links, auth, request, token, action, "convening", read.convening)

    @r.get("/rsvp/{token}", response_class=HTMLResponse)
    async def invitation(token: str, request: Request) -> HTMLResponse:
        found = await invited(token, request, "link.rsvp.open")
        if isinstance(found, HTMLResponse):
            return found
        convening_id, ally, meeting = found
        if meeting.convened_at is not None or meeting.cancelled_at is not None:
            return closed()
        area, theme = slot_of(read.escalation_of_convening(convening_id) or "")
        answer = meeting.answers.get(ally.id)
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
    async def answer(token: str, request: Request, answer: str = "") -> HTMLResponse:
        if answer not in texts.RSVP_ANSWERS:
            return unknown()
        found = await invited(token, request, "link.rsvp.use")
        if isinstance(found, HTMLResponse):
            return found
        convening_id, ally, meeting = found
        if meeting.cancelled_at is not None:
            return closed()
        command = c.RecordRsvp(
            convening_id=convening_id, ally_id=ally.id, answer=cast(RsvpAnswer, answer)
        )
        try:
            await handlers.handle(
                command,
                principal=ally,
                key=_key(token, answer),
                channel="page",
                origin=origin_of(request),
            )
        except DomainError:  # the escalation was closed or the meeting took place meanwhile
            return closed()
        except Exception:  # NATS busy or away, many answering at once: ask again, in Dutch
            log.warning("rsvp.failed", convening_id=convening_id)
            return busy()
        body = texts.THANKS_BODY.format(answer=texts.RSVP_ANSWERS[answer])
        return _page(texts.THANKS_TITLE, body)

    return r


def ack_router(
    handlers: CommandHandlers, read: ReadModels, links: SignedLinks, auth: Auth
) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    async def found(
        token: str, request: Request, action: str
    ) -> tuple[str, Principal, EscalationRecord] | HTMLResponse:
        """Escalation, alerted function (piket) and record of a valid link we issued."""

        def known(escalation_id: str) -> EscalationRecord | None:
            return escalation(read.escalations.state, escalation_id)

        return await _followed(links, auth, request, token, action, "escalation", known)

    def described(escalation_id: str, template: str, **extra: str) -> str:
        record = escalation(read.escalations.state, escalation_id)
        assert record is not None
        return template.format(
            escalation_id=html.escape(escalation_id),
            theme=html.escape(theme_nl(record.theme)),
            area_name=html.escape(area_name(read, record.area)),
            status=html.escape(texts.STATUS_LABELS.get(record.status, record.status)),
            **{k: html.escape(v) for k, v in extra.items()},
        )

    @r.get("/bevestigen/{token}", response_class=HTMLResponse)
    async def confirm(token: str, request: Request) -> HTMLResponse:
        ids = await found(token, request, "link.ack.open")
        if isinstance(ids, HTMLResponse):
            return ids
        return _page(texts.ACK_TITLE, described(ids[0], texts.ACK_BODY))

    @r.post("/bevestigen/{token}", response_class=HTMLResponse)
    async def acknowledge(token: str, request: Request) -> HTMLResponse:
        ids = await found(token, request, "link.ack.use")
        if isinstance(ids, HTMLResponse):
            return ids
        escalation_id, recipient, _ = ids
        command = c.AcknowledgeEscalation(escalation_id=escalation_id)
        try:
            await handlers.handle(
                command,
                principal=recipient,
                key=_key(token, "ack"),
                channel="page",
                origin=origin_of(request),
            )
        except DomainError:  # acknowledged by someone else meanwhile, or already closed
            return _page(texts.ACK_ALREADY_TITLE, described(escalation_id, texts.ACK_ALREADY_BODY))
        except Exception:
            log.warning("ack.failed", escalation_id=escalation_id)
            return busy()
        body = described(escalation_id, texts.ACK_DONE_BODY, by=recipient.id)
        return _page(texts.ACK_DONE_TITLE, body)

    return r
