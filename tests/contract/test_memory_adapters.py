"""What the in-memory adapters add to the contracts: the scheduler and the rejected inputs; and
a use case running on them, as use-case tests will."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.intake import FieldError, InvalidInput
from events.signals import DEFAULT_THEMES
from services.adapters.clock import SystemClock
from services.adapters.memory import (
    InMemoryEventStore,
    InMemoryProjection,
    InMemoryRejectedInputs,
    InMemoryScheduler,
    Rejected,
)
from services.app.intake import SignalIntake
from services.app.readmodels import ReadModels
from tests.api_helpers import AREA, NETWORK, signal_body
from tests.builders_network import ally_enrolled, envelope, network_formed
from tests.factories import T0

# ---------------------------------------------------------------- scheduler and rejected inputs


async def test_a_timer_is_due_once_at_its_time() -> None:
    scheduler = InMemoryScheduler()
    await scheduler.schedule("deadline", T0 + timedelta(minutes=10), b"deadline")
    await scheduler.schedule("ack", T0 + timedelta(minutes=5), b"ack")
    await scheduler.schedule("reminder", T0 + timedelta(minutes=5), b"reminder")
    assert scheduler.due(T0) == []
    assert scheduler.due(T0 + timedelta(minutes=5)) == [("ack", b"ack"), ("reminder", b"reminder")]
    assert scheduler.due(T0 + timedelta(minutes=5)) == []
    assert list(scheduler.pending) == ["deadline"]
    assert scheduler.due(T0 + timedelta(hours=1)) == [("deadline", b"deadline")]
    assert scheduler.pending == {}


async def test_a_timer_id_is_scheduled_once() -> None:
    scheduler = InMemoryScheduler()
    await scheduler.schedule("t1", T0 + timedelta(minutes=5), b"first")
    await scheduler.schedule("t1", T0, b"again")
    assert scheduler.pending == {"t1": (T0 + timedelta(minutes=5), b"first")}
    assert scheduler.due(T0 + timedelta(minutes=5)) == [("t1", b"first")]
    await scheduler.schedule("t1", T0, b"after it fired")
    assert scheduler.due(T0 + timedelta(days=1)) == []


async def test_rejected_inputs_are_kept_in_order() -> None:
    rejected = InMemoryRejectedInputs()
    why = [FieldError("level", "must be 1-5", "out_of_range")]
    await rejected.keep(b'{"level": 9}', "http", why)
    await rejected.keep(b"not json", "nats", [])
    assert rejected.kept == [
        Rejected(b'{"level": 9}', "http", tuple(why)),
        Rejected(b"not json", "nats", ()),
    ]


# ---------------------------------------------------------------- a use case on them


async def test_signal_intake_runs_on_the_in_memory_adapters() -> None:
    store = InMemoryEventStore()
    clock = SystemClock()
    read = ReadModels(store, clock, lambda projection: InMemoryProjection(store, projection))
    for data in [
        network_formed(NETWORK, area=AREA, areas=(AREA,)),
        ally_enrolled("a1", network_id=NETWORK, areas=(AREA,)),
    ]:
        await store.append([envelope(data, area=AREA)], expected_version=None)
    rejected = InMemoryRejectedInputs()
    intake = SignalIntake(
        store, clock, lambda: frozenset(DEFAULT_THEMES), read.known_network, rejected
    )

    accepted = await intake.submit(signal_body(), "http")
    assert accepted.position == 3 and not accepted.duplicate
    assert f"{AREA}/demonstration" in read.tension.state.cells
    with pytest.raises(InvalidInput):
        await intake.submit(signal_body(level=9), "http")
    [kept] = rejected.kept
    assert kept.channel == "http" and [e.field for e in kept.errors] == ["level"]
