"""NATS request/reply adapter (FastStream): the integration API for police and municipality
systems. Typed subscribers, so the AsyncAPI document (``bondgenoten asyncapi``) shows the schemas.

Every reply is ``{"ok": true, ...}`` or ``{"ok": false, "errors": [{field, message, code}]}``.
Input refused for its shape (FastStream's pydantic validation) or for its facts is kept in the
rejected stream with the reason, like on HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

from faststream import ExceptionMiddleware
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from pydantic import BaseModel, ValidationError

from domain.errors import DomainError
from domain.intake import FieldError, InvalidInput, SignalSubmission, pydantic_errors
from services.intake import SignalIntake
from services.nats.topology import Topology


class SignalReply(BaseModel):
    ok: bool
    signal_id: str | None = None
    event_id: str | None = None
    position: int | None = None
    duplicate: bool = False
    errors: list[dict[str, str]] = []


def _errors(errors: list[FieldError]) -> dict[str, Any]:
    return {"ok": False, "errors": [e.as_dict() for e in errors]}


def create_broker(url: str, topology: Topology, intake: SignalIntake) -> NatsBroker:
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

    return broker


def asyncapi_document(topology: Topology) -> str:
    """The AsyncAPI 3.0 document of the NATS API, generated from the subscribers above."""
    from faststream.specification import AsyncAPI

    from services.clock import SystemClock

    # The document needs the handlers' signatures only: no connection is made.
    intake = SignalIntake(None, SystemClock(), frozenset, lambda _id: None)  # type: ignore[arg-type]
    broker = create_broker("nats://localhost:4222", topology, intake)
    spec = AsyncAPI(
        broker,
        title="Bondgenoten escalation service: NATS API",
        version="1",
        description="Request/reply commands for police and municipality systems.",
    )
    return spec.to_specification().to_json()
