"""After-action review routes (evaluatie): one incident's review as JSON, a self-contained HTML
report or Markdown, and the multi-incident view as JSON or CSV. Redacted for the reader's role
(:mod:`services.app.review`); every read is kept in the audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from domain.access import Principal
from domain.errors import NotFound
from projections.incident import IncidentReview
from services.app.need_to_know import sees_contact_details
from services.app.ports import Clock
from services.app.review import IncidentSummary, Reviews
from services.app.review_report import render_html, render_markdown, summaries_csv
from services.entrypoints.http.auth import Auth, action_extra, authenticated
from services.entrypoints.http.errors import ERROR_RESPONSES
from services.entrypoints.http.queries import moment

ACTION = "read.review"
PRINCIPAL = Depends(authenticated)
REPORT_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {},
            "text/html": {"schema": {"type": "string"}},
            "text/markdown": {"schema": {"type": "string"}},
        }
    }
}


def review_router(reviews: Reviews, auth: Auth, clock: Clock) -> APIRouter:
    r = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["review"])
    allowed = [Depends(auth.require(ACTION))]

    @r.get(
        "/escalations/{escalation_id}/review",
        response_model=IncidentReview,
        responses=REPORT_FORMATS,
        dependencies=allowed,
        openapi_extra=action_extra(ACTION),
        summary="After-action review: key moments with when they happened and when the service "
        "learned them, durations, signals (late ones flagged), alerts and deliveries, calls, "
        "convenings, corrections and the tension curve; as JSON, HTML or Markdown",
    )
    async def review(
        request: Request,
        escalation_id: str,
        format: Annotated[Literal["json", "html", "markdown"], Query()] = "json",
        principal: Principal = PRINCIPAL,
    ) -> Any:
        found = await reviews.review(escalation_id, principal)
        if found is None:
            raise NotFound(f"unknown escalation {escalation_id}", field="escalation_id")
        result = "revealed" if sees_contact_details(principal) else "pseudonymised"
        await auth.record(principal.actor, ACTION, f"escalation:{escalation_id}", result, request)
        if format == "html":
            return HTMLResponse(render_html(found, clock.now()))
        if format == "markdown":
            markdown = render_markdown(found, clock.now())
            return PlainTextResponse(markdown, media_type="text/markdown; charset=utf-8")
        return found

    @r.get(
        "/reviews",
        response_model=list[IncidentSummary],
        responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
        dependencies=allowed,
        openapi_extra=action_extra(ACTION),
        summary="Every escalation opened in a period with its key durations (time to alert, to "
        "acknowledgement, to quorum), as JSON or CSV",
    )
    async def period(
        request: Request,
        from_: Annotated[str, Query(alias="from", description="ISO 8601 time with offset")],
        to: Annotated[str, Query(description="ISO 8601 time with offset (exclusive)")],
        format: Annotated[Literal["json", "csv"], Query()] = "json",
        principal: Principal = PRINCIPAL,
    ) -> Any:
        start, end = moment("from", from_), moment("to", to)
        assert start is not None and end is not None  # both are required parameters
        rows = await reviews.period(start, end)
        await auth.record(principal.actor, ACTION, "reviews", "ok", request, f"{len(rows)} rows")
        if format == "csv":
            return Response(summaries_csv(rows), media_type="text/csv; charset=utf-8")
        return rows

    return r
