"""The live read models of this process, and time-travel queries answered by replaying the log.

Two kinds of time (bitemporal queries, see README "Two kinds of time"):

* ``as_known_at`` (recorded time): what the service knew at that moment. The log is read up to
  the first event *recorded* after it and folded in log order, exactly as the live read model
  did, so the answer equals the live read model as it stood then.
* ``as_of`` (valid time): the situation at that moment according to everything known now (or
  known at ``as_known_at``, if both are given). Events that *occurred* after it are left out,
  and the rest are folded in the order they occurred, so a signal typed in days later counts at
  its ``occurred_at`` (and is not skipped by a fold that has already moved past it).

The view is then taken at ``as_of``, else ``as_known_at``, else now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, cast

from domain.intake import KnownNetwork
from events.envelope import Envelope
from events.network import AllyPersonal
from events.personal import PersonalCipher
from projections.base import Projection, S, fold
from projections.call_lists import CallList, CallListProjection, CallListState, call_list
from projections.escalations import ConveningRecord, EscalationsProjection, EscalationsState
from projections.network_health import (
    HealthState,
    NetworkHealth,
    NetworkHealthProjection,
    network_health,
)
from projections.outreach import OutreachProjection, OutreachState
from projections.slow_burns import watched_by_network
from projections.tension_map import (
    CellView,
    TensionMapProjection,
    TensionMapView,
    TensionState,
    tension_view,
)
from services.app.ports import Clock, EventStore, LiveProjection


@dataclass(frozen=True)
class Moment:
    """Where a query looks in time. Neither given: the live read models, now."""

    as_of: datetime | None = None
    """Valid time: leave out what occurred after it, and look at the situation then."""
    as_known_at: datetime | None = None
    """Recorded time: leave out what the service recorded after it."""

    @property
    def live(self) -> bool:
        return self.as_of is None and self.as_known_at is None

    def view_at(self, clock: Clock) -> datetime:
        """The moment the folded state is looked at (decay, "last reached", health); the
        clock is asked only for a live read."""
        return self.as_of or self.as_known_at or clock.now()


LIVE = Moment()


def in_valid_time(events: Sequence[Envelope[Any]], as_of: datetime | None) -> list[Envelope[Any]]:
    """``events`` (in log order) that had occurred by ``as_of``, in the order they occurred.

    An aggregate's events keep their log order: each counts at the latest ``occurred_at`` of
    itself and the events before it in its aggregate (a decider's invariants hold in that
    order, and an event said to occur before its predecessor is not folded ahead of it). Events
    of different aggregates are ordered by that time, ties in log order."""
    if as_of is None:
        return list(events)
    latest: dict[tuple[str, str], datetime] = {}
    timed: list[tuple[datetime, int, Envelope[Any]]] = []
    for index, event in enumerate(events):
        key = (event.aggregate.kind, event.aggregate.id)
        held = latest.get(key)
        effective = event.occurred_at if held is None or event.occurred_at > held else held
        latest[key] = effective
        if effective <= as_of:
            timed.append((effective, index, event))
    timed.sort(key=lambda t: (t[0], t[1]))
    return [event for _, _, event in timed]


async def replay(store: EventStore, projection: Projection[S], moment: Moment) -> S:
    """``projection``'s state at ``moment``, folded afresh from the log (see the module)."""
    events = [
        e
        async for e in store.read(
            kinds=projection.kinds, as_of=moment.as_known_at, skip_undecodable=True
        )
    ]
    return fold(projection, in_valid_time(events, moment.as_of))


class ReadModelLagging(TimeoutError):
    """A projection has not caught up in time: retry later rather than act on stale data."""


def projections(cipher: PersonalCipher | None = None) -> tuple[Projection[Any], ...]:
    """Every read model this service keeps live, in the order they are started; ``cipher``
    seals the personal parts in their snapshots (see ``events.personal``)."""
    return (
        TensionMapProjection(),
        CallListProjection(cipher),
        EscalationsProjection(cipher),
        OutreachProjection(cipher),
        NetworkHealthProjection(),
    )


PROJECTIONS: tuple[Projection[Any], ...] = projections()
"""The read models without a cipher: their names and kinds (tools, tests)."""

Feed = Callable[[Projection[Any]], LiveProjection[Any]]
"""Makes the live projection of a fold (a JetStream consumer, or in memory for tests)."""


class Unfollowed(Generic[S]):
    """A read model nobody keeps live: its initial state. :class:`ReadModels` without a feed
    answers every read by replaying the log instead (the CLI, with the service stopped)."""

    def __init__(self, projection: Projection[S]) -> None:
        self.name = projection.name
        self.state: S = projection.initial()
        self.checkpoint = 0

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        return True  # every read replays the log as it is


class ReadModels:
    """The live read models (tension map, call lists, escalations) and their queries.

    Without a ``feed`` nothing is kept live, and a read without a moment replays the whole log
    (as it is now, looked at now): the same answer, at the cost of a replay."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        feed: Feed | None,
        cipher: PersonalCipher | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.following = feed is not None
        if feed is None:
            feed = Unfollowed
        tension, calls, escalations, outreach, health = projections(cipher)
        self.tension_projection = cast(TensionMapProjection, tension)
        self._calls_projection = cast(CallListProjection, calls)
        self._escalations_projection = cast(EscalationsProjection, escalations)
        self._outreach_projection = cast(OutreachProjection, outreach)
        self._health_projection = cast(NetworkHealthProjection, health)
        self.tension: LiveProjection[TensionState] = feed(tension)
        self.calls: LiveProjection[CallListState] = feed(calls)
        self.escalations: LiveProjection[EscalationsState] = feed(escalations)
        self.outreach: LiveProjection[OutreachState] = feed(outreach)
        """Pulse checks, constituency questions, mobilisation requests."""
        self.health: LiveProjection[HealthState] = feed(health)

    @property
    def runners(self) -> list[LiveProjection[Any]]:
        return [self.tension, self.calls, self.escalations, self.outreach, self.health]

    def network_health(self, at: datetime | None = None) -> tuple[NetworkHealth, ...]:
        """Every network's health judged at ``at`` (default: now), from the live read models."""
        when = at or self.clock.now()
        return network_health(self.calls.state, at=when, life=self.health.state)

    def slow_burns(self, at: datetime | None = None) -> dict[str, tuple[CellView, ...]]:
        """Per network id, the tension-map cells on watch within its areas at ``at`` (default:
        now), from the live read models (the weekly digest names them)."""
        when = at or self.clock.now()
        view = tension_view(self.tension.state, when, self.tension_projection.config)
        return watched_by_network(self.calls.state, view)

    # ------------------------------------------------ time travel (live when ``moment`` is LIVE)

    def _live(self, moment: Moment) -> bool:
        """Answered from the live read models (else by replaying the log)."""
        return moment.live and self.following

    async def calls_at(self, moment: Moment) -> CallListState:
        if self._live(moment):
            return self.calls.state
        return await replay(self.store, self._calls_projection, moment)

    async def escalations_at(self, moment: Moment) -> EscalationsState:
        if self._live(moment):
            return self.escalations.state
        return await replay(self.store, self._escalations_projection, moment)

    async def outreach_at(self, moment: Moment) -> OutreachState:
        if self._live(moment):
            return self.outreach.state
        return await replay(self.store, self._outreach_projection, moment)

    async def health_at(self, moment: Moment) -> HealthState:
        if self._live(moment):
            return self.health.state
        return await replay(self.store, self._health_projection, moment)

    async def tension_at(self, moment: Moment) -> TensionState:
        if self._live(moment):
            return self.tension.state
        return await replay(self.store, self.tension_projection, moment)

    async def network_health_at(self, moment: Moment) -> tuple[NetworkHealth, ...]:
        """Every network's health at ``moment`` (judged at its view time)."""
        if self._live(moment):
            return self.network_health()
        calls, life = await asyncio.gather(self.calls_at(moment), self.health_at(moment))
        return network_health(calls, at=moment.view_at(self.clock), life=life)

    async def call_list_at(
        self, moment: Moment, area: str, themes: Sequence[str], communities: Sequence[str]
    ) -> CallList:
        if self._live(moment):
            return self.call_list(area, themes, communities)
        return call_list(
            await self.calls_at(moment),
            area=area,
            themes=themes,
            communities=communities,
            at=moment.view_at(self.clock),
        )

    def ally_personal(self, ally_id: str) -> AllyPersonal | None:
        """An ally's own contact details, to invite them (never logged)."""
        for network in self.networks.networks.values():
            member = network.members.get(ally_id)
            if member is not None and isinstance(member.personal, AllyPersonal):
                return member.personal
        return None

    def escalation_of_convening(self, convening_id: str) -> str | None:
        return self.escalations.state.convening_index.get(convening_id)

    def convening(self, convening_id: str) -> ConveningRecord | None:
        escalation_id = self.escalation_of_convening(convening_id)
        record = self.escalations.state.escalations.get(escalation_id) if escalation_id else None
        return record.convenings.get(convening_id) if record else None

    async def catch_up(self, timeout: float = 30.0) -> bool:  # noqa: ASYNC109
        """Wait until every projection reflects the log as it is now (after a start or a
        rebuild), so what acts on them does not start from an empty picture."""
        last = await self.store.last_position()
        results = await asyncio.gather(*(r.wait_for(last, timeout) for r in self.runners))
        return all(results)

    async def caught_up(self, position: int, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Wait until every read model reflects the log up to ``position`` (read-your-writes)."""
        results = await asyncio.gather(*(r.wait_for(position, timeout) for r in self.runners))
        return all(results)

    async def tension_map(
        self,
        at: datetime | None = None,
        *,
        area: str | None = None,
        theme: str | None = None,
        moment: Moment = LIVE,
    ) -> TensionMapView:
        """The map at ``moment``; ``at`` is the old name of ``moment.as_known_at``."""
        if at is not None:
            moment = Moment(as_of=moment.as_of, as_known_at=at)
        state = await self.tension_at(moment)
        view_at = moment.view_at(self.clock)
        return tension_view(state, view_at, self.tension_projection.config, area=area, theme=theme)

    def call_list(self, area: str, themes: Sequence[str], communities: Sequence[str]) -> CallList:
        return call_list(
            self.calls.state, area=area, themes=themes, communities=communities, at=self.clock.now()
        )

    @property
    def networks(self) -> CallListState:
        return self.calls.state

    def known_network(self, network_id: str) -> KnownNetwork | None:
        network = self.calls.state.networks.get(network_id)
        if network is None:
            return None
        return KnownNetwork(network_id, frozenset(network.areas), frozenset(network.members))
