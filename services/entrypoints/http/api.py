"""The JSON API (``/api/v1``). Thin: parse, call the application layer, shape the answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import Conflict, NotFound
from domain.intake import (
    MAX_INPUT_BYTES,
    FieldError,
    InvalidInput,
    SignalSubmission,
)
from domain.network import (
    AssignDutyContact,
    ChangeAvailability,
    EnrollAlly,
    FormNetwork,
    NetworkCommand,
    RecordCallOutcome,
    RemoveAlly,
    contact_decider,
    decide_call_outcome,
    network_decider,
)
from events.envelope import (
    ACTOR_PATTERN,
    AggregateRef,
    AreaCode,
    Token,
)
from events.network import (
    AllyAvailabilityChanged,
    AllyEnrolled,
    AllyPersonal,
    Availability,
    CallOutcome,
    CallOutcomeRecorded,
    DutyContactAssigned,
    DutyContactPersonal,
    DutyRole,
    NetworkFormed,
)
from events.signals import Theme
from projections.call_lists import CallList, NetworkHealth, network_health
from projections.tension_map import TensionMapView
from services.adapters.clock import Clock
from services.app.handlers import CommandMeta, Outcome, execute
from services.app.intake import SignalIntake
from services.app.links import RsvpLinks
from services.app.ports import EventStore
from services.app.readmodels import ReadModels
from services.app.workflow import Workflow
from services.entrypoints.http.errors import install_error_handlers
from services.entrypoints.http.escalations import escalation_router
from services.entrypoints.http.rsvp_pages import rsvp_router
from services.texts_nl.labels import THEME_LABELS

API = "/api/v1"
SOURCE = "/bondgenoten/http"


@dataclass
class ApiDeps:
    store: EventStore
    clock: Clock
    intake: SignalIntake
    read: ReadModels
    themes: frozenset[str]
    workflow: Workflow
    links: RsvpLinks


def recorded(outcome: Outcome) -> Recorded:
    return Recorded(
        event_ids=[e.id for e in outcome.events],
        position=outcome.result.version if outcome.result else None,
        duplicate=outcome.duplicate,
    )


class Recorded(BaseModel):
    event_ids: list[str]
    position: int | None
    duplicate: bool


class SignalAccepted(BaseModel):
    signal_id: str
    event_id: str
    position: int
    duplicate: bool


class Enrollment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ally_id: Token
    areas: tuple[AreaCode, ...] = Field(min_length=1)
    themes: tuple[Theme, ...] = ()
    availability: Availability = Availability.ALWAYS
    consent_to_be_called: bool
    personal: AllyPersonal


class AvailabilityChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    availability: Availability


class DutyAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: Token
    function: str = Field(min_length=1, max_length=80)
    personal: DutyContactPersonal


class CallOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ally_id: Token
    outcome: CallOutcome
    caller: Token
    escalation_id: Token | None = None
    note: str = Field(default="", max_length=500)
    occurred_at: AwareDatetime | None = None


ActorHeader = Annotated[
    str, Header(alias="X-Actor", pattern=ACTOR_PATTERN, description="who acts, role:id")
]
IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


def create_api(deps: ApiDeps) -> FastAPI:
    app = FastAPI(
        title="Bondgenoten escalation service",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        redoc_url=None,
    )

    async def reject(body: bytes, channel: str, errors: list[FieldError]) -> None:
        await deps.intake.reject(body, channel, errors)

    install_error_handlers(app, reject)
    r = APIRouter(prefix=API)

    async def network_command(
        network_id: str, command: NetworkCommand, actor: str, key: str | None
    ) -> Recorded:
        found = await deps.store.find("network", network_id)
        ref = found
        if isinstance(command, FormNetwork):
            ref = AggregateRef(kind="network", area=command.event.area, id=network_id)
            if found is not None and found != ref:  # one id, one network: in one area
                raise Conflict(f"network {network_id} already exists", field="network_id")
        if ref is None:
            raise NotFound("unknown network", field="network_id")
        meta = CommandMeta(command_id=key or uuid.uuid4().hex, actor=actor, source=SOURCE)
        return recorded(await execute(deps.store, deps.clock, ref, network_decider, command, meta))

    @r.post(
        "/signals",
        status_code=201,
        response_model=SignalAccepted,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SignalSubmission.model_json_schema()}},
            }
        },
        responses={400: {"description": "invalid JSON"}, 422: {"description": "invalid signal"}},
        summary="Report a signal (signaal melden)",
    )
    async def submit_signal(request: Request) -> Any:
        body = await request.body()
        if len(body) > MAX_INPUT_BYTES * 4:
            error = FieldError("$", f"body is {len(body)} bytes", "too_large")
            await deps.intake.reject(body, "http.submit_signal", [error])
            raise InvalidInput([error])
        accepted = await deps.intake.submit(body, "http")
        status = 200 if accepted.duplicate else 201
        return JSONResponse(SignalAccepted(**accepted.__dict__).model_dump(), status_code=status)

    @r.get("/themes", summary="Theme vocabulary with Dutch labels")
    async def themes() -> dict[str, str]:
        return {t: THEME_LABELS.get(t, t) for t in sorted(deps.themes)}

    @r.get("/tension-map", response_model=TensionMapView, summary="Tension map (spanningsbeeld)")
    async def tension_map(
        at: Annotated[datetime | None, Query(description="as of this ISO time (replay)")] = None,
        area: Annotated[str | None, Query(description="area or municipality code")] = None,
        theme: str | None = None,
    ) -> TensionMapView:
        if at is not None and at.tzinfo is None:
            raise InvalidInput([FieldError("at", "needs a timezone offset", "naive_datetime")])
        return await deps.read.tension_map(at, area=area, theme=theme)

    @r.get("/call-lists", response_model=CallList, summary="Whom to call (bellijst)")
    async def call_lists(
        area: AreaCode,
        themes: Annotated[str, Query(description="comma-separated theme codes")] = "",
        communities: Annotated[str, Query(description="comma-separated community codes")] = "",
    ) -> CallList:
        return deps.read.call_list(area, _csv(themes), _csv(communities))

    @r.get("/networks", response_model=list[NetworkHealth], summary="Network health")
    async def networks() -> list[NetworkHealth]:
        return list(network_health(deps.read.networks, at=deps.clock.now()))

    @r.post("/networks", status_code=201, response_model=Recorded, summary="Form a network")
    async def form_network(
        body: NetworkFormed, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Recorded:
        return await network_command(body.network_id, FormNetwork(event=body), actor, key)

    @r.post("/networks/{network_id}/allies", status_code=201, response_model=Recorded)
    async def enroll_ally(
        network_id: Token, body: Enrollment, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Recorded:
        event = AllyEnrolled(network_id=network_id, **body.model_dump())
        return await network_command(network_id, EnrollAlly(event=event), actor, key)

    @r.delete("/networks/{network_id}/allies/{ally_id}", response_model=Recorded)
    async def remove_ally(
        network_id: Token,
        ally_id: Token,
        actor: ActorHeader,
        reason: Annotated[str, Query(max_length=200)] = "",
        key: IdempotencyHeader = None,
    ) -> Recorded:
        command = RemoveAlly(network_id=network_id, ally_id=ally_id, reason=reason)
        return await network_command(network_id, command, actor, key)

    @r.put("/networks/{network_id}/allies/{ally_id}/availability", response_model=Recorded)
    async def change_availability(
        network_id: Token,
        ally_id: Token,
        body: AvailabilityChange,
        actor: ActorHeader,
        key: IdempotencyHeader = None,
    ) -> Recorded:
        event = AllyAvailabilityChanged(
            network_id=network_id, ally_id=ally_id, availability=body.availability
        )
        return await network_command(network_id, ChangeAvailability(event=event), actor, key)

    @r.put("/networks/{network_id}/duty-contacts/{role}", response_model=Recorded)
    async def assign_duty_contact(
        network_id: Token,
        role: DutyRole,
        body: DutyAssignment,
        actor: ActorHeader,
        key: IdempotencyHeader = None,
    ) -> Recorded:
        event = DutyContactAssigned(network_id=network_id, role=role, **body.model_dump())
        return await network_command(network_id, AssignDutyContact(event=event), actor, key)

    @r.post("/networks/{network_id}/call-outcomes", status_code=201, response_model=Recorded)
    async def record_call_outcome(
        network_id: Token, body: CallOutcomeIn, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Recorded:
        network = deps.read.known_network(network_id)
        data = body.model_dump(exclude={"occurred_at"})
        event = CallOutcomeRecorded(network_id=network_id, **data)
        command = RecordCallOutcome(event=event, occurred_at=body.occurred_at)
        members = network.members if network is not None else frozenset[str]()
        try:
            decide_call_outcome(command, members, deps.clock.now())
        except InvalidInput as refused:  # kept with its reason, like all refused input
            await reject(
                body.model_dump_json().encode(), "http.record_call_outcome", refused.errors
            )
            raise
        ref = AggregateRef(
            kind="contact", area=deps.read.networks.networks[network_id].area, id=body.ally_id
        )
        meta = CommandMeta(
            command_id=key or uuid.uuid4().hex,
            actor=actor,
            source=SOURCE,
            occurred_at=body.occurred_at,
        )
        return recorded(await execute(deps.store, deps.clock, ref, contact_decider, event, meta))

    @r.get("/health", summary="Liveness and projection positions")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "log_position": await deps.store.last_position(),
            "projections": {x.name: {"checkpoint": x.checkpoint} for x in deps.read.runners},
        }

    app.include_router(r)
    app.include_router(escalation_router(deps.workflow, deps.read, deps.store))
    app.include_router(rsvp_router(deps.workflow, deps.read, deps.links))
    return app


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
