"""NATS request/reply adapter (FastStream): the integration API for police and municipality
systems. Typed subscribers, so the AsyncAPI document (``bondgenoten asyncapi``) shows the schemas.

Every reply is ``{"ok": true, ...}`` or ``{"ok": false, "errors": [{field, message, code}]}``.
Input refused for its shape (FastStream's pydantic validation) or for its facts is kept in the
rejected stream with the reason, like on HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream import ExceptionMiddleware
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.errors import ConcurrencyConflict, DomainError
from domain.intake import (
    CONCURRENT_CHANGE,
    FieldError,
    InvalidInput,
    SignalSubmission,
    pydantic_errors,
)
from events.envelope import ACTOR_PATTERN, AreaCode
from events.signals import Community, Theme
from services.adapters.jetstream.topology import Topology
from services.app.handlers import Outcome
from services.app.intake import SignalIntake
from services.app.workflow import Workflow
from services.settings import Settings

log = structlog.get_logger(__name__)


class SignalReply(BaseModel):
    ok: bool
    signal_id: str | None = None
    event_id: str | None = None
    position: int | None = None
    duplicate: bool = False
    errors: list[dict[str, str]] = []


def _errors(errors: list[FieldError]) -> dict[str, Any]:
    return {"ok": False, "errors": [e.as_dict() for e in errors]}


class EscalationCommandIn(BaseModel):
    """A command on one escalation from an integrated system."""

    model_config = ConfigDict(extra="forbid")
    escalation_id: str = Field(min_length=1, max_length=128)
    actor: str = Field(pattern=ACTOR_PATTERN)
    command_id: str = Field(min_length=1, max_length=128, description="idempotency key")
    note: str = Field(default="", max_length=500)


class DeclareCommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    area: AreaCode
    theme: Theme
    actor: str = Field(pattern=ACTOR_PATTERN)
    command_id: str = Field(min_length=1, max_length=128, description="idempotency key")
    reason: str = Field(min_length=1, max_length=500)
    communities: list[Community] = []
    major_incident: bool = False


class CommandReply(BaseModel):
    ok: bool
    escalation_id: str | None = None
    event_types: list[str] = []
    duplicate: bool = False
    errors: list[dict[str, str]] = []


def _reply(outcome: Outcome) -> CommandReply:
    return CommandReply(
        ok=True,
        escalation_id=outcome.escalation_id,
        event_types=[e.type.removeprefix("nl.bondgenoten.") for e in outcome.events],
        duplicate=outcome.duplicate,
    )


def create_broker(
    url: str, topology: Topology, intake: SignalIntake, workflow: Workflow
) -> NatsBroker:
    errors = ExceptionMiddleware()

    @errors.add_handler(ValidationError, publish=True)
    async def _shape(exc: ValidationError, message: NatsMessage) -> dict[str, Any]:
        problems = pydantic_errors(exc)
        await intake.reject(message.body, "nats", problems)
        return _errors(problems)

    @errors.add_handler(InvalidInput, publish=True)
    async def _facts(exc: InvalidInput) -> dict[str, Any]:
        return _errors(exc.errors)

    @errors.add_handler(DomainError, publish=True)
    async def _refused(exc: DomainError) -> dict[str, Any]:
        return _errors([FieldError(exc.field or "$", str(exc), exc.code)])

    @errors.add_handler(ConcurrencyConflict, publish=True)
    async def _busy(exc: ConcurrencyConflict) -> dict[str, Any]:
        return _errors([CONCURRENT_CHANGE])

    @errors.add_handler(Exception, publish=True)
    async def _unavailable(exc: Exception) -> dict[str, Any]:
        # Always answer: a requester left waiting cannot tell a slow system from a lost one.
        log.error("nats_api.failed", error=type(exc).__name__)
        message = "temporarily unavailable; try again with the same command_id"
        return _errors([FieldError("$", message, "unavailable")])

    broker = NatsBroker(
        url.split(","),
        middlewares=[errors],
        # Per-message INFO logs halve throughput; problems are logged by our own code.
        log_level=logging.DEBUG,
    )

    @broker.subscriber(
        topology.command_subject("signal.submit"),
        title="signal.submit",
        description="Report a signal (signaal melden). Replies with its id or precise errors.",
    )
    async def submit_signal(body: SignalSubmission, message: NatsMessage) -> SignalReply:
        accepted = await intake.submit_parsed(body, message.body, "nats")
        return SignalReply(ok=True, **accepted.__dict__)

    _escalation_handlers(broker, topology, workflow)
    return broker


def _escalation_handlers(broker: NatsBroker, topology: Topology, workflow: Workflow) -> None:
    @broker.subscriber(
        topology.command_subject("escalation.declare"),
        title="escalation.declare",
        description="Police or municipality declare an escalation (opschalen).",
    )
    async def declare(body: DeclareCommandIn) -> CommandReply:
        return _reply(
            await workflow.declare(
                body.area,
                body.theme,
                body.actor,
                body.reason,
                body.command_id,
                communities=body.communities,
                major_incident=body.major_incident,
            )
        )

    @broker.subscriber(
        topology.command_subject("escalation.acknowledge"),
        title="escalation.acknowledge",
        description="Acknowledge an alert: stops the escalation ladder.",
    )
    async def acknowledge(body: EscalationCommandIn) -> CommandReply:
        return _reply(
            await workflow.acknowledge(body.escalation_id, body.actor, body.note, body.command_id)
        )

    def finisher(how: str) -> Callable[[EscalationCommandIn], Awaitable[CommandReply]]:
        async def finish(body: EscalationCommandIn) -> CommandReply:
            outcome = await workflow.finish(
                body.escalation_id, how, body.actor, body.note, body.command_id
            )
            return _reply(outcome)

        return finish

    for how in ("de-escalate", "resolve", "close"):
        subject = topology.command_subject(f"escalation.{how}")
        broker.subscriber(subject, title=f"escalation.{how}")(finisher(how))


def asyncapi_document(settings: Settings) -> str:
    """The AsyncAPI 3.0 document of the NATS API, generated from the subscribers above."""
    from faststream.specification import AsyncAPI

    # The document needs the handlers' signatures only: no connection is made.
    topology = Topology(settings.stream_prefix, settings.subject_prefix)
    url = settings.nats_url or f"nats://localhost:{settings.nats_port}"
    broker = create_broker(url, topology, None, None)  # type: ignore[arg-type]
    spec = AsyncAPI(
        broker,
        title="Bondgenoten escalation service: NATS API",
        version="1",
        description="Request/reply commands for police and municipality systems.",
    )
    return spec.to_specification().to_json()
