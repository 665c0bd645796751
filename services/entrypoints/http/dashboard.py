"""The crisis dashboard: the page at ``/`` (Dutch, every asset served from the package, no
external URL), its login, and the API routes it needs that other clients may use too:
``/api/v1/me`` (who am I, what may I do), ``/api/v1/map`` (the map's layers),
``/api/v1/signals/recent`` and ``/api/v1/live`` (Server-Sent Events of the read models'
changes, resumable with ``Last-Event-ID`` = the log position the picture reflects).

The live stream is read with ``fetch`` so the bearer token travels in the ``Authorization``
header, never in a URL that ends up in a log."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from domain.access import MATRIX, Principal, Role, allowed
from domain.errors import NotFound
from domain.policy import EscalationPolicy
from services.app.dashboard import (
    RecentSignal,
    changed_parts,
    checkpoints,
    live_part,
    recent_signals,
    visible_parts,
)
from services.app.need_to_know import Pseudonyms, sees_contact_details
from services.app.queries import MIN_POSITION_WAIT_S, NotCaughtUp
from services.app.readmodels import ReadModels
from services.entrypoints.http.auth import Auth, action_extra, authenticated
from services.entrypoints.http.errors import ERROR_RESPONSES
from services.entrypoints.http.queries import MinPosition
from services.texts_nl.dashboard import ROLE_NAMES, TITLE, dashboard_texts

PRINCIPAL = Depends(authenticated)
DEMO_TOKEN_TTL = timedelta(hours=8)
CATCH_UP_S = 5.0

DEMO_USERS: dict[Role, str] = {
    Role.CRISIS: "sgbo-almere",
    Role.POLICE: "teamchef-almere",
    Role.MUNICIPALITY: "oov-almere",
    Role.COORDINATOR: "netwerk-almere",
    Role.REVIEWER: "evaluatie-almere",
    Role.ADMIN: "beheer-almere",
}
"""Whom the demo login may sign in as: one fixed identity per role (the demo's own), so the
page can never mint a token for an identity a client chose."""

Minter = Callable[[Principal, datetime, timedelta], str]
"""The built-in issuer's ``mint`` (principal, now, ttl) → token."""


@dataclass
class DashboardConfig:
    outlines: dict[str, Any]
    """GeoJSON FeatureCollection: municipality and safety-region outlines."""
    areas: dict[str, Any]
    """GeoJSON FeatureCollection: the deployment's areas (feature ``id`` = area code)."""
    demo_login: Minter | None = None
    """Set only when the settings allow a demo login and the built-in issuer is in use."""
    stopping: Callable[[], bool] = field(default=lambda: False)
    """True once the HTTP server is shutting down: live streams end so it can stop."""


class Me(BaseModel):
    role: Role
    id: str
    actor: str
    role_name: str = Field(description="the role in Dutch, for display")
    actions: list[str] = Field(description="every action of the role × action matrix it may do")
    sees_contact_details: bool


class MapLayers(BaseModel):
    outlines: dict[str, Any] = Field(description="GeoJSON: municipality and safety-region outlines")
    areas: dict[str, Any] = Field(description="GeoJSON: the deployment's areas (id = area code)")


class LoginOptions(BaseModel):
    demo_roles: list[Role] = Field(
        description="roles the demo login offers; empty unless the deployment allows it"
    )
    role_names: dict[str, str]


class DemoLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class DemoToken(BaseModel):
    token: str
    role: Role
    id: str
    expires_at: datetime


def render_page() -> str:
    """The page, its Dutch rendered in server-side (JSON in a non-executed script element;
    ``<`` escaped so no text can close it)."""
    texts = json.dumps(dashboard_texts(), ensure_ascii=False).replace("<", "\\u003c")
    return PAGE.format(title=html.escape(TITLE), texts=texts)


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'"
)
"""Only this service's own assets: the browser itself refuses anything from elsewhere."""

PAGE = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/dashboard/dashboard.css">
<link rel="icon" href="data:,">
</head><body>
<script id="texts" type="application/json">{texts}</script>
<div id="app"></div>
<script src="/static/dashboard/dashboard.js"></script>
</body></html>
"""


def dashboard_router(
    read: ReadModels,
    auth: Auth,
    pseudonym: Pseudonyms,
    config: DashboardConfig,
    policies: Mapping[str, EscalationPolicy],
) -> APIRouter:
    r = APIRouter(responses=ERROR_RESPONSES)
    page = render_page()

    @r.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        # The page holds no data: everything comes through the API with the user's token.
        headers = {"Cache-Control": "no-store", "Content-Security-Policy": CSP}
        return HTMLResponse(page, headers=headers)

    def route(path: str, action: str, **kw: Any) -> Callable[[Any], Any]:
        allowed_ = Depends(auth.require(action))
        return r.get(
            "/api/v1" + path, openapi_extra=action_extra(action), dependencies=[allowed_], **kw
        )

    @route(
        "/me",
        "read.reference",
        response_model=Me,
        summary="Who the token names, and the actions of the role × action matrix it may do",
        tags=["reference"],
    )
    async def me(principal: Principal = PRINCIPAL) -> Me:
        return Me(
            role=principal.role,
            id=principal.id,
            actor=principal.actor,
            role_name=ROLE_NAMES.get(principal.role.value, principal.role.value),
            actions=[a for a in MATRIX if allowed(principal, a)],
            sees_contact_details=sees_contact_details(principal),
        )

    @route(
        "/map",
        "read.reference",
        response_model=MapLayers,
        summary="The map's layers: outlines and the deployment's areas (GeoJSON)",
        tags=["reference"],
    )
    async def map_layers() -> MapLayers:
        return MapLayers(outlines=config.outlines, areas=config.areas)

    @route(
        "/signals/recent",
        "read.tension-map",
        response_model=list[RecentSignal],
        summary="The newest signals that still count on the tension map; allies' names only "
        "for the roles that see contact details, else pseudonyms",
        tags=["signal"],
    )
    async def signals_recent(
        min_position: MinPosition = None, principal: Principal = PRINCIPAL
    ) -> list[RecentSignal]:
        if min_position is not None and not await read.caught_up(min_position, MIN_POSITION_WAIT_S):
            raise NotCaughtUp(f"read models have not reached position {min_position} yet")
        return recent_signals(read, principal, pseudonym)

    @route(
        "/live",
        "read.escalations",
        summary="Live situation picture (Server-Sent Events)",
        description="`text/event-stream`: each `update` event carries the parts of the picture "
        "that changed (`tension`, `signals`, `escalations`, `networks`, `pulses`, `questions`, "
        "`mobilisations`, as the role may see them) and `id` = the log position they reflect. "
        "Reconnect with `Last-Event-ID` to resume: if the log moved on, every part is sent "
        "again, so nothing is lost.",
        tags=["reference"],
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    )
    async def live(
        request: Request,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        principal: Principal = PRINCIPAL,
    ) -> EventSourceResponse:
        last = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
        parts = visible_parts(principal)

        async def snapshot(which: set[str]) -> ServerSentEvent | None:
            """The parts as of the log's position now, once every read model reflects it
            (None if they lag: the caller tries again at its next tick)."""
            position = await read.store.last_position()
            if not await read.caught_up(position, CATCH_UP_S):
                return None
            body = {
                "position": position,
                "at": read.clock.now().isoformat(),
                "parts": {
                    p: live_part(read, p, principal, pseudonym, policies) for p in sorted(which)
                },
            }
            return ServerSentEvent(data=json.dumps(body), event="update", id=str(position))

        async def events() -> AsyncIterator[ServerSentEvent]:
            seen = checkpoints(read)
            resumed = last is not None and last == await read.store.last_position()
            pending = set() if resumed else set(parts)
            async for changed in changed_parts(read, seen, config.stopping):
                pending |= changed & set(parts)
                if pending and (event := await snapshot(pending)) is not None:
                    pending = set()
                    yield event

        return EventSourceResponse(events(), ping=15, sep="\n", headers={"X-Accel-Buffering": "no"})

    @r.get(
        "/api/v1/login/options",
        response_model=LoginOptions,
        summary="How one may log in to the dashboard (no token needed)",
        tags=["reference"],
    )
    async def login_options() -> LoginOptions:
        roles = list(DEMO_USERS) if config.demo_login is not None else []
        return LoginOptions(demo_roles=roles, role_names=dict(ROLE_NAMES))

    @r.post(
        "/api/v1/login/demo",
        response_model=DemoToken,
        summary="Demo login: a token of the built-in issuer for the demo's identity of a role; "
        "only where the deployment allows it (BONDGENOTEN_DEMO_LOGIN, no external IdP)",
        tags=["reference"],
    )
    async def demo_login(body: DemoLogin, request: Request) -> DemoToken:
        mint = config.demo_login
        if mint is None:
            raise NotFound("demo login is not enabled here", field="role")
        identity = DEMO_USERS.get(body.role)
        if identity is None:
            raise NotFound(f"no demo user for role {body.role.value}", field="role")
        principal = Principal(body.role, identity)
        now = auth.clock.now()
        token = mint(principal, now, DEMO_TOKEN_TTL)
        await auth.record(principal.actor, "token.issue", "issuer:local", "ok", request, "demo")
        return DemoToken(token=token, role=body.role, id=identity, expires_at=now + DEMO_TOKEN_TTL)

    return r
