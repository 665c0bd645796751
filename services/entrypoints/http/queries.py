"""Read routes: the tension map, call lists, networks, escalations, convenings and the review,
answered from the live read models. Every read takes ``min_position`` (the ``position`` a
command answered) and waits until the read models reflect it: read-your-writes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from domain.errors import NotFound
from domain.input import InputDatetime
from domain.intake import FieldError, InvalidInput
from domain.policy import EscalationPolicy
from events.envelope import AreaCode
from projections.call_lists import CallList, NetworkHealth, network_health
from projections.escalations import (
    ConveningStatus,
    EscalationRecord,
    convening_status,
    list_escalations,
)
from projections.tension_map import TensionMapView
from services.app.readmodels import ReadModels
from services.app.situation import convening_proposal, escalation_record
from services.entrypoints.http.errors import ERROR_RESPONSES, NotCaughtUp
from services.texts_nl.labels import THEME_LABELS

MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        description="wait (up to 5 s) until the read models reflect this log position, the "
        "`position` a command answered; 503 `not_caught_up` if they do not",
    ),
]
MIN_POSITION_WAIT_S = 5.0
INPUT_TIME: TypeAdapter[datetime] = TypeAdapter(InputDatetime)

# Who covers which community is special-category data: the API serves only covered and missing
# communities per convening (GET /convenings/{id}). ``applied`` is bookkeeping.
NOT_SERVED: dict[str, Any] = {
    "applied": True,
    "convenings": {"__all__": {"communities_by_ally"}},
}
# The review shows what happened, not personal data nor whole situation pictures.
REVIEW_OMITS = {"recipients", "situation", "personal"}


class ConveningProposalOut(BaseModel):
    starts_at: datetime
    rsvp_deadline: datetime
    mode: str
    place: str
    communities: list[str]
    invited: list[str]
    quorum: int
    coverage_gaps: list[str] = Field(
        default_factory=list, description="affected communities nobody invited represents"
    )


class ReviewEntry(BaseModel):
    position: int | None
    occurred_at: datetime
    recorded_at: datetime
    type: str
    actor: str
    subject: str
    data: dict[str, Any]


def moment(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with a UTC offset, or a precise 422 (``?at=0.5`` is not 1970)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        message = "an ISO 8601 date and time with offset, e.g. 2026-03-14T21:05:00+01:00"
        raise InvalidInput([FieldError(name, message, "invalid_datetime")])
    try:
        return INPUT_TIME.validate_python(parsed)
    except ValidationError as exc:
        raise InvalidInput([FieldError(name, e["msg"], e["type"]) for e in exc.errors()]) from None


def query_router(
    read: ReadModels, policies: dict[str, EscalationPolicy], themes: frozenset[str]
) -> APIRouter:
    r = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    async def caught_up(position: int | None) -> None:
        if position is not None and not await read.caught_up(position, MIN_POSITION_WAIT_S):
            raise NotCaughtUp(f"read models have not reached position {position} yet")

    @r.get("/themes", summary="Theme vocabulary with Dutch labels", tags=["reference"])
    async def themes_() -> dict[str, str]:
        return {t: THEME_LABELS.get(t, t) for t in sorted(themes)}

    @r.get(
        "/tension-map",
        response_model=TensionMapView,
        summary="Tension map (spanningsbeeld)",
        tags=["signal"],
    )
    async def tension_map(
        at: Annotated[
            str | None, Query(description="as of this ISO 8601 time with offset (replay)")
        ] = None,
        area: Annotated[str | None, Query(description="area or municipality code")] = None,
        theme: str | None = None,
        min_position: MinPosition = None,
    ) -> TensionMapView:
        await caught_up(min_position)
        return await read.tension_map(moment("at", at), area=area, theme=theme)

    @r.get(
        "/call-lists", response_model=CallList, summary="Whom to call (bellijst)", tags=["network"]
    )
    async def call_lists(
        area: AreaCode,
        themes: Annotated[str, Query(description="comma-separated theme codes")] = "",
        communities: Annotated[str, Query(description="comma-separated community codes")] = "",
        min_position: MinPosition = None,
    ) -> CallList:
        await caught_up(min_position)
        return read.call_list(area, _csv(themes), _csv(communities))

    @r.get(
        "/networks", response_model=list[NetworkHealth], summary="Network health", tags=["network"]
    )
    async def networks(min_position: MinPosition = None) -> list[NetworkHealth]:
        await caught_up(min_position)
        return list(network_health(read.networks, at=read.clock.now()))

    @r.get(
        "/escalations",
        response_model=list[EscalationRecord],
        response_model_exclude={"__all__": NOT_SERVED},
        tags=["escalation"],
    )
    async def escalations(open: bool = False, min_position: MinPosition = None) -> Any:
        await caught_up(min_position)
        return list_escalations(read.escalations.state, open_only=open)

    @r.get(
        "/escalations/{escalation_id}",
        response_model=EscalationRecord,
        response_model_exclude=NOT_SERVED,
        tags=["escalation"],
    )
    async def get_escalation(escalation_id: str, min_position: MinPosition = None) -> Any:
        await caught_up(min_position)
        return escalation_record(read, escalation_id)

    @r.get(
        "/escalations/{escalation_id}/convening-proposal",
        response_model=ConveningProposalOut,
        summary="The convening the workflow proposes (time, place or call, invitees, quorum)",
        tags=["escalation"],
    )
    async def proposal(escalation_id: str, min_position: MinPosition = None) -> Any:
        await caught_up(min_position)
        p, _ = convening_proposal(read, policies, escalation_id, read.clock.now())
        return ConveningProposalOut.model_validate(p, from_attributes=True)

    @r.get("/convenings/{convening_id}", response_model=ConveningStatus, tags=["escalation"])
    async def get_convening(convening_id: str, min_position: MinPosition = None) -> Any:
        await caught_up(min_position)
        status = convening_status(read.escalations.state, convening_id)
        if status is None:
            raise NotFound(f"unknown convening {convening_id}", field="convening_id")
        return status

    @r.get(
        "/escalations/{escalation_id}/review",
        response_model=list[ReviewEntry],
        summary="After-action review: every event of the incident, replayed from the log",
        tags=["escalation"],
    )
    async def review(escalation_id: str, min_position: MinPosition = None) -> Any:
        await caught_up(min_position)
        escalation_record(read, escalation_id)  # 404 for an unknown id
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
            async for e in read.store.read(
                kinds=["escalation", "notification"], skip_undecodable=True
            )
            if e.correlation_id == escalation_id
        ]

    @r.get("/health", summary="Liveness and projection positions", tags=["operations"])
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "log_position": await read.store.last_position(),
            "projections": {x.name: {"checkpoint": x.checkpoint} for x in read.runners},
        }

    return r


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
