"""One error shape for every refusal: ``{"errors": [{"field", "message", "code"}]}``, also for
what FastAPI and Starlette would answer themselves (unknown route, wrong method, unreadable
body). Every refusal keeps the request in the rejected stream with the reason, so nothing a
client sent is silently lost, whichever endpoint it reached.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.access import Forbidden
from domain.errors import ConcurrencyConflict, Conflict, DomainError, NotFound
from domain.input import UNREADABLE_BODY_CODES, UNSUPPORTED_MEDIA_TYPE, capped_errors
from domain.intake import CONCURRENT_CHANGE, FieldError, InvalidInput, field_of, pydantic_errors
from services.app.ports import Overloaded, RejectedInputs, Unauthenticated
from services.app.queries import NotCaughtUp

log = structlog.get_logger(__name__)


class ProblemItem(BaseModel):
    field: str = Field(description="the field as the client sent it; `$` for the whole request")
    message: str
    code: str = Field(description="stable machine code, e.g. `unknown_theme`, `in_future`")


class Problem(BaseModel):
    """Every refusal, whatever the route."""

    errors: list[ProblemItem]


STATUS_BY_CODE = {
    **dict.fromkeys(UNREADABLE_BODY_CODES, 400),
    "too_large": 413,
    "invalid_xml": 400,  # CAP in: not well-formed
    "dtd_forbidden": 400,  # CAP in: a DOCTYPE (the way entity attacks get in)
    UNSUPPORTED_MEDIA_TYPE: 415,
    "idempotency_key_reused": 409,
}

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "unreadable request (not JSON, too deep, number too long)",
        401: "no bearer token, or an invalid one (signature, issuer, audience, expired)",
        403: "this role may not do this (the role × action matrix), or not for this person",
        404: "unknown escalation, convening, network or ally",
        409: "conflict: not allowed in this state, changed concurrently, or key reused",
        413: "request too large",
        415: "body is not application/json",
        422: "invalid: the field and the reason are named",
        503: "temporarily unavailable or not caught up: retry (same Idempotency-Key)",
    }.items()
}
"""Declared on every route of the OpenAPI document."""


def problem(
    status: int, errors: Sequence[FieldError], headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"errors": [e.as_dict() for e in errors]}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, rejected: RejectedInputs) -> None:
    async def refuse(request: Request, status: int, errors: Sequence[FieldError]) -> JSONResponse:
        """Answer a refusal and keep what was sent (body, or method and path for a GET)."""
        route = getattr(request.scope.get("route"), "name", None) or "unrouted"
        body = await request.body()
        if not body:
            body = f"{request.method} {request.url.path}?{request.url.query}".encode()
        try:
            await rejected.keep(body, f"http.{route}", errors)
        except Exception as exc:  # keeping failed: still answer, and say so in the log
            log.error("http.reject_not_kept", error=type(exc).__name__, route=route)
        return problem(status, errors)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = capped_errors(
            [
                FieldError(field_of(e.get("loc", ())), str(e.get("msg")), str(e.get("type")))
                for e in exc.errors()
            ]
        )
        status = 400 if any(e.code == "json_invalid" for e in errors) else 422
        return await refuse(request, status, errors)

    @app.exception_handler(InvalidInput)
    async def _input(request: Request, exc: InvalidInput) -> JSONResponse:
        status = max(STATUS_BY_CODE.get(e.code, 422) for e in exc.errors)
        return await refuse(request, status, exc.errors)

    @app.exception_handler(ValidationError)
    async def _model(request: Request, exc: ValidationError) -> JSONResponse:
        return await refuse(request, 422, pydantic_errors(exc))

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        answer = await refuse(request, 401, [FieldError(exc.field, str(exc), "unauthenticated")])
        given = request.headers.get("authorization")
        answer.headers["WWW-Authenticate"] = (
            'Bearer error="invalid_token"' if given else 'Bearer realm="bondgenoten"'
        )
        return answer

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
        if isinstance(exc, Forbidden):
            status = 403
        return await refuse(request, status, [FieldError(exc.field or "$", str(exc), exc.code)])

    @app.exception_handler(ConcurrencyConflict)
    async def _busy(request: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return await refuse(request, 409, [CONCURRENT_CHANGE])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own answers: unknown route (404), wrong method (405), ...
        codes = {404: "unknown_route", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "refused")
        field = "$method" if exc.status_code == 405 else "$path"
        if exc.status_code >= 500:
            return problem(exc.status_code, [FieldError("$", str(exc.detail), code)])
        return await refuse(request, exc.status_code, [FieldError(field, str(exc.detail), code)])

    @app.exception_handler(NotCaughtUp)
    async def _lagging(request: Request, exc: NotCaughtUp) -> JSONResponse:
        error = FieldError("min_position", str(exc), "not_caught_up")
        return problem(503, [error], headers={"Retry-After": "1"})

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        message = "too many requests at once; try again shortly with the same Idempotency-Key"
        return problem(503, [FieldError("$", message, "unavailable")], {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # NATS unreachable, a timeout, a bug. Retrying with the same Idempotency-Key is safe:
        # if it was recorded after all, the retry is answered as a duplicate.
        # The route's name, never the path: a client chooses the path (and could put anything
        # in it, an e-mail address say) and logs must not carry what clients type.
        route = getattr(request.scope.get("route"), "name", None) or "unrouted"
        log.error("http.failed", error=type(exc).__name__, route=route)
        message = "temporarily unavailable; try again with the same Idempotency-Key"
        return problem(503, [FieldError("$", message, "unavailable")], {"Retry-After": "1"})
