"""Read routes: the tension map, call lists, networks, escalations, convenings and the review,
answered from the live read models. Every read takes ``min_position`` (the ``position`` a
command answered) and waits until the read models reflect it: read-your-writes.

The reads of a read model also take ``as_of`` (valid time) and ``as_known_at`` (recorded time;
``at`` is its deprecated old name), answered by replaying the log (``services.app.readmodels``,
README "Two kinds of time")."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.types import DecoratedCallable as Endpoint
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from domain.access import Principal
from domain.errors import NotFound
from domain.input import InputDatetime
from domain.intake import FieldError, InvalidInput
from domain.policy import EscalationPolicy
from events.envelope import AreaCode
from projections.call_lists import CallList
from projections.escalations import (
    ConveningStatus,
    EscalationRecord,
    convening_status,
)
from projections.network_health import NetworkLife
from projections.tension_map import TensionMapView
from services.app.network_health import NetworkHealthView
from services.app.queries import (
    MIN_POSITION_WAIT_S,
    CallListQuery,
    EscalationQuery,
    EscalationsQuery,
    IncidentEvent,
    IncidentEventsQuery,
    NetworkHealthQuery,
    NetworksQuery,
    NotCaughtUp,
    QueryHandlers,
    TensionMapQuery,
)
from services.app.queries import Query as ReadQuery
from services.app.readmodels import Moment, ReadModels
from services.app.situation import convening_proposal
from services.entrypoints.http.auth import Auth, action_extra, authenticated, origin_of
from services.entrypoints.http.errors import ERROR_RESPONSES
from services.texts_nl.labels import THEME_LABELS

MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        description="wait (up to 5 s) until the read models reflect this log position, the "
        "`position` a command answered; 503 `not_caught_up` if they do not",
    ),
]
PRINCIPAL = Depends(authenticated)
INPUT_TIME: TypeAdapter[datetime] = TypeAdapter(InputDatetime)
Q = TypeVar("Q", bound=ReadQuery)


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


AUDIT_MAX = 1000


class AuditOut(BaseModel):
    """One line of the audit trail (BIO logging fields)."""

    actor: str
    action: str
    object: str
    result: str
    origin: str
    at: datetime
    detail: str


def moment(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with a UTC offset, or a precise 422 (``?at=0.5`` is not 1970)."""
    if value is None:
        return None
    parsed = _iso(name, value, with_t=True)
    try:
        return INPUT_TIME.validate_python(parsed)
    except ValidationError as exc:
        raise InvalidInput([FieldError(name, e["msg"], e["type"]) for e in exc.errors()]) from None


AS_OF_HELP = (
    "valid time, ISO 8601 with offset: the situation at this moment according to everything "
    "known now (or known at `as_known_at`); what occurred later is left out"
)
AS_KNOWN_AT_HELP = (
    "recorded time, ISO 8601 with offset: what the service knew at this moment (the read "
    "model as it stood then); what was recorded later is left out"
)


def when(
    as_of: Annotated[str | None, Query(description=AS_OF_HELP)] = None,
    as_known_at: Annotated[str | None, Query(description=AS_KNOWN_AT_HELP)] = None,
    at: Annotated[
        str | None, Query(deprecated=True, description="old name of `as_known_at`")
    ] = None,
) -> Moment:
    """The moment a read looks at (both absent: live, now), or a precise 422."""
    if at is not None and as_known_at is not None:
        message = "give as_known_at only (at is its deprecated old name)"
        raise InvalidInput([FieldError("at", message, "conflict")])
    known = moment("as_known_at", as_known_at) if as_known_at is not None else moment("at", at)
    return Moment(as_of=moment("as_of", as_of), as_known_at=known)


WHEN = Depends(when)


def query_router(
    read: ReadModels,
    policies: dict[str, EscalationPolicy],
    themes: frozenset[str],
    auth: Auth,
    queries: QueryHandlers,
) -> APIRouter:
    r = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    # Who may read what (domain.access.MATRIX): each route's dependency authenticates and checks.
    def read_route(path: str, action: str, **kw: Any) -> Callable[[Endpoint], Endpoint]:
        """A GET route read as ``action`` (domain.access.MATRIX), named once: its dependency
        authenticates and checks, and the OpenAPI document names the action and its roles."""
        allowed = Depends(auth.require(action))
        return r.get(path, openapi_extra=action_extra(action), dependencies=[allowed], **kw)

    async def caught_up(position: int | None) -> None:
        if position is not None and not await read.caught_up(position, MIN_POSITION_WAIT_S):
            raise NotCaughtUp(f"read models have not reached position {position} yet")

    @read_route(
        "/themes",
        "read.reference",
        summary="Theme vocabulary with Dutch labels",
        tags=["reference"],
    )
    async def themes_() -> dict[str, str]:
        return {t: THEME_LABELS.get(t, t) for t in sorted(themes)}

    async def ask(
        query_type: type[Q],
        at: Moment,
        min_position: int | None,
        principal: Principal,
        request: Request,
        **fields: Any,
    ) -> Any:
        """The one way a read route answers: the query of the catalogue, through the handler
        table every entry point shares (authorization, read-your-writes, redaction, audit)."""
        query = query_type(
            as_of=at.as_of, as_known_at=at.as_known_at, min_position=min_position, **fields
        )
        return await queries.answer(
            query, principal=principal, channel="http", address=origin_of(request)
        )

    @read_route(
        "/tension-map",
        "read.tension-map",
        response_model=TensionMapView,
        summary="Tension map (spanningsbeeld)",
        tags=["signal"],
    )
    async def tension_map(
        request: Request,
        area: Annotated[str | None, Query(description="area or municipality code")] = None,
        theme: str | None = None,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
        at: Moment = WHEN,
    ) -> Any:
        return await ask(
            TensionMapQuery, at, min_position, principal, request, area=area, theme=theme
        )

    @read_route(
        "/call-lists",
        "read.call-list",
        response_model=CallList,
        summary="Whom to call (bellijst); contact details only for the roles that call",
        tags=["network"],
    )
    async def call_lists(
        request: Request,
        area: AreaCode,
        themes: Annotated[str, Query(description="comma-separated theme codes")] = "",
        communities: Annotated[str, Query(description="comma-separated community codes")] = "",
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
        at: Moment = WHEN,
    ) -> Any:
        return await ask(
            CallListQuery, at, min_position, principal, request,
            area=area, themes=_csv(themes), communities=_csv(communities),
        )  # fmt: skip

    @read_route(
        "/networks",
        "read.networks",
        response_model=list[NetworkHealthView],
        summary="Networks and their health flags (each with its Dutch reason); allies "
        "concerned only as counts here (see /networks/{network_id}/health)",
        tags=["network"],
    )
    async def networks(
        request: Request,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
        at: Moment = WHEN,
    ) -> Any:
        return await ask(NetworksQuery, at, min_position, principal, request)

    @read_route(
        "/networks/{network_id}/health",
        "read.network-health",
        response_model=NetworkHealthView,
        summary="A network's health judged at a moment: every flag with its code and Dutch "
        "reason; allies by id for the roles that call, else by pseudonym",
        tags=["network"],
    )
    async def network_health_(
        request: Request,
        network_id: str,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
        at: Moment = WHEN,
    ) -> Any:
        return await ask(
            NetworkHealthQuery, at, min_position, principal, request, network_id=network_id
        )

    @read_route(
        "/networks/{network_id}/lifecycle",
        "read.networks",
        response_model=NetworkLife,
        summary="A network's meetings, evaluation, core group, professional seats and settings "
        "(ids only, no personal data)",
        tags=["network"],
    )
    async def network_lifecycle(
        network_id: str,
        min_position: MinPosition = None,
        at: Moment = WHEN,
    ) -> NetworkLife:
        await caught_up(min_position)
        life = (await read.health_at(at)).networks.get(network_id)
        if life is None:
            raise NotFound(f"unknown network {network_id}", field="network_id")
        return life.model_copy(update={"members": {}, "last_reached": {}})

    @read_route(
        "/escalations",
        "read.escalations",
        response_model=list[EscalationRecord],
        response_model_exclude=EscalationsQuery.OMIT,
        tags=["escalation"],
    )
    async def escalations(
        request: Request,
        open: bool = False,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
        at: Moment = WHEN,
    ) -> Any:
        return await ask(EscalationsQuery, at, min_position, principal, request, open=open)

    @read_route(
        "/escalations/{escalation_id}",
        "read.escalations",
        response_model=EscalationRecord,
        response_model_exclude=EscalationQuery.OMIT,
        tags=["escalation"],
    )
    async def get_escalation(
        request: Request,
        escalation_id: str,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
        at: Moment = WHEN,
    ) -> Any:
        return await ask(
            EscalationQuery, at, min_position, principal, request, escalation_id=escalation_id
        )

    @read_route(
        "/escalations/{escalation_id}/convening-proposal",
        "read.escalations",
        response_model=ConveningProposalOut,
        summary="The convening the workflow proposes (time, place or call, invitees, quorum)",
        tags=["escalation"],
    )
    async def proposal(
        escalation_id: str,
        min_position: MinPosition = None,
    ) -> Any:
        await caught_up(min_position)
        p, _ = convening_proposal(read, policies, escalation_id, read.clock.now())
        return ConveningProposalOut.model_validate(p, from_attributes=True)

    @read_route(
        "/convenings/{convening_id}",
        "read.escalations",
        response_model=ConveningStatus,
        tags=["escalation"],
    )
    async def get_convening(
        convening_id: str,
        min_position: MinPosition = None,
        at: Moment = WHEN,
    ) -> Any:
        await caught_up(min_position)
        status = convening_status(await read.escalations_at(at), convening_id)
        if status is None:
            raise NotFound(f"unknown convening {convening_id}", field="convening_id")
        return status

    @read_route(
        "/escalations/{escalation_id}/events",
        "read.review",
        response_model=list[IncidentEvent],
        summary="Every event of the incident, replayed from the log, with pseudonyms instead "
        "of allies' ids and never contact details (the review: `…/review`); with `as_of` "
        "only what had occurred by then, in the order it occurred, with `as_known_at` only "
        "what had been recorded by then",
        tags=["escalation"],
    )
    async def events(
        request: Request,
        escalation_id: str,
        min_position: MinPosition = None,
        principal: Principal = PRINCIPAL,
        at: Moment = WHEN,
    ) -> Any:
        return await ask(
            IncidentEventsQuery, at, min_position, principal, request, escalation_id=escalation_id
        )

    @read_route(
        "/health",
        "read.health",
        summary="Health and projection positions (`/livez`: liveness without a token)",
        tags=["operations"],
    )
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "log_position": await read.store.last_position(),
            "projections": {x.name: {"checkpoint": x.checkpoint} for x in read.runners},
        }

    @read_route(
        "/audit",
        "read.audit",
        response_model=list[AuditOut],
        summary="The audit trail (who did what to which object, with what result, from where "
        "and when); ids only, no personal data",
        tags=["operations"],
    )
    async def audit(
        since: Annotated[
            str | None, Query(description="from this ISO 8601 time with offset")
        ] = None,
        actor: Annotated[
            str | None, Query(description="only this actor (role:id)", max_length=80)
        ] = None,
        limit: Annotated[int, Query(ge=1, le=AUDIT_MAX)] = AUDIT_MAX,
    ) -> Any:
        start = _since("since", since)
        found: list[AuditOut] = []
        # Closed here, also when it stops at ``limit``: its consumer does not linger.
        async with contextlib.aclosing(auth.audit.entries(since=start, actor=actor)) as entries:
            async for entry in entries:
                found.append(AuditOut.model_validate(entry, from_attributes=True))
                if len(found) >= limit:
                    break
        return found

    return r


def _since(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with offset, past or present (no calendar checks for a query)."""
    if value is None:
        return None
    return _iso(name, value)


def _iso(name: str, value: str, *, with_t: bool = False) -> datetime:
    """``value`` as an ISO 8601 time with a UTC offset (written with a ``T`` between date and
    time if ``with_t``), or a precise 422."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or (with_t and "T" not in value.upper()):
        message = "an ISO 8601 date and time with offset, e.g. 2026-03-14T21:05:00+01:00"
        raise InvalidInput([FieldError(name, message, "invalid_datetime")])
    return parsed


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
