"""The NATS entry point (FastStream): request/reply for police and municipality systems, one
subject per command of :mod:`services.app.commands`, all through the one handler table. Typed
subscribers, so the AsyncAPI document shows every request and its reply (``bondgenoten
asyncapi``).

**Who acts comes from the subject, never from the body.** A command's subject is
``<prefix>.cmd.<role>.<id>.<command name>`` (e.g. ``bg.cmd.police.meldkamer-oost.
escalation.declare``); the server's generated permissions let an integration's nkey publish only
on its own ``<prefix>.cmd.<role>.<id>.>`` (``services.adapters.jetstream.authorization``), so
the subject is the credential's identity. The subscriber makes it a
:class:`domain.access.Principal`, and the handler table authorizes it (the role x action
matrix) before anything is decided.

A request is the command's input model plus ``command_id`` (the idempotency key: a retry
answers as before).

**Reads** are request/reply too, on ``<prefix>.query.<role>.<id>.<query name>`` (e.g.
``bg.query.police.meldkamer-oost.tension-map``), one subject per query of
:mod:`services.app.queries`, answered by the same handler table as HTTP ``/api/v1``: the
role x action matrix decides, and allies' data is redacted for the reader's role. Every query
takes ``as_of`` (valid time), ``as_known_at`` (recorded time) and ``min_position``
(read-your-writes).

A command's reply is ``{"ok": true, …}`` (the fields of the HTTP command answer), a query's
``{"ok": true, "result": …}``; a refusal is ``{"ok": false, "errors": [{field, message,
code}]}``. Every refusal (including ``forbidden``)
keeps the request in the rejected stream with the reason; a request is always answered.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import ContextRepo, ExceptionMiddleware
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from faststream.nats.message import NatsMessage as NatsStreamMessage
from faststream.nats.security import NatsCredentials, NatsNKey
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from domain.access import OUTSIDE_ROLES, Forbidden, Principal, authorize, principal_of
from domain.errors import ConcurrencyConflict, DomainError
from domain.input import load_json
from domain.intake import CONCURRENT_CHANGE, FieldError, InvalidInput, pydantic_errors
from services.app import commands as c
from services.app.handlers import CommandHandlers
from services.app.outbound import EVENTS, OutboundEscalationEvent
from services.app.ports import Overloaded, RejectedInputs
from services.app.queries import QUERIES, NotCaughtUp, Query, QueryHandlers, served
from services.app.tracing import span
from services.settings import Settings

log = structlog.get_logger(__name__)
PROTOCOL_FIELDS = frozenset({"command_id"})


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
    """The NATS request of a command: its fields plus ``command_id`` (no actor: the subject
    says who acts)."""
    extra: dict[str, Any] = {
        "command_id": (
            str | None,
            Field(default=None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
                  description="idempotency key: a retry with the same id answers as before"),
        ),
    }  # fmt: skip
    model: type[BaseModel] = create_model(
        f"{command.__name__}Request", __base__=command, __doc__=command.__doc__, **extra
    )
    return model


QUERY_BY_NAME = {q.NAME: q for q in QUERIES}
QUERY_TOKEN = "query"  # noqa: S105 - a subject token, not a password
"""The second token of a query's subject (a command's is ``cmd``)."""


def action_of(tokens: list[str]) -> str:
    """The matrix action of a request subject: a command's name is its action; a query names
    its own (``<prefix>.cmd|query.<role>.<id>.<name>``, the prefix one token)."""
    name = ".".join(tokens[4:])
    return QUERY_BY_NAME[name].ACTION if tokens[1] == QUERY_TOKEN else name


async def decode(message: NatsStreamMessage) -> Any:
    """Authorized first (a forbidden request is refused before its body is read), then JSON
    within limits, or a precise refusal (never a 5xx for what can never succeed)."""
    tokens = message.raw_message.subject.split(".")
    authorize(principal_of(tokens[2], tokens[3]), action_of(tokens))
    return load_json(message.body, message.headers.get("content-type"))


def command_subject(subject_prefix: str, name: str, principal: Principal, kind: str = "cmd") -> str:
    """The request subject of a command (or a query, ``kind`` ``query``) for one identity:
    ``<prefix>.cmd.<role>.<id>.<command name>``."""
    return f"{subject_prefix}.{kind}.{principal.role.value}.{principal.id}.{name}"


def subscription_subject(subject_prefix: str, name: str, kind: str = "cmd") -> str:
    """What the service subscribes to for a command (or a query, ``kind`` ``query``): every
    identity (FastStream path parameters ``role`` and ``id``)."""
    return f"{subject_prefix}.{kind}.{{role}}.{{id}}.{name}"


FASTSTREAM_LOG = logging.getLogger("bondgenoten.faststream")
FASTSTREAM_LOG.setLevel(logging.WARNING)
MAX_WORKERS = 256
"""Concurrent requests per command subject."""


QUEUE_GROUP = "bondgenoten"


def create_broker(
    url: str,
    subject_prefix: str,
    handlers: CommandHandlers,
    rejected: RejectedInputs,
    queries: QueryHandlers,
    **connection: Any,
) -> NatsBroker:
    """``connection``: nats-py connect options, e.g. ``nkeys_seed`` or ``user_credentials`` (the
    service's credential) and ``error_cb`` (permission denials arrive only there)."""
    errors = ExceptionMiddleware()
    if "nkeys_seed" in connection:
        connection["security"] = NatsNKey.from_file(connection.pop("nkeys_seed"))
    elif "user_credentials" in connection:
        connection["security"] = NatsCredentials.from_file(connection.pop("user_credentials"))

    async def refuse(message: NatsMessage, problems: list[FieldError]) -> dict[str, Any]:
        try:
            # <prefix>.cmd|query.<role>.<id>.<name>: kept per command or query, not per identity
            tokens = message.raw_message.subject.split(".")
            name = ".".join(tokens[4:])
            kind = f"{QUERY_TOKEN}.{name}" if tokens[1] == QUERY_TOKEN else name
            await rejected.keep(message.body, f"nats.{kind}", problems)
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
        # A forbidden identity: the subject (the credential) is what made it so.
        field = exc.field or ("subject" if isinstance(exc, Forbidden) else "$")
        return await refuse(message, [FieldError(field, str(exc), exc.code)])

    @errors.add_handler(ConcurrencyConflict, publish=True)
    async def _busy(exc: ConcurrencyConflict, message: NatsMessage) -> dict[str, Any]:
        return await refuse(message, [CONCURRENT_CHANGE])

    @errors.add_handler(NotCaughtUp, publish=True)
    async def _lagging(exc: NotCaughtUp) -> dict[str, Any]:
        return failed([FieldError("min_position", str(exc), "not_caught_up")])

    @errors.add_handler(Overloaded, publish=True)
    async def _overloaded(exc: Overloaded) -> dict[str, Any]:
        message = "too many requests at once; try again shortly with the same command_id"
        return failed([FieldError("$", message, "unavailable")])

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
        # FastStream's own notes (one per worker task at shutdown, ...) only from WARNING up:
        # they would run through the Dutch story on a terminal.
        logger=FASTSTREAM_LOG,
        **connection,
    )
    for command in c.COMMANDS:
        subscriber = broker.subscriber(
            subscription_subject(subject_prefix, command.NAME),
            title=command.NAME,
            description=(command.__doc__ or command.NAME).strip(),
            decoder=decode,
            # Requests are decided concurrently (their appends share group commits); urgent
            # commands (signal.submit-urgent, declare, acknowledge) have subscribers of their
            # own, so they never wait behind a queue of routine signals.
            max_workers=MAX_WORKERS,
            # Several instances share the requests: each one is answered by one of them.
            queue=QUEUE_GROUP,
        )
        subscriber(_handler(command, handlers, broker.context))
    for query in QUERIES:
        subscriber = broker.subscriber(
            subscription_subject(subject_prefix, query.NAME, QUERY_TOKEN),
            title=f"{QUERY_TOKEN}.{query.NAME}",
            description=(query.__doc__ or query.NAME).strip(),
            decoder=decode,
            max_workers=MAX_WORKERS,
            queue=QUEUE_GROUP,
        )
        subscriber(_query_handler(query, queries, broker.context))
    return broker


def _query_handler(
    query: type[Query], queries: QueryHandlers, context: ContextRepo
) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def handle(body: Query) -> dict[str, Any]:
        tokens = context.get_local("message").raw_message.subject.split(".")
        principal = principal_of(tokens[2], tokens[3])
        with span(f"nats query {query.NAME}", SpanKind.SERVER, **{"bondgenoten.role": tokens[2]}):
            result = await queries.answer(body, principal=principal, channel="nats")
        return {"ok": True, "result": served(body, result)}

    # The body is validated as the query (its fields, the moments, nothing else); the reply's
    # schema per query is added to the AsyncAPI document by ``with_replies``.
    handle.__annotations__ = {"body": query, "return": dict[str, Any]}
    handle.__name__ = f"query_{query.NAME.replace('-', '_')}"
    return handle


def _handler(
    command: type[c.Command], handlers: CommandHandlers, context: ContextRepo
) -> Callable[..., Awaitable[Reply]]:
    request = request_model(command)

    async def handle(body: Any) -> Reply:
        # Who sends it: the subject, read from the message itself. (FastStream's Path()
        # parameters are resolved in a worker thread per request: two thread hops per
        # command, queueing behind the thread limit under load.)
        tokens = context.get_local("message").raw_message.subject.split(".")
        principal = principal_of(tokens[2], tokens[3])
        cmd = command.model_validate(body.model_dump(exclude=PROTOCOL_FIELDS))
        with span(f"nats {command.NAME}", SpanKind.SERVER, **{"bondgenoten.role": tokens[2]}):
            result = await handlers.handle(
                cmd, principal=principal, key=body.command_id, channel="nats", origin="nats"
            )
        return Reply(ok=True, **result.__dict__)

    # FastStream reads the annotations to validate the body and to write the AsyncAPI schema
    # (the subject's ``{role}`` and ``{id}`` stay documented as its parameters).
    handle.__annotations__ = {"body": request, "return": Reply}
    handle.__name__ = command.NAME.replace(".", "_").replace("-", "_")
    return handle


def asyncapi_document(settings: Settings) -> str:
    """The AsyncAPI 3.0 document of the NATS API, generated from the subscribers above, with
    the reply of every request (FastStream documents requests only)."""
    from faststream.specification import AsyncAPI

    # The document needs the handlers' signatures only: no connection is made.
    url = settings.nats_url or f"nats://localhost:{settings.nats_port}"
    broker = create_broker(url, settings.subject_prefix, None, None, None)  # type: ignore[arg-type]
    document_outbound(broker, settings.subject_prefix, settings.stream_prefix)
    spec = AsyncAPI(
        broker,
        title="Bondgenoten escalation service: NATS API",
        version="1",
        description=__doc__ or "",
    )
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return json.dumps(with_outbound(with_identity(with_replies(document))), indent=2)


OUTBOUND_CHANNEL = "outbound.escalation"


def outbound_address(subject_prefix: str) -> str:
    """The outbound subjects with their parameters (the reactor publishes on
    ``services.adapters.jetstream.topology.Topology.outbound_subject``: the same shape)."""
    return f"{subject_prefix}.out.escalation.{{municipality}}.{{event}}"


def document_outbound(broker: NatsBroker, subject_prefix: str, stream_prefix: str) -> None:
    """Declare the outbound escalation events for the AsyncAPI document (a ``send``
    operation of the service). The service publishes them from the log
    (``services.app.outbound``), not through this publisher."""
    broker.publisher(
        outbound_address(subject_prefix),
        title=OUTBOUND_CHANNEL,
        description=(
            f"Escalation events for operations systems, kept 7 days in the stream "
            f"`{stream_prefix}_OUTBOUND`. Subscribe live on `{subject_prefix}.out.escalation.>` "
            f"(or one municipality, `{subject_prefix}.out.escalation.GM0034.>`), or resume "
            f"from the durable consumer `<role>-<id>` on `{stream_prefix}_OUTBOUND`, with the "
            "nkey of a police, municipality or crisis identity. `Nats-Msg-Id` is the event id: "
            "each event is published once, also when the log is read again. The same messages "
            "go to the signed webhook feeds (`BONDGENOTEN_OUTBOUND_WEBHOOKS`)."
        ),
        schema=OutboundEscalationEvent,
    )


def with_outbound(document: dict[str, Any]) -> dict[str, Any]:
    """The outbound channel's parameters (FastStream documents a publisher's subject as is)."""
    events = list(EVENTS)
    for channel in document.get("channels", {}).values():
        if "{municipality}" in channel.get("address", ""):
            channel["parameters"] = {
                "municipality": {
                    "description": "CBS municipality code of the escalation's area",
                    "examples": ["GM0034"],
                },
                "event": {"description": "what happened to the escalation", "enum": events},
            }
    return document


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
    for name, operation in document.get("operations", {}).items():
        if operation.get("action") != "receive":
            continue
        reply = "Reply"
        query = QUERY_BY_NAME.get(name.removeprefix(f"{QUERY_TOKEN}."))
        if name.startswith(f"{QUERY_TOKEN}.") and query is not None:
            reply = _document_query_reply(query, schemas, components["messages"])
        operation["reply"] = {"messages": [{"$ref": f"#/components/messages/{reply}"}]}
    return document


def _document_query_reply(
    query: type[Query], schemas: dict[str, Any], messages: dict[str, Any]
) -> str:
    """The reply of one query (``ok``, its ``result`` or the errors) as a schema and message;
    returns the message's name."""
    name = f"{query.__name__.removesuffix('Query')}Reply"
    model = create_model(
        name,
        ok=(bool, ...),
        result=(query.RESULT | None, Field(default=None, description="the answer when ok")),
        errors=(list[Problem], Field(default_factory=list)),
    )
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for defined, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(defined, definition)
    schemas[name] = schema
    messages[name] = {
        "name": name,
        "title": name,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{name}"},
    }
    return name


NKEY_SECURITY = {
    "type": "asymmetricEncryption",
    "description": (
        "NATS nkey (ed25519): the client signs the server's nonce with its seed. Each "
        "integration identity has its own nkey (`bondgenoten nats-user --role <role> --id <id>`) "
        "and may publish only on `<prefix>.cmd.<role>.<id>.>` and receive on its inbox prefix "
        "`_INBOX.<role>.<id>` (nats-py: `inbox_prefix`); nothing else (no event subjects, no "
        "JetStream API, no KV)."
    ),
}


def with_identity(document: dict[str, Any]) -> dict[str, Any]:
    """Document the subject's identity parameters and the nkey security scheme."""
    roles = [r.value for r in OUTSIDE_ROLES]
    parameters = {
        "role": {
            "description": "the role of the credential's identity (domain.access.Role)",
            "enum": roles,
        },
        "id": {
            "description": "the identity within its role, one subject token, e.g. "
            "meldkamer-oost; only this identity's nkey may publish here",
            "examples": ["meldkamer-oost"],
        },
    }
    for channel in document.get("channels", {}).values():
        if "{role}" in channel.get("address", ""):
            channel["parameters"] = parameters
    document.setdefault("components", {}).setdefault("securitySchemes", {})["nkey"] = NKEY_SECURITY
    for server in document.get("servers", {}).values():
        server["security"] = [{"$ref": "#/components/securitySchemes/nkey"}]
    return document
