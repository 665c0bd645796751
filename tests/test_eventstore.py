"""The event store against a real nats-server: append/load, concurrency, dedup, order, as-of."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from domain.errors import ConcurrencyConflict
from events.envelope import AggregateRef, new_envelope
from events.network import NetworkFormed
from services.adapters.jetstream.eventstore import JetStreamEventStore
from tests.factories import at, signal, signal_envelope

NETWORK = AggregateRef(kind="network", area="GM0034-haven", id="nw-haven")


def formed(minutes: float = 0, name: str = "Netwerk Haven") -> object:
    return new_envelope(
        NetworkFormed(
            network_id="nw-haven", name=name, area="GM0034-haven", areas=("GM0034-haven",)
        ),
        aggregate=NETWORK,
        actor="municipality:oov-almere",
        source="/bondgenoten/test",
        recorded_at=at(minutes),
    )


async def test_append_then_load_returns_events_in_order(store: JetStreamEventStore) -> None:
    first = signal_envelope(signal_id="s1")
    result = await store.append([first], expected_version=0)
    assert result.positions == (1,) and not result.duplicate

    events, version = await store.load(first.aggregate)
    assert version == 1
    assert [e.id for e in events] == [first.id]
    loaded = events[0]
    assert loaded.data == first.data
    assert loaded.correlation_id == first.correlation_id
    assert loaded.recorded_at == first.recorded_at and loaded.position == 1


async def test_load_of_unknown_aggregate_is_empty(store: JetStreamEventStore) -> None:
    assert await store.load(NETWORK) == ([], 0)


async def test_multiple_events_append_atomically_with_one_expected_version(
    store: JetStreamEventStore,
) -> None:
    batch = [formed(0), formed(1, "Netwerk Haven (hernoemd)")]
    result = await store.append(batch, expected_version=0)
    assert result.positions == (1, 2) and result.version == 2
    events, version = await store.load(NETWORK)
    assert [e.id for e in events] == [e.id for e in batch] and version == 2


async def test_stale_expected_version_is_a_concurrency_conflict(store: JetStreamEventStore) -> None:
    await store.append([formed(0)], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        await store.append([formed(1)], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        await store.append([formed(1), formed(2)], expected_version=0)
    # Nothing of the refused appends was stored.
    events, version = await store.load(NETWORK)
    assert len(events) == 1 and version == 1


async def test_concurrent_writers_exactly_one_wins(store: JetStreamEventStore) -> None:
    await store.append([formed(0)], expected_version=0)
    results = await asyncio.gather(
        *(store.append([formed(i)], expected_version=1) for i in range(1, 6)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyConflict) for r in results) == 4


async def test_retried_append_is_a_noop(store: JetStreamEventStore) -> None:
    event = signal_envelope(signal_id="s-retry")
    first = await store.append([event], expected_version=0)
    again = await store.append([event], expected_version=0)
    assert again.duplicate and again.positions == first.positions
    events, _ = await store.load(event.aggregate)
    assert len(events) == 1


async def test_retried_append_after_dedup_window_is_still_a_noop(
    store: JetStreamEventStore,
) -> None:
    short = replace(store.topology, duplicate_window_s=0.2)
    # A second stream set with a short duplicate window, so the retry falls outside it.
    from services.adapters.jetstream.topology import ensure_streams

    short = replace(
        short, stream_prefix=short.stream_prefix + "W", subject_prefix=short.subject_prefix + "w"
    )
    await ensure_streams(store._js, short)
    s = JetStreamEventStore(store._nc, short)
    event = signal_envelope(signal_id="s-late")
    first = await s.append([event], expected_version=0)
    await asyncio.sleep(0.5)
    again = await s.append([event], expected_version=0)
    assert again.duplicate and again.positions == first.positions
    assert await s.last_position() == 1


async def test_read_is_in_log_order_and_as_of_stops_at_first_later_event(
    store: JetStreamEventStore,
) -> None:
    written = [signal_envelope(signal_id=f"s{i}", minutes=i) for i in range(5)]
    for e in written:
        await store.append([e], expected_version=0)
    everything = [e async for e in store.read()]
    assert [e.id for e in everything] == [e.id for e in written]
    assert [e.position for e in everything] == [1, 2, 3, 4, 5]

    as_of = [e async for e in store.read(as_of=at(2))]
    assert [e.id for e in as_of] == [e.id for e in written[:3]]
    from_third = [e async for e in store.read(from_position=3)]
    assert [e.position for e in from_third] == [3, 4, 5]


async def test_read_filters_by_kind_and_area(store: JetStreamEventStore) -> None:
    await store.append([formed(0)], expected_version=0)
    await store.append([signal_envelope(signal_id="a", area="GM0034-haven")], expected_version=0)
    await store.append(
        [signal_envelope(signal(signal_id="b", area="GM0344-overvecht", network_id="nw-ov"))],
        expected_version=0,
    )
    signals = [e.data.signal_id async for e in store.read(kinds=["signal"])]
    assert signals == ["a", "b"]
    networks = [e.id async for e in store.read(kinds=["network"])]
    assert len(networks) == 1


async def test_read_with_filter_matching_nothing_returns_at_once(
    store: JetStreamEventStore,
) -> None:
    await store.append([formed(0)], expected_version=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = [e async for e in store.read(kinds=["signal"])]
    assert got == [] and loop.time() - started < 1.0


async def test_as_of_stops_at_the_first_later_event_rather_than_filtering(
    store: JetStreamEventStore,
) -> None:
    """Recorded times can go backwards in the log (clock skew between writers). The log as it
    was at T ends where the first event recorded after T sits: an event behind it belongs to
    a later log, even if its own recorded time is earlier."""
    minutes = [0, 1, 5, 2, 3]  # the third was recorded by a writer whose clock ran ahead
    written = [signal_envelope(signal_id=f"s{i}", minutes=m) for i, m in enumerate(minutes)]
    for e in written:
        await store.append([e], expected_version=0)
    as_of = [e.data.signal_id async for e in store.read(as_of=at(4))]
    assert as_of == ["s0", "s1"]
