"""The live read models of this process, and as-of queries answered by replaying the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from domain.intake import KnownNetwork
from events.network import AllyPersonal
from events.personal import PersonalCipher
from projections.base import Projection, fold
from projections.call_lists import CallList, CallListProjection, CallListState, call_list
from projections.escalations import ConveningRecord, EscalationsProjection, EscalationsState
from projections.network_health import (
    HealthState,
    NetworkHealth,
    NetworkHealthProjection,
    network_health,
)
from projections.outreach import OutreachProjection, OutreachState
from projections.tension_map import (
    TensionMapProjection,
    TensionMapView,
    TensionState,
    tension_view,
)
from services.app.ports import Clock, EventStore, LiveProjection


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


class ReadModels:
    """The live read models (tension map, call lists, escalations) and their queries."""

    def __init__(
        self, store: EventStore, clock: Clock, feed: Feed, cipher: PersonalCipher | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        tension, calls, escalations, outreach, health = projections(cipher)
        self.tension_projection = cast(TensionMapProjection, tension)
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
        self, at: datetime | None = None, *, area: str | None = None, theme: str | None = None
    ) -> TensionMapView:
        projection = self.tension_projection
        if at is None:
            return tension_view(
                self.tension.state, self.clock.now(), projection.config, area=area, theme=theme
            )
        events = [
            e
            async for e in self.store.read(
                kinds=self.tension_projection.kinds, as_of=at, skip_undecodable=True
            )
        ]
        state = fold(projection, events)
        return tension_view(state, at, projection.config, area=area, theme=theme)

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
