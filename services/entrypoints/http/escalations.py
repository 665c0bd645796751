"""``/api/v1/escalations`` and ``/api/v1/convenings``: the crisis organisation's side of the
rapid-convening workflow, plus the after-action review (replayed from the log)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import NotFound
from events.envelope import ACTOR_PATTERN, AreaCode, Token
from events.escalation import ConveningMode, RsvpAnswer
from events.signals import Community, Theme
from projections.escalations import (
    ConveningStatus,
    EscalationRecord,
    convening_status,
    list_escalations,
)
from services.app.handlers import Outcome
from services.app.ports import EventStore
from services.app.readmodels import ReadModels
from services.app.workflow import Workflow

ActorHeader = Annotated[
    str, Header(alias="X-Actor", pattern=ACTOR_PATTERN, description="who acts, role:id")
]
IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


# Who covers which community is special-category data: the API serves only covered and missing
# communities per convening (GET /convenings/{id}). ``applied`` is bookkeeping.
NOT_SERVED: dict[str, Any] = {
    "applied": True,
    "convenings": {"__all__": {"communities_by_ally"}},
}


# The review shows what happened, not personal data nor whole situation pictures.
REVIEW_OMITS = {"recipients", "situation", "personal"}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclareIn(_In):
    area: AreaCode
    theme: Theme
    reason: str = Field(min_length=1, max_length=500)
    signal_id: Token | None = None
    communities: list[Community] = []
    major_incident: bool = False


class NoteIn(_In):
    note: str = Field(default="", max_length=500)


class ReasonIn(_In):
    reason: str = Field(default="", max_length=500)


class ConveningIn(_In):
    """Every field is optional: what is left out comes from the workflow's proposal
    (``GET /escalations/{id}/convening-proposal``)."""

    starts_at: AwareDatetime | None = None
    mode: ConveningMode | None = None
    place: str | None = Field(default=None, max_length=200)
    communities: list[Community] | None = Field(
        default=None, description="communities that must be at the table"
    )
    rsvp_deadline: AwareDatetime | None = None
    quorum: int | None = Field(default=None, ge=1)
    invited: list[Token] | None = None


class ConveningProposalOut(BaseModel):
    starts_at: datetime
    rsvp_deadline: datetime
    mode: ConveningMode
    place: str
    communities: list[str]
    invited: list[str]
    quorum: int
    coverage_gaps: list[str] = Field(
        default_factory=list, description="affected communities nobody invited represents"
    )


class RsvpIn(_In):
    ally_id: Token
    answer: RsvpAnswer


class Decided(BaseModel):
    escalation_id: str | None = None
    event_ids: list[str]
    event_types: list[str]
    position: int | None
    duplicate: bool


class ReviewEntry(BaseModel):
    position: int | None
    occurred_at: datetime
    recorded_at: datetime
    type: str
    actor: str
    subject: str
    data: dict[str, Any]


def decided(outcome: Outcome) -> Decided:
    return Decided(
        escalation_id=outcome.escalation_id,
        event_ids=[e.id for e in outcome.events],
        event_types=[e.type.removeprefix("nl.bondgenoten.") for e in outcome.events],
        position=outcome.result.version if outcome.result else None,
        duplicate=outcome.duplicate,
    )


def escalation_router(workflow: Workflow, read: ReadModels, store: EventStore) -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["escalations"])

    def key_of(key: str | None) -> str:
        return key or uuid.uuid4().hex

    async def answer(outcome: Outcome) -> Decided:
        # Read-your-writes: a GET right after this answer already shows the decision.
        if outcome.result is not None:
            await read.escalations.wait_for(outcome.result.version, timeout=2.0)
        return decided(outcome)

    @r.get(
        "/escalations",
        response_model=list[EscalationRecord],
        response_model_exclude={"__all__": NOT_SERVED},
    )
    async def escalations(open: bool = False) -> list[EscalationRecord]:
        return list_escalations(read.escalations.state, open_only=open)

    @r.post(
        "/escalations",
        status_code=201,
        response_model=Decided,
        summary="Declare an escalation (police, municipality, crisis organisation)",
        description="While one is open for this area and theme, the declaration joins it: "
        "the answer names the open escalation and records no new one.",
    )
    async def declare(
        body: DeclareIn, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Decided:
        reply = await answer(
            await workflow.declare(
                body.area,
                body.theme,
                actor,
                body.reason,
                key_of(key),
                signal_id=body.signal_id,
                communities=body.communities,
                major_incident=body.major_incident,
            )
        )
        if reply.escalation_id is None:  # one was already open for this area and theme
            open_now = list_escalations(read.escalations.state, open_only=True)
            reply.escalation_id = next(
                (e.escalation_id for e in open_now if (e.area, e.theme) == (body.area, body.theme)),
                None,
            )
        return reply

    @r.get(
        "/escalations/{escalation_id}",
        response_model=EscalationRecord,
        response_model_exclude=NOT_SERVED,
    )
    async def get_escalation(escalation_id: str) -> Any:
        return workflow.get(escalation_id)

    @r.post("/escalations/{escalation_id}/acknowledge", response_model=Decided)
    async def acknowledge(
        escalation_id: str, body: NoteIn, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Decided:
        return await answer(
            await workflow.acknowledge(escalation_id, actor, body.note, key_of(key))
        )

    def finisher(how: str) -> Callable[..., Awaitable[Decided]]:
        async def finish(
            escalation_id: str, body: ReasonIn, actor: ActorHeader, key: IdempotencyHeader = None
        ) -> Decided:
            outcome = await workflow.finish(escalation_id, how, actor, body.reason, key_of(key))
            return await answer(outcome)

        return finish

    for how in ("de-escalate", "resolve", "close"):
        r.add_api_route(
            f"/escalations/{{escalation_id}}/{how}",
            finisher(how),
            methods=["POST"],
            response_model=Decided,
            name=how.replace("-", "_"),
        )

    @r.get(
        "/escalations/{escalation_id}/convening-proposal",
        response_model=ConveningProposalOut,
        summary="The convening the workflow proposes (time, place or call, invitees, quorum)",
    )
    async def convening_proposal(escalation_id: str) -> ConveningProposalOut:
        p = workflow.propose_convening(escalation_id)
        return ConveningProposalOut.model_validate(p, from_attributes=True)

    @r.post(
        "/escalations/{escalation_id}/convenings",
        status_code=201,
        response_model=Decided,
        summary="Convene the network (bijeenroepen)",
    )
    async def call_convening(
        escalation_id: str, body: ConveningIn, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Decided:
        outcome = await workflow.call_convening(
            escalation_id,
            actor,
            key_of(key),
            starts_at=body.starts_at,
            mode=body.mode,
            place=body.place,
            communities=body.communities,
            rsvp_deadline=body.rsvp_deadline,
            quorum=body.quorum,
            invited=body.invited,
        )
        return await answer(outcome)

    @r.get("/convenings/{convening_id}", response_model=ConveningStatus)
    async def get_convening(convening_id: str) -> Any:
        status = convening_status(read.escalations.state, convening_id)
        if status is None:
            raise NotFound(f"unknown convening {convening_id}", field="convening_id")
        return status

    @r.post(
        "/convenings/{convening_id}/rsvps",
        status_code=201,
        response_model=Decided,
        summary="Record an ally's answer on their behalf (e.g. given by phone)",
        description="Allies answer themselves through the personal link in their invitation "
        "(/rsvp/{token}); this records an answer the crisis organisation received otherwise.",
    )
    async def rsvp(
        convening_id: str, body: RsvpIn, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Decided:
        outcome = await workflow.rsvp(
            convening_id, body.ally_id, body.answer, key_of(key), by=actor
        )
        return await answer(outcome)

    @r.post("/convenings/{convening_id}/convened", response_model=Decided)
    async def convened(
        convening_id: str, actor: ActorHeader, key: IdempotencyHeader = None
    ) -> Decided:
        return await answer(await workflow.mark_convened(convening_id, actor, key_of(key)))

    @r.get(
        "/escalations/{escalation_id}/review",
        response_model=list[ReviewEntry],
        summary="After-action review: every event of the incident, replayed from the log",
    )
    async def review(escalation_id: str) -> list[ReviewEntry]:
        workflow.get(escalation_id)  # 404 for an unknown id
        kinds = ["escalation", "notification"]
        return [
            ReviewEntry(
                position=e.position,
                occurred_at=e.occurred_at,
                recorded_at=e.recorded_at,
                type=e.type.removeprefix("nl.bondgenoten."),
                actor=e.actor,
                subject=e.subject,
                data=e.data.model_dump(mode="json", exclude=REVIEW_OMITS),
            )
            async for e in store.read(kinds=kinds, skip_undecodable=True)
            if e.correlation_id == escalation_id
        ]

    return r
