"""One error shape for every refusal: ``{"errors": [{"field", "message", "code"}]}``.

Whatever is refused for its shape is also kept in the rejected stream with the reason, so a
reporter's input is never silently lost, whichever endpoint it reached.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from domain.errors import ConcurrencyConflict, Conflict, DomainError, NotFound
from domain.intake import CONCURRENT_CHANGE, FieldError, InvalidInput, field_of, pydantic_errors

log = structlog.get_logger(__name__)
Rejecter = Callable[[bytes, str, list[FieldError]], Coroutine[Any, Any, None]]


def problem(status: int, errors: list[FieldError]) -> JSONResponse:
    return JSONResponse({"errors": [e.as_dict() for e in errors]}, status_code=status)


def install_error_handlers(app: FastAPI, reject: Rejecter) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(field_of(e.get("loc", ())), str(e.get("msg")), str(e.get("type")))
            for e in exc.errors()
        ]
        route = getattr(request.scope.get("route"), "name", None) or "unknown"
        await reject(await request.body(), f"http.{route}", errors)
        status = 400 if any(e.code == "json_invalid" for e in errors) else 422
        return problem(status, errors)

    @app.exception_handler(InvalidInput)
    async def _input(request: Request, exc: InvalidInput) -> JSONResponse:
        codes = {e.code for e in exc.errors}
        status = (
            400
            if codes & {"invalid_json", "too_large"}
            else 409
            if "idempotency_key_reused" in codes
            else 422
        )
        return problem(status, exc.errors)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
        return problem(status, [FieldError(exc.field or "$", str(exc), exc.code)])

    @app.exception_handler(ValidationError)
    async def _model(request: Request, exc: ValidationError) -> JSONResponse:
        # A value the request model let through but an event refuses: still the client's input.
        errors = pydantic_errors(exc)
        route = getattr(request.scope.get("route"), "name", None) or "unknown"
        await reject(await request.body(), f"http.{route}", errors)
        return problem(422, errors)

    @app.exception_handler(ConcurrencyConflict)
    async def _busy(request: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return problem(409, [CONCURRENT_CHANGE])

    @app.exception_handler(Exception)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # NATS unreachable, a timeout, a bug. Retrying with the same Idempotency-Key is safe:
        # if it was recorded after all, the retry is answered as a duplicate.
        log.error("http.failed", error=type(exc).__name__, path=request.url.path)
        message = "temporarily unavailable; try again with the same Idempotency-Key"
        return problem(503, [FieldError("$", message, "unavailable")])
