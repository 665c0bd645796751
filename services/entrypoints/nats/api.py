"""The NATS entry point (FastStream): request/reply for police and municipality systems, one
subject per command of :mod:`services.app.commands` (``<prefix>.cmd.<command name>``), all
through the one handler table. Typed subscribers, so the AsyncAPI document shows every
request and its reply (``bondgenoten asyncapi``).

A request is the command's input model plus ``command_id`` (the idempotency key: a retry
answers as before) and, until credentials arrive, ``actor``. Every reply is
``{"ok": true, …}`` (the fields of the HTTP command answer) or
``{"ok": false, "errors": [{field, message, code}]}``. Every refusal keeps the request in the
rejected stream with the reason; a request is always answered.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import ExceptionMiddleware
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from faststream.nats.message import NatsMessage as NatsStreamMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from domain.access import Forbidden, Principal, Role
from domain.errors import ConcurrencyConflict, DomainError
from domain.input import load_json
from domain.intake import CONCURRENT_CHANGE, FieldError, InvalidInput, pydantic_errors
from events.envelope import ACTOR_PATTERN
from services.app import commands as c
from services.app.handlers import CommandHandlers
from services.app.ports import RejectedInputs
from services.settings import Settings

log = structlog.get_logger(__name__)
PROTOCOL_FIELDS = frozenset({"command_id", "actor"})


class Problem(BaseModel):
    field: str
    message: str
    code: str


class Reply(BaseModel):
    """The answer to every request: ``ok`` and the command's result, or the errors."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    command: str | None = None
    event_ids: list[str] = []
    event_types: list[str] = []
    position: int | None = Field(
        default=None, description="log position reflecting the command (HTTP `min_position`)"
    )
    duplicate: bool = False
    escalation_id: str | None = None
    signal_id: str | None = None
    errors: list[Problem] = []


def failed(errors: list[FieldError]) -> dict[str, Any]:
    return {"ok": False, "errors": [e.as_dict() for e in errors]}


@functools.cache
def request_model(command: type[c.Command]) -> type[BaseModel]:
    """The NATS request of a command: its fields plus ``command_id`` and ``actor``."""
    extra: dict[str, Any] = {
        "command_id": (
            str | None,
            Field(default=None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
                  description="idempotency key: a retry with the same id answers as before"),
        ),
    }  # fmt: skip
    if command is not c.SubmitSignal:  # a signal's actor is its reporter
        extra["actor"] = (str, Field(pattern=ACTOR_PATTERN, description="who acts, role:id"))
    model: type[BaseModel] = create_model(
        f"{command.__name__}Request", __base__=command, __doc__=command.__doc__, **extra
    )
    return model


async def decode(message: NatsStreamMessage) -> Any:
    """JSON within limits, or a precise refusal (never a 5xx for what can never succeed)."""
    return load_json(message.body, message.headers.get("content-type"))


def command_subject(subject_prefix: str, name: str) -> str:
    """The request subject of a command: ``<prefix>.cmd.<command name>``."""
    return f"{subject_prefix}.cmd.{name}"


def create_broker(
    url: str, subject_prefix: str, handlers: CommandHandlers, rejected: RejectedInputs
) -> NatsBroker:
    errors = ExceptionMiddleware()

    async def refuse(message: NatsMessage, problems: list[FieldError]) -> dict[str, Any]:
        try:
            subject = message.raw_message.subject.removeprefix(f"{subject_prefix}.cmd.")
            await rejected.keep(message.body, f"nats.{subject}", problems)
        except Exception as exc:  # keeping failed: still answer, and say so in the log
            log.error("nats.reject_not_kept", error=type(exc).__name__)
        return failed(problems)

    @errors.add_handler(ValidationError, publish=True)
    async def _shape(exc: ValidationError, message: NatsMessage) -> dict[str, Any]:
        return await refuse(message, pydantic_errors(exc))

    @errors.add_handler(InvalidInput, publish=True)
    async def _facts(exc: InvalidInput, message: NatsMessage) -> dict[str, Any]:
        return await refuse(message, exc.errors)

    @errors.add_handler(DomainError, publish=True)
    async def _refused(exc: DomainError, message: NatsMessage) -> dict[str, Any]:
        return await refuse(message, [FieldError(exc.field or "$", str(exc), exc.code)])

    @errors.add_handler(ConcurrencyConflict, publish=True)
    async def _busy(exc: ConcurrencyConflict, message: NatsMessage) -> dict[str, Any]:
        return await refuse(message, [CONCURRENT_CHANGE])

    @errors.add_handler(Exception, publish=True)
    async def _unavailable(exc: Exception) -> dict[str, Any]:
        # Always answer: a requester left waiting cannot tell a slow system from a lost one.
        log.error("nats_api.failed", error=type(exc).__name__)
        message = "temporarily unavailable; try again with the same command_id"
        return failed([FieldError("$", message, "unavailable")])

    broker = NatsBroker(
        url.split(","),
        middlewares=[errors],
        # Per-message INFO logs halve throughput; problems are logged by our own code.
        log_level=logging.DEBUG,
    )
    for command in c.COMMANDS:
        subscriber = broker.subscriber(
            command_subject(subject_prefix, command.NAME),
            title=command.NAME,
            description=(command.__doc__ or command.NAME).strip(),
            decoder=decode,
        )
        subscriber(_handler(command, handlers))
    return broker


def _handler(
    command: type[c.Command], handlers: CommandHandlers
) -> Callable[..., Awaitable[Reply]]:
    request = request_model(command)

    async def handle(body: Any) -> Reply:
        fields = body.model_dump(exclude=PROTOCOL_FIELDS)
        cmd = command.model_validate(fields)
        actor = getattr(body, "actor", None) or (
            f"{cmd.source_role.value}:{cmd.reporter}" if isinstance(cmd, c.SubmitSignal) else ""
        )
        result = await handlers.handle(
            cmd, principal=principal_of(actor), key=body.command_id, channel="nats"
        )
        return Reply(ok=True, **result.__dict__)

    # FastStream reads the annotations to validate the body and to write the AsyncAPI schema.
    handle.__annotations__ = {"body": request, "return": Reply}
    handle.__name__ = command.NAME.replace(".", "_").replace("-", "_")
    return handle


def principal_of(actor: str) -> Principal:
    """Until NATS credentials name who sends (nats-auth), the request's ``actor`` does."""
    role, _, id_ = actor.partition(":")
    try:
        return Principal(Role(role), id_)
    except ValueError:
        raise Forbidden(f"unknown role or id in actor {role!r}", field="actor") from None


def asyncapi_document(settings: Settings) -> str:
    """The AsyncAPI 3.0 document of the NATS API, generated from the subscribers above, with
    the reply of every request (FastStream documents requests only)."""
    from faststream.specification import AsyncAPI

    # The document needs the handlers' signatures only: no connection is made.
    url = settings.nats_url or f"nats://localhost:{settings.nats_port}"
    broker = create_broker(url, settings.subject_prefix, None, None)  # type: ignore[arg-type]
    spec = AsyncAPI(
        broker,
        title="Bondgenoten escalation service: NATS API",
        version="1",
        description=__doc__ or "",
    )
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return json.dumps(with_replies(document), indent=2)


def with_replies(document: dict[str, Any]) -> dict[str, Any]:
    """Add the reply (AsyncAPI 3 ``reply``) to every request operation."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    reply_schema = Reply.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in reply_schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas["Reply"] = reply_schema
    components.setdefault("messages", {})["Reply"] = {
        "name": "Reply",
        "title": "Reply",
        "contentType": "application/json",
        "payload": {"$ref": "#/components/schemas/Reply"},
    }
    for operation in document.get("operations", {}).values():
        if operation.get("action") == "receive":
            operation["reply"] = {"messages": [{"$ref": "#/components/messages/Reply"}]}
    return document
