"""Routes for police and municipal systems that integrate over HTTP.

* ``POST /api/v1/cap``: a CAP 1.2 alert (``application/cap+xml``) becomes a signal, through the
  one command path (``SubmitSignal``); the mapping is :mod:`services.app.cap_intake`. Who
  reports is the bearer token's principal, never the alert's ``<sender>``.
* The plain JSON webhook for systems that cannot speak CAP is ``POST /api/v1/signals`` itself
  (the signal shape): a system calls it with a token of its own identity (``police:<id>``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from domain.access import Principal
from services.app.cap_intake import CapParser, ServedArea, signal_from_cap
from services.app.handlers import CommandHandlers
from services.app.readmodels import ReadModels
from services.entrypoints.http.auth import Auth, action_extra, authenticated, origin_of
from services.entrypoints.http.commands import CommandAnswer, answer
from services.entrypoints.http.errors import ERROR_RESPONSES

CAP_ACTION = "signal.cap"
CAP_EXAMPLE = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>NL-POL-OOST-2025-0042</identifier>
  <sender>meldkamer-oost@politie.nl</sender>
  <sent>2025-05-01T21:14:00+02:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Restricted</scope>
  <restriction>police and municipality</restriction>
  <info>
    <language>nl-NL</language><category>Security</category><event>demonstration</event>
    <urgency>Expected</urgency><severity>Severe</severity><certainty>Likely</certainty>
    <headline>Group of youths on scooters heading for the demonstration</headline>
    <area><areaDesc>Almere Stad</areaDesc>
      <geocode><valueName>bondgenoten-gebied</valueName><value>GM0034-stad</value></geocode>
    </area>
  </info>
</alert>"""


def cap_router(
    handlers: CommandHandlers,
    read: ReadModels,
    themes: frozenset[str],
    auth: Auth,
    parse: CapParser,
) -> APIRouter:
    r = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    body_doc: dict[str, Any] = {
        "required": True,
        "content": {
            media: {"schema": {"type": "string"}, "example": CAP_EXAMPLE}
            for media in ("application/cap+xml", "application/xml")
        },
    }

    @r.post(
        "/cap",
        status_code=201,
        response_model=CommandAnswer,
        summary="Report a signal as a CAP 1.2 alert (police and municipal systems)",
        description="The alert's area, theme, level and time are mapped onto a signal "
        "(`docs/integrations.md`); the reporter is the token's principal. The same alert "
        "(sender + identifier) posted again is answered as a duplicate. A malformed, "
        "invalid or unmappable alert is refused naming the element (`alert.info.area."
        "geocode`) and kept.",
        openapi_extra={"requestBody": body_doc, **action_extra(CAP_ACTION)},
        dependencies=[Depends(auth.require(CAP_ACTION))],
        tags=["integration"],
    )
    async def submit_cap(request: Request) -> JSONResponse:
        principal: Principal = authenticated(request)
        alert = parse(await request.body(), request.headers.get("content-type"))
        networks = [
            ServedArea(n.network_id, n.name, n.area, frozenset(n.areas))
            for n in read.networks.networks.values()
        ]
        command = signal_from_cap(alert, principal, networks=networks, themes=themes)
        result = await handlers.handle(
            command, principal=principal, key=None, channel="http", origin=origin_of(request)
        )
        status = 201 if result.event_ids and not result.duplicate else 200
        return JSONResponse(answer(result).model_dump(mode="json"), status_code=status)

    return r
