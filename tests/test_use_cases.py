"""Use cases on the in-memory adapters: the handler table and the workflow's process manager,
end to end in milliseconds (the JetStream adapters pass the same contract suite)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.access import Principal, Role
from domain.errors import Conflict
from domain.intake import InvalidInput
from domain.policy import parse_policies
from events.signals import DEFAULT_THEMES
from services.adapters.clock import FixedClock
from services.adapters.memory import InMemoryEventStore, InMemoryProjection, InMemoryScheduler
from services.app import commands as c
from services.app.handlers import CommandHandlers
from services.app.readmodels import ReadModels
from services.app.workflow import Workflow
from tests.api_helpers import AREA, NETWORK, signal_body
from tests.factories import T0

POLICY = parse_policies(
    """
[default]
open_band = "high"
[[default.levels]]
name = "OOV"
ack_timeout_s = 300
[[default.levels.recipients]]
name = "oov"
channels = ["console"]
addresses = { console = "-" }
"""
)
OOV = "municipality:oov"


class App:
    def __init__(self) -> None:
        self.store = InMemoryEventStore()
        self.clock = FixedClock(T0)
        self.read = ReadModels(self.store, self.clock, lambda p: InMemoryProjection(self.store, p))
        self.handlers = CommandHandlers(
            self.store, self.clock, self.read, POLICY, frozenset(DEFAULT_THEMES)
        )
        self.scheduler = InMemoryScheduler()
        self.workflow = Workflow(self.handlers, self.clock, self.read, POLICY, self.scheduler)

    async def do(self, command: c.Command, *, actor: str = OOV, key: str | None = None) -> Any:
        role, _, id_ = actor.partition(":")
        principal = Principal(Role(role), id_)
        return await self.handlers.handle(command, principal=principal, key=key, channel="test")

    async def seed(self) -> None:
        await self.do(c.FormNetwork(network_id=NETWORK, name="Stad", area=AREA, areas=(AREA,)))
        for ally in ("a1", "a2", "a3"):
            await self.do(
                c.EnrollAlly(
                    network_id=NETWORK,
                    ally_id=ally,
                    areas=(AREA,),
                    consent_to_be_called=True,
                    personal={"name": f"Bondgenoot {ally}", "phone": "+31 6 1234 5678"},
                )
            )

    def signal(self, **kw: Any) -> c.SubmitSignal:
        body = signal_body(occurred_at=(self.clock.now() - timedelta(minutes=1)).isoformat())
        return c.SubmitSignal.model_validate({**body, **kw})

    async def react_to_log(self) -> None:
        """What the workflow's reactors do: each signal, then each escalation event."""
        async for raw in self.store.read_raw(kinds=["urgent"]):
            await self.workflow.on_urgent(raw)
        async for raw in self.store.read_raw(kinds=["signal"]):
            await self.workflow.on_signal(raw)
        async for raw in self.store.read_raw(kinds=["escalation"]):
            await self.workflow.on_escalation_event(raw)


async def test_a_signal_is_recorded_once_per_key_and_a_reused_key_is_refused() -> None:
    app = App()
    await app.seed()
    signal = app.signal()
    first = await app.do(signal, actor="ally:a1", key="k1")
    again = await app.do(signal, actor="ally:a1", key="k1")
    assert first.event_types == ("signal.received",) and not first.duplicate
    assert again.duplicate and again.signal_id == first.signal_id
    with pytest.raises(Conflict, match="already used"):
        await app.do(app.signal(level=2), actor="ally:a1", key="k1")
    assert len([e async for e in app.store.read(kinds=["signal"])]) == 1


async def test_a_signal_of_a_stranger_or_with_an_unknown_theme_is_refused() -> None:
    app = App()
    await app.seed()
    with pytest.raises(InvalidInput) as refused:
        await app.do(app.signal(reporter="a9", themes=["weather"]), actor="ally:a9")
    assert {e.field for e in refused.value.errors} == {"reporter", "themes"}


async def test_three_corroborating_signals_open_one_escalation_and_arm_its_timer() -> None:
    app = App()
    await app.seed()
    for reporter in ("a1", "a2", "a3"):
        await app.do(app.signal(reporter=reporter, level=5), actor=f"ally:{reporter}")
    await app.react_to_log()
    (record,) = app.read.escalations.state.escalations.values()
    assert record.area == AREA and record.trigger == "band_crossed"
    (timer_id,) = app.scheduler.pending
    assert app.scheduler.pending[timer_id][0] == T0 + timedelta(seconds=300)
    await app.react_to_log()  # a replay opens nothing more and arms nothing more
    assert len(app.read.escalations.state.escalations) == 1 and len(app.scheduler.pending) == 1


async def test_a_declaration_is_acknowledged_once_and_closed() -> None:
    app = App()
    await app.seed()
    declared = await app.do(
        c.DeclareEscalation(area=AREA, theme="demonstration", reason="groep onderweg"),
        actor="police:meldkamer",
    )
    eid = declared.escalation_id
    assert eid and declared.event_types[0] == "escalation.opened"
    ack = await app.do(c.AcknowledgeEscalation(escalation_id=eid))
    assert ack.event_types == ("escalation.acknowledged",)
    with pytest.raises(Conflict):
        await app.do(c.AcknowledgeEscalation(escalation_id=eid))
    await app.do(c.CloseEscalation(escalation_id=eid, reason="rust"))
    assert app.read.escalations.state.escalations[eid].status == "closed"


async def test_beyond_the_in_flight_limit_a_command_is_refused_not_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Back-pressure: an overloaded service answers at once (503 / unavailable, retry) instead
    of letting every answer, the urgent ones too, wait in an unbounded queue."""
    import asyncio

    from services.app import handlers as h
    from services.app.ports import Overloaded

    app = App()
    await app.seed()
    monkeypatch.setattr(h, "MAX_IN_FLIGHT", 2)
    gate = asyncio.Event()
    append = app.store.append

    async def slow_append(*args: Any, **kw: Any) -> Any:
        await gate.wait()
        return await append(*args, **kw)

    monkeypatch.setattr(app.store, "append", slow_append)
    held = [
        asyncio.create_task(app.do(app.signal(idempotency_key=f"k{i}"), actor="ally:a1"))
        for i in range(2)
    ]
    while app.handlers._in_flight < 2:  # noqa: ASYNC110 - the tasks above set no event
        await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await app.do(app.signal(idempotency_key="k3"), actor="ally:a1")
    # The urgent lane has a reserve: a major incident still gets in, and is recorded as soon
    # as the store answers.
    urgent = asyncio.create_task(
        app.do(app.signal(idempotency_key="u1", major_incident=True), actor="ally:a1")
    )
    while app.handlers._in_flight < 3:  # noqa: ASYNC110 - the task above sets no event
        await asyncio.sleep(0)
    gate.set()
    assert (await urgent).event_ids
    assert all(r.event_ids for r in await asyncio.gather(*held))
    assert (await app.do(app.signal(idempotency_key="k3"), actor="ally:a1")).event_ids


async def test_routine_commands_wait_their_turn_and_an_urgent_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a few routine commands are decided at once; the others wait before doing any work,
    so an urgent one (here a major incident) is decided at once instead of sharing the event
    loop with every routine one admitted."""
    import asyncio

    from services.app import handlers as h

    monkeypatch.setattr(h, "ROUTINE_AT_ONCE", 1)
    app = App()
    await app.seed()
    gate = asyncio.Event()
    append = app.store.append

    reached: list[str] = []

    async def slow_routine_append(events: Any, *args: Any, **kw: Any) -> Any:
        if events and events[0].aggregate.kind == "signal":
            reached.append(events[0].id)
            await gate.wait()
        return await append(events, *args, **kw)

    monkeypatch.setattr(app.store, "append", slow_routine_append)
    routine = [
        asyncio.create_task(app.do(app.signal(idempotency_key=f"r{i}"), actor="ally:a1"))
        for i in range(3)
    ]
    while app.handlers._in_flight < 3:  # noqa: ASYNC110 - the tasks above set no event
        await asyncio.sleep(0)
    urgent = await app.do(app.signal(idempotency_key="u", major_incident=True), actor="ally:a1")
    assert urgent.event_ids and not any(t.done() for t in routine)
    assert len(reached) == 1  # one routine command deciding, two waiting before any work
    gate.set()
    assert all(r.event_ids for r in await asyncio.gather(*routine))
