"""Command routes: one per command of :mod:`services.app.commands`, generated from the table
below, all through the one handler table. The body is the command's input model (minus the
fields the path carries); ``Idempotency-Key`` makes a retry answer as before.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from domain.access import Principal
from domain.input import load_json
from domain.intake import FieldError, InvalidInput
from services.app import commands as c
from services.app.handlers import CommandHandlers, CommandResult
from services.entrypoints.http.auth import Auth, action_extra, origin_of
from services.entrypoints.http.errors import ERROR_RESPONSES

KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


class CommandAnswer(BaseModel):
    """The answer to every command."""

    command: str
    event_ids: list[str]
    event_types: list[str]
    position: int = Field(
        description="log position reflecting this command; pass it as `min_position` to a "
        "read to see the command's effect (read-your-writes)"
    )
    duplicate: bool = Field(description="a retry with the same Idempotency-Key: nothing new")
    escalation_id: str | None = None
    signal_id: str | None = None


@dataclass(frozen=True)
class Route:
    command: type[c.Command]
    method: str
    path: str
    creates: bool = False
    """201 when it records something new, else 200."""
    query: tuple[str, ...] = ()
    """Fields taken from the query string (a DELETE has no body)."""


ROUTES: tuple[Route, ...] = (
    Route(c.SubmitSignal, "POST", "/signals", creates=True),
    Route(c.SubmitUrgentSignal, "POST", "/signals/urgent", creates=True),
    Route(c.DeclareEscalation, "POST", "/escalations", creates=True),
    Route(c.AcknowledgeEscalation, "POST", "/escalations/{escalation_id}/acknowledge"),
    Route(c.DeEscalate, "POST", "/escalations/{escalation_id}/de-escalate"),
    Route(c.ResolveEscalation, "POST", "/escalations/{escalation_id}/resolve"),
    Route(c.CloseEscalation, "POST", "/escalations/{escalation_id}/close"),
    Route(c.CallConvening, "POST", "/escalations/{escalation_id}/convenings", creates=True),
    Route(c.RecordRsvp, "POST", "/convenings/{convening_id}/rsvps", creates=True),
    Route(c.MarkConvened, "POST", "/convenings/{convening_id}/convened"),
    Route(c.FormNetwork, "POST", "/networks", creates=True),
    Route(c.EnrollAlly, "POST", "/networks/{network_id}/allies", creates=True),
    Route(c.RemoveAlly, "DELETE", "/networks/{network_id}/allies/{ally_id}", query=("reason",)),
    Route(c.EraseAlly, "POST", "/networks/{network_id}/allies/{ally_id}/erase"),
    Route(c.ChangeAvailability, "PUT", "/networks/{network_id}/allies/{ally_id}/availability"),
    Route(c.AssignDutyContact, "PUT", "/networks/{network_id}/duty-contacts/{role}"),
    Route(c.RecordCallOutcome, "POST", "/networks/{network_id}/call-outcomes", creates=True),
    Route(c.StartPulseCheck, "POST", "/pulses", creates=True),
    Route(c.RecordPulseAnswer, "POST", "/pulses/{pulse_id}/answers", creates=True),
    Route(c.CompileFramework, "POST", "/pulses/{pulse_id}/framework"),
    Route(c.RaiseQuestion, "POST", "/questions", creates=True),
    Route(c.AnswerQuestion, "POST", "/questions/{question_id}/answer"),
    Route(c.RelayAnswer, "POST", "/questions/{question_id}/relayed", creates=True),
    Route(c.RequestMobilisation, "POST", "/mobilisations", creates=True),
    Route(c.AnswerMobilisation, "POST", "/mobilisations/{request_id}/answers", creates=True),
    Route(c.ReportMobilisation, "POST", "/mobilisations/{request_id}/reports", creates=True),
    Route(c.ChangeNetworkSettings, "PUT", "/networks/{network_id}/settings"),
    Route(c.PlanMeeting, "POST", "/networks/{network_id}/meetings", creates=True),
    Route(c.AssignChair, "PUT", "/networks/{network_id}/meetings/{meeting_id}/chair"),
    Route(c.RecordMeeting, "POST", "/networks/{network_id}/meetings/{meeting_id}/held"),
    Route(c.RecordEvaluation, "POST", "/networks/{network_id}/evaluations", creates=True),
    Route(c.AddCoreMember, "PUT", "/networks/{network_id}/core-group/{member_id}"),
    Route(c.RemoveCoreMember, "DELETE", "/networks/{network_id}/core-group/{member_id}"),
    Route(c.AnnounceHandover, "POST", "/networks/{network_id}/seats/{role}/handover"),
    Route(c.IntroduceSuccessor, "POST", "/networks/{network_id}/seats/{role}/successor"),
    Route(c.VacateSeat, "POST", "/networks/{network_id}/seats/{role}/vacate"),
)


def answer(result: CommandResult) -> CommandAnswer:
    return CommandAnswer(
        command=result.command,
        event_ids=list(result.event_ids),
        event_types=list(result.event_types),
        position=result.position,
        duplicate=result.duplicate,
        escalation_id=result.escalation_id,
        signal_id=result.signal_id,
    )


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not KEY.match(key):
        message = "1-128 printable ASCII characters without spaces"
        raise InvalidInput([FieldError("Idempotency-Key", message, "invalid_key")])
    return key


def _endpoint(
    route: Route, handlers: CommandHandlers
) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        principal: Principal = request.state.principal  # set by the route's auth dependency
        key = idempotency_key(request)
        raw = await request.body()
        body: Any = {}
        if raw:  # no body at all: only the path and query fields (the model names what lacks)
            # No Content-Type is refused like a wrong one: HTTP clients say what they send.
            body = load_json(raw, request.headers.get("content-type", ""))
            if not isinstance(body, dict):
                raise InvalidInput([FieldError("$", "expected a JSON object", "invalid_type")])
        fields = {**request.path_params}
        fields.update(
            {q: request.query_params[q] for q in route.query if q in request.query_params}
        )
        for name in fields:
            if name in body and body[name] != fields[name]:
                message = "given in the path; leave it out of the body"
                raise InvalidInput([FieldError(name, message, "conflicts_with_path")])
        command = route.command.model_validate({**body, **fields})
        result = await handlers.handle(
            command, principal=principal, key=key, channel="http", origin=origin_of(request)
        )
        status = 201 if route.creates and result.event_ids and not result.duplicate else 200
        return JSONResponse(answer(result).model_dump(mode="json"), status_code=status)

    endpoint.__name__ = route.command.NAME.replace(".", "_").replace("-", "_")
    return endpoint


@functools.cache
def body_schema(route: Route) -> dict[str, Any]:
    """The command's JSON schema without the path and query fields, with references into the
    OpenAPI components (registered by :func:`register_schemas`)."""
    schema = route.command.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    skip = set(route.command.PATH) | set(route.query)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in skip}
    schema["required"] = [r for r in schema.get("required", []) if r not in skip]
    return schema


def register_schemas(openapi: dict[str, Any]) -> None:
    """Put every model the command bodies refer to into the document's components, so every
    ``$ref`` resolves."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for route in ROUTES:
        schema = route.command.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.get("$defs", {}).items():
            components.setdefault(name, definition)


@functools.cache
def _parameters(route: Route) -> list[dict[str, Any]]:
    schema = route.command.model_json_schema(ref_template="#/components/schemas/{model}")
    properties = schema["properties"]
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": properties[p]}
        for p in route.command.PATH
    ]
    params += [{"name": q, "in": "query", "schema": properties[q]} for q in route.query]
    params.append(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "description": "a retry with the same key answers as before and records nothing; "
            "the same key with a different command is refused (409)",
            "schema": {"type": "string", "maxLength": 128},
        }
    )
    return params


def add_command_routes(app: FastAPI, prefix: str, handlers: CommandHandlers, auth: Auth) -> None:
    """One route per command; who acts comes from the bearer token (the route's dependency
    authenticates and checks the matrix before the body is read)."""
    for route in ROUTES:
        extra: dict[str, Any] = {
            "parameters": copy.deepcopy(_parameters(route)),
            **action_extra(route.command.NAME),
        }
        if route.method != "DELETE":
            extra["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": copy.deepcopy(body_schema(route))}},
            }
        app.add_api_route(
            prefix + route.path,
            _endpoint(route, handlers),
            methods=[route.method],
            dependencies=[Depends(auth.require(route.command.NAME))],
            status_code=201 if route.creates else 200,
            response_model=CommandAnswer,
            responses=ERROR_RESPONSES,
            summary=(route.command.__doc__ or route.command.NAME).split("\n")[0],
            description=f"Command `{route.command.NAME}` (NATS: `<prefix>.cmd.<the same name>`).",
            openapi_extra=extra,
            tags=[route.command.NAME.split(".")[0]],
        )
