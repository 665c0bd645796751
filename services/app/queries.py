"""The reads of the service as use cases: one catalogue of queries, answered by one handler
table for every entry point (HTTP ``/api/v1``, NATS request/reply, the CLI).

A query names what it reads (``NAME``), the matrix action that allows it (``ACTION``), what it
answers (``RESULT``) and what of that is never served (``OMIT``). Every query takes the same
three moments of :class:`Query`: ``min_position`` (read-your-writes: wait until the read models
reflect the position a command answered), ``as_of`` (valid time) and ``as_known_at`` (recorded
time; see :mod:`services.app.readmodels` and README "Two kinds of time").

Redaction happens here, for every entry point alike: call lists and network health show allies
by pseudonym to the roles that do not call them, and an incident's events never carry contact
details. Reading a call list or an incident's events is audited.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from domain.access import Principal, authorize
from domain.errors import NotFound
from domain.input import InputDatetime
from events.envelope import AreaCode
from projections.call_lists import CallList
from projections.escalations import EscalationRecord, escalation, list_escalations
from projections.tension_map import TensionMapView
from services.app.audit import Recorder
from services.app.need_to_know import (
    Pseudonyms,
    call_list_for,
    pseudonymised,
    sees_contact_details,
)
from services.app.network_health import NetworkHealthView, health_view
from services.app.readmodels import Moment, ReadModels, in_valid_time

MIN_POSITION_WAIT_S = 5.0
"""How long a read waits for ``min_position`` before it answers ``not_caught_up``."""

Code = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[\w.:-]+$")]
"""An id or code named by a query (one token: no spaces, no wildcards)."""

# Who covers which community is special-category data: only covered and missing communities
# per convening are served. ``applied`` is bookkeeping (envelope ids).
ESCALATION_OMITS: dict[str, Any] = {
    "applied": True,
    "convenings": {"__all__": {"communities_by_ally"}},
}
# An incident's events say what happened, not personal data nor whole situation pictures.
EVENT_DATA_OMITS = {"recipients", "situation", "personal"}


class NotCaughtUp(Exception):
    """A read asked for a position (``min_position``) the read models have not reached."""


class Query(BaseModel):
    """What every read takes: where it looks in time, and which write it must reflect."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    NAME: ClassVar[str]
    ACTION: ClassVar[str]
    RESULT: ClassVar[Any]
    OMIT: ClassVar[Any] = None

    as_of: InputDatetime | None = Field(
        default=None,
        description="valid time, ISO 8601 with offset: the situation at this moment according "
        "to everything known now (or known at `as_known_at`); what occurred later is left out",
    )
    as_known_at: InputDatetime | None = Field(
        default=None,
        description="recorded time, ISO 8601 with offset: what the service knew at this moment "
        "(the read model as it stood then); what was recorded later is left out",
    )
    min_position: int | None = Field(
        default=None,
        ge=0,
        description="wait (up to 5 s) until the read models reflect this log position, the "
        "`position` a command answered; `not_caught_up` if they do not",
    )

    @property
    def moment(self) -> Moment:
        return Moment(as_of=self.as_of, as_known_at=self.as_known_at)


class TensionMapQuery(Query):
    """The tension map (spanningsbeeld): every area x theme cell with its band and trend, the
    slow scale and watch."""

    NAME = "tension-map"
    ACTION = "read.tension-map"
    RESULT = TensionMapView
    area: Code | None = Field(default=None, description="area or municipality code")
    theme: Code | None = None


class CallListQuery(Query):
    """Whom to call (bellijst) in an area; contact details only for the roles that call,
    pseudonyms for the others."""

    NAME = "call-list"
    ACTION = "read.call-list"
    RESULT = CallList
    area: AreaCode
    themes: list[Code] = Field(default_factory=list, max_length=50)
    communities: list[Code] = Field(default_factory=list, max_length=50)


class NetworksQuery(Query):
    """Every network and its health flags (each with its Dutch reason); allies as counts."""

    NAME = "networks"
    ACTION = "read.networks"
    RESULT = list[NetworkHealthView]


class NetworkHealthQuery(Query):
    """One network's health: every flag with its code and Dutch reason; allies by id for the
    roles that call, else by pseudonym."""

    NAME = "network-health"
    ACTION = "read.network-health"
    RESULT = NetworkHealthView
    network_id: Code


class EscalationsQuery(Query):
    """Every escalation (or only the open ones), each with its timeline."""

    NAME = "escalations"
    ACTION = "read.escalations"
    RESULT = list[EscalationRecord]
    OMIT = {"__all__": ESCALATION_OMITS}
    open: bool = False


class EscalationQuery(Query):
    """One escalation with its timeline."""

    NAME = "escalation"
    ACTION = "read.escalations"
    RESULT = EscalationRecord
    OMIT = ESCALATION_OMITS
    escalation_id: Code


class IncidentEvent(BaseModel):
    """One event of an incident as a reviewer may see it: both times, allies by pseudonym."""

    position: int | None
    occurred_at: datetime
    recorded_at: datetime
    type: str
    actor: str
    subject: str
    data: dict[str, Any]


class IncidentEventsQuery(Query):
    """Every event of an incident, replayed from the log, with pseudonyms instead of allies'
    ids and never contact details; with `as_of` only what had occurred by then, in the order
    it occurred, with `as_known_at` only what had been recorded by then."""

    NAME = "escalation-events"
    ACTION = "read.review"
    RESULT = list[IncidentEvent]
    escalation_id: Code


QUERIES: tuple[type[Query], ...] = (
    TensionMapQuery,
    CallListQuery,
    NetworksQuery,
    NetworkHealthQuery,
    EscalationsQuery,
    EscalationQuery,
    IncidentEventsQuery,
)


class QueryHandlers:
    """The one table of reads: authorize, wait for ``min_position``, read at the moment,
    redact for the reader, audit what is personal."""

    def __init__(self, read: ReadModels, audit: Recorder, pseudonym: Pseudonyms) -> None:
        self.read = read
        self.audit = audit
        self.pseudonym = pseudonym
        self._table: dict[type[Query], Callable[[Any, Principal, str, str], Awaitable[Any]]] = {
            TensionMapQuery: self._tension_map,
            CallListQuery: self._call_list,
            NetworksQuery: self._networks,
            NetworkHealthQuery: self._network_health,
            EscalationsQuery: self._escalations,
            EscalationQuery: self._escalation,
            IncidentEventsQuery: self._incident_events,
        }

    async def answer(
        self, query: Query, *, principal: Principal, channel: str, address: str = ""
    ) -> Any:
        """``query``'s result for ``principal`` (an instance of ``query.RESULT``), or
        :class:`domain.access.Forbidden`, :class:`NotCaughtUp`, :class:`NotFound`."""
        authorize(principal, query.ACTION)
        position = query.min_position
        if position is not None and not await self.read.caught_up(position, MIN_POSITION_WAIT_S):
            raise NotCaughtUp(f"read models have not reached position {position} yet")
        return await self._table[type(query)](query, principal, channel, address)

    async def _tension_map(self, q: TensionMapQuery, *_: Any) -> TensionMapView:
        return await self.read.tension_map(area=q.area, theme=q.theme, moment=q.moment)

    async def _call_list(
        self, q: CallListQuery, principal: Principal, channel: str, address: str
    ) -> CallList:
        found = await self.read.call_list_at(q.moment, q.area, q.themes, q.communities)
        result = "revealed" if sees_contact_details(principal) else "pseudonymised"
        await self.audit.record(
            principal.actor,
            q.ACTION,
            f"area:{q.area}",
            result,
            channel=channel,
            address=address,
            detail=f"{len(found.entries)} allies",
        )
        return call_list_for(principal, found, self.pseudonym)

    async def _networks(self, q: NetworksQuery, *_: Any) -> list[NetworkHealthView]:
        return [health_view(h, None, None) for h in await self.read.network_health_at(q.moment)]

    async def _network_health(
        self, q: NetworkHealthQuery, principal: Principal, *_: Any
    ) -> NetworkHealthView:
        found = [
            h for h in await self.read.network_health_at(q.moment) if h.network_id == q.network_id
        ]
        if not found:
            raise NotFound(f"unknown network {q.network_id}", field="network_id")
        return health_view(found[0], principal, self.pseudonym)

    async def _escalations(self, q: EscalationsQuery, *_: Any) -> list[EscalationRecord]:
        return list_escalations(await self.read.escalations_at(q.moment), open_only=q.open)

    async def _escalation(self, q: EscalationQuery, *_: Any) -> EscalationRecord:
        return await self._found(q.escalation_id, q.moment)

    async def _found(self, escalation_id: str, moment: Moment) -> EscalationRecord:
        record = escalation(await self.read.escalations_at(moment), escalation_id)
        if record is None:
            when = "" if moment.live else " at that moment"
            raise NotFound(f"unknown escalation {escalation_id}{when}", field="escalation_id")
        return record

    async def _incident_events(
        self, q: IncidentEventsQuery, principal: Principal, channel: str, address: str
    ) -> list[IncidentEvent]:
        await self._found(q.escalation_id, Moment())  # known now, if not yet at the moment
        logged = [
            e
            async for e in self.read.store.read(
                kinds=["escalation", "notification"],
                as_of=q.as_known_at,
                skip_undecodable=True,
            )
            if e.correlation_id == q.escalation_id
        ]
        events = in_valid_time(logged, q.as_of)
        allies = frozenset(
            a for e in events for a in getattr(e.data, "invited", ()) if isinstance(a, str)
        )
        await self.audit.record(
            principal.actor,
            q.ACTION,
            f"escalation:{q.escalation_id}",
            "pseudonymised",
            channel=channel,
            address=address,
        )
        return [
            IncidentEvent(
                position=e.position,
                occurred_at=e.occurred_at,
                recorded_at=e.recorded_at,
                type=e.type.removeprefix("nl.bondgenoten."),
                actor=e.actor,
                subject=e.subject,
                data=pseudonymised(
                    e.data.model_dump(mode="json", exclude=EVENT_DATA_OMITS),
                    self.pseudonym,
                    allies,
                ),
            )
            for e in events
        ]


@functools.cache
def _result_adapter(query: type[Query]) -> TypeAdapter[Any]:
    return TypeAdapter(query.RESULT)


def served(query: Query, result: Any) -> Any:
    """``result`` as JSON-ready data, without what ``query`` never serves."""
    return _result_adapter(type(query)).dump_python(result, mode="json", exclude=query.OMIT)
