"""The HTTP entry point: the JSON API under ``/api/v1`` (commands and reads), the pages behind
personal links, and the API documentation, served offline (no CDN: police and municipal
networks are often closed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST as METRICS_CONTENT_TYPE
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.policy import EscalationPolicy
from services.app.cap_intake import CapParser
from services.app.handlers import CommandHandlers
from services.app.links import SignedLinks
from services.app.need_to_know import Pseudonyms
from services.app.ports import Operations, RejectedInputs
from services.app.queries import QueryHandlers
from services.app.readmodels import ReadModels
from services.app.review import Reviews
from services.app.tracing import span
from services.entrypoints.http.auth import Auth
from services.entrypoints.http.commands import add_command_routes, register_schemas
from services.entrypoints.http.dashboard import DashboardConfig, dashboard_router
from services.entrypoints.http.errors import Problem, install_error_handlers
from services.entrypoints.http.integrations import cap_router
from services.entrypoints.http.outreach import outreach_pages, outreach_router
from services.entrypoints.http.pages import ack_router, rsvp_router
from services.entrypoints.http.queries import query_router
from services.entrypoints.http.review import review_router

API = "/api/v1"
STATIC = Path(__file__).parent / "static"


@dataclass
class ApiDeps:
    handlers: CommandHandlers
    read: ReadModels
    rejected: RejectedInputs
    policies: dict[str, EscalationPolicy]
    themes: frozenset[str]
    rsvp_links: SignedLinks
    ack_links: SignedLinks
    auth: Auth
    pseudonyms: Pseudonyms
    queries: QueryHandlers
    """The reads of ``/api/v1`` (the handler table the NATS queries share)."""
    issuer: dict[str, Any] | None = None
    """The built-in issuer's public keys and discovery document (``jwks``,
    ``openid_configuration``), served under ``/.well-known``; None with an external IdP."""
    cap_parser: CapParser | None = None
    pulse_links: SignedLinks | None = None
    """Answer pages of pulse checks (``/peiling``); None: not offered."""
    mobilisation_links: SignedLinks | None = None
    reviews: Reviews | None = None
    """After-action reviews (``services.app.review``); None: the review routes are not offered."""
    """Answer pages of mobilisation requests (``/inzet``); None: not offered."""
    """Parses CAP 1.2 alerts for ``POST /api/v1/cap`` (``services.adapters.cap_in``); None:
    the route is not offered."""
    operations: Operations | None = None
    """Metrics and readiness for ``/metrics`` and ``/readyz``; None: not offered."""
    dashboard: DashboardConfig | None = None
    """The crisis dashboard at ``/`` and the API routes it reads; None: not offered."""


class Traced:
    """Each HTTP request a server span (named by its method only: a path can carry text a
    client chose); events appended while handling it carry its trace on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with span(f"HTTP {scope['method']}", SpanKind.SERVER):
            await self.app(scope, receive, send)


def create_api(deps: ApiDeps) -> FastAPI:
    app = FastAPI(
        title="Bondgenoten escalation service",
        version="1",
        description="Signals, tension map, call lists and the rapid-convening workflow of the "
        "Bondgenotenaanpak. Every refusal has the shape of `Problem`; every write answers a "
        "`position` that reads accept as `min_position`.",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
        # Our own middleware (Traced) makes the HTTP spans, joined to the trace in the events;
        # FastAPI's native telemetry would add a second set and look up its providers on
        # every request (a few per cent of the CPU under load).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.add_middleware(Traced)
    install_error_handlers(app, deps.rejected)
    add_command_routes(app, API, deps.handlers, deps.auth)
    app.include_router(query_router(deps.read, deps.policies, deps.themes, deps.auth, deps.queries))
    app.include_router(rsvp_router(deps.handlers, deps.read, deps.rsvp_links, deps.auth))
    app.include_router(ack_router(deps.handlers, deps.read, deps.ack_links, deps.auth))
    app.include_router(outreach_router(deps.read, deps.auth, deps.pseudonyms))
    if deps.reviews is not None:
        app.include_router(review_router(deps.reviews, deps.auth, deps.read.clock))
    if deps.pulse_links is not None and deps.mobilisation_links is not None:
        app.include_router(
            outreach_pages(
                deps.handlers, deps.read, deps.pulse_links, deps.mobilisation_links, deps.auth
            )
        )
    if deps.cap_parser is not None:
        app.include_router(
            cap_router(deps.handlers, deps.read, deps.themes, deps.auth, deps.cap_parser)
        )
    if deps.dashboard is not None:
        app.include_router(
            dashboard_router(deps.read, deps.auth, deps.pseudonyms, deps.dashboard, deps.policies)
        )
    issuer = deps.issuer

    @app.get("/livez", include_in_schema=False)  # liveness for supervisors: no token, no detail
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    operations = deps.operations
    if operations is not None:
        # For the operators' scrapers and load balancers: counts and component states only,
        # never an id or personal data, so no token (restrict them at the proxy if need be).

        @app.get("/readyz", include_in_schema=False)
        async def readyz() -> JSONResponse:
            problems = await operations.readiness()
            body = {"status": "not ready" if problems else "ready", "problems": problems}
            return JSONResponse(body, status_code=503 if problems else 200)

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(await operations.render(), media_type=METRICS_CONTENT_TYPE)

    if issuer is not None:

        @app.get("/.well-known/jwks.json", include_in_schema=False)
        async def jwks() -> dict[str, Any]:
            return dict(issuer["jwks"])

        @app.get("/.well-known/openid-configuration", include_in_schema=False)
        async def openid_configuration() -> dict[str, Any]:
            return dict(issuer["openid_configuration"])

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get(f"{API}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API}/openapi.json",
            title="Bondgenoten API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            register_schemas(schema)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("Problem", Problem.model_json_schema())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
