"""What the in-memory adapters add to the contracts: the store's synchronous listeners, the
projection's parked events and ``close``, the scheduler and the rejected inputs; and a use case
running on them, as use-case tests will."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from domain.intake import FieldError
from events.codec import encode
from services.adapters.memory import (
    InMemoryEventStore,
    InMemoryProjection,
    InMemoryRejectedInputs,
    InMemoryScheduler,
    Rejected,
)
from services.app.ports import RawEvent
from tests.contract.test_live_projection_contract import SignalIds
from tests.factories import T0, signal_envelope

T = TypeVar("T")

# ---------------------------------------------------------------- the store's listeners


async def test_a_listener_hears_every_stored_event_in_log_order() -> None:
    store = InMemoryEventStore()
    heard: list[RawEvent] = []
    store.subscribe(heard.append)
    s1 = signal_envelope(signal_id="s1")
    await store.append([s1], expected_version=0)
    await store.append([signal_envelope(signal_id="s2")], expected_version=0)
    poison = signal_envelope(signal_id="poison")
    await store.append_raw(poison.aggregate, {"ce-type": "unheard-of"}, b"{}")
    await store.append([s1], expected_version=0)  # a duplicate stores nothing: nothing heard
    assert [r.position for r in heard] == [1, 2, 3]
    assert heard[0].decode().id == s1.id and heard[2].body == b"{}"
    assert heard == [r async for r in store.read_raw()]


async def test_subscribe_can_replay_what_is_stored_and_be_undone() -> None:
    store = InMemoryEventStore()
    await store.append([signal_envelope(signal_id="s1")], expected_version=0)
    heard: list[int] = []
    unsubscribe = store.subscribe(lambda raw: heard.append(raw.position), replay=True)
    await store.append([signal_envelope(signal_id="s2")], expected_version=0)
    unsubscribe()
    await store.append([signal_envelope(signal_id="s3")], expected_version=0)
    assert heard == [1, 2]


def run_now(step: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the in-memory store's) to its end, synchronously,
    as a synchronous listener would have to."""
    try:
        step.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    raise AssertionError("it suspended")


async def test_a_listener_that_appends_does_not_reorder_what_others_hear() -> None:
    store = InMemoryEventStore()
    first: list[int] = []
    second: list[int] = []

    def reactor(raw: RawEvent) -> None:
        first.append(raw.position)
        if raw.decode().data.signal_id == "s1":
            reply = signal_envelope(signal_id="s1-reply")
            assert run_now(store.append([reply], expected_version=0)).positions == (2,)

    store.subscribe(reactor)
    store.subscribe(lambda raw: second.append(raw.position))
    await store.append([signal_envelope(signal_id="s1")], expected_version=0)
    # The reply was stored while s1 was being handed out: the second listener still hears
    # s1 before the reply.
    assert first == second == [1, 2]


async def test_a_failing_listener_does_not_fail_the_append_or_silence_others() -> None:
    store = InMemoryEventStore()
    heard: list[int] = []

    def broken(raw: RawEvent) -> None:
        raise RuntimeError("listener bug")

    store.subscribe(broken)
    store.subscribe(lambda raw: heard.append(raw.position))
    result = await store.append([signal_envelope(signal_id="s1")], expected_version=0)
    assert result.positions == (1,) and heard == [1]


# ---------------------------------------------------------------- the projection


async def test_the_projection_keeps_what_it_parked_with_the_reason() -> None:
    store = InMemoryEventStore()
    live = InMemoryProjection(store, SignalIds())
    poison = signal_envelope(signal_id="poison")
    headers, _ = encode(poison)
    headers["ce-type"] = "nl.bondgenoten.unheard-of"
    await store.append_raw(poison.aggregate, headers, b"{}")
    await store.append([signal_envelope(signal_id="boom")], expected_version=0)
    assert live.dead_letters == 2
    [(undecodable, why), (unfoldable, because)] = live.parked
    assert undecodable.position == 1 and why.startswith("undecodable: UnknownEventType")
    assert (
        unfoldable.position == 2
        and because == "evolve failed: ValueError: this one cannot be folded"
    )
    assert live.checkpoint == 2 and live.state == []


async def test_a_closed_projection_stops_following_and_is_never_caught_up_again() -> None:
    store = InMemoryEventStore()
    live = InMemoryProjection(store, SignalIds())
    await store.append([signal_envelope(signal_id="s1")], expected_version=0)
    live.close()
    later = await store.append([signal_envelope(signal_id="s2")], expected_version=0)
    assert live.state == ["s1"]
    assert await live.wait_for(1)
    assert not await live.wait_for(later.version)


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
