"""The EventStore contract (``services.app.ports.EventStore``), on the in-memory and JetStream
stores alike: append/load, optimistic concurrency, retries as no-ops, the log and its reads.

What only the server proves (dedup headers, stream behaviour, timeouts, connection drops)
stays in ``tests/test_eventstore.py`` and the durability tests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from domain.errors import ConcurrencyConflict
from events.codec import DecodeError, encode
from events.envelope import AggregateRef, Envelope, new_envelope
from events.network import NetworkFormed
from tests.contract.conftest import PutRaw, Store
from tests.factories import at, signal, signal_envelope

NETWORK = AggregateRef(kind="network", area="GM0034-haven", id="nw-haven")


def formed(minutes: float = 0, name: str = "Netwerk Haven") -> Envelope[Any]:
    return new_envelope(
        NetworkFormed(
            network_id="nw-haven", name=name, area="GM0034-haven", areas=("GM0034-haven",)
        ),
        aggregate=NETWORK,
        actor="municipality:oov-almere",
        source="/bondgenoten/test",
        recorded_at=at(minutes),
    )


async def put_poison(put_raw: PutRaw, signal_id: str = "poison") -> AggregateRef:
    """A signal event this code cannot read (its type unknown, e.g. written by a newer
    version), stored as it is: no dedup, no expected version."""
    poison = signal_envelope(signal_id=signal_id)
    headers, _ = encode(poison)
    headers["ce-type"] = "nl.bondgenoten.unheard-of"
    await put_raw(poison.aggregate, headers, b"{}")
    return poison.aggregate


# ---------------------------------------------------------------- append and load


async def test_append_then_load_returns_events_in_order(any_store: Store) -> None:
    first = signal_envelope(signal_id="s1")
    result = await any_store.append([first], expected_version=0)
    assert result.positions == (1,) and result.version == 1 and not result.duplicate

    events, version = await any_store.load(first.aggregate)
    assert version == 1
    assert [e.id for e in events] == [first.id]
    loaded = events[0]
    assert loaded.data == first.data
    assert loaded.correlation_id == first.correlation_id
    assert loaded.recorded_at == first.recorded_at and loaded.position == 1


async def test_an_event_reads_back_equal_to_what_was_appended(any_store: Store) -> None:
    written = new_envelope(
        NetworkFormed(
            network_id="nw-haven", name="Netwerk Haven", area="GM0034-haven", areas=("GM0034",)
        ),
        aggregate=NETWORK,
        actor="municipality:oov-almere",
        source="/bondgenoten/test",
        recorded_at=at(2),
        occurred_at=at(1),
        correlation_id="incident-7",
        causation_id="cmd-1",
    )
    await any_store.append([written], expected_version=0)
    [loaded], _ = await any_store.load(NETWORK)
    assert loaded == written.model_copy(update={"position": 1})


async def test_load_of_unknown_aggregate_is_empty(any_store: Store) -> None:
    assert await any_store.load(NETWORK) == ([], 0)
    assert await any_store.version(NETWORK) == 0
    await any_store.append([signal_envelope(signal_id="s1")], expected_version=0)
    assert await any_store.load(NETWORK) == ([], 0)


async def test_multiple_events_append_atomically_with_one_expected_version(
    any_store: Store,
) -> None:
    batch = [formed(0), formed(1, "Netwerk Haven (hernoemd)")]
    result = await any_store.append(batch, expected_version=0)
    assert result.positions == (1, 2) and result.version == 2 and not result.duplicate
    events, version = await any_store.load(NETWORK)
    assert [e.id for e in events] == [e.id for e in batch] and version == 2
    assert [e.position for e in events] == [1, 2]


async def test_an_append_covers_one_aggregate_and_at_least_one_event(any_store: Store) -> None:
    with pytest.raises(ValueError):
        await any_store.append([], expected_version=None)
    with pytest.raises(ValueError):
        await any_store.append([formed(0), signal_envelope(signal_id="s1")], expected_version=None)
    assert await any_store.last_position() == 0


# ---------------------------------------------------------------- versions and positions


async def test_positions_are_one_log_and_a_version_is_the_last_position_of_its_aggregate(
    any_store: Store,
) -> None:
    assert await any_store.last_position() == 0
    await any_store.append([formed(0)], expected_version=0)
    s1 = signal_envelope(signal_id="s1")
    assert (await any_store.append([s1], expected_version=0)).positions == (2,)
    renamed = await any_store.append([formed(1, "Netwerk Haven-Oost")], expected_version=1)
    assert renamed.positions == (3,) and renamed.version == 3
    await any_store.append([signal_envelope(signal_id="s2")], expected_version=0)

    assert await any_store.version(NETWORK) == 3
    assert await any_store.version(s1.aggregate) == 2
    assert await any_store.last_position() == 4
    events, version = await any_store.load(NETWORK)
    assert [e.position for e in events] == [1, 3] and version == 3


async def test_expected_version_none_appends_whatever_the_version(any_store: Store) -> None:
    assert (await any_store.append([formed(0)], expected_version=None)).positions == (1,)
    result = await any_store.append([formed(1), formed(2)], expected_version=None)
    assert result.positions == (2, 3) and result.version == 3


async def test_expected_version_n_must_be_the_current_version(any_store: Store) -> None:
    await any_store.append([formed(0)], expected_version=0)
    await any_store.append([signal_envelope(signal_id="s1")], expected_version=0)
    # The network's version is 1 (its last position), not its event count or the log's end.
    for stale in (2, 3, 7):
        with pytest.raises(ConcurrencyConflict):
            await any_store.append([formed(1)], expected_version=stale)
    result = await any_store.append([formed(1)], expected_version=1)
    assert result.positions == (3,) and result.version == 3
    with pytest.raises(ConcurrencyConflict):
        await any_store.append([formed(2)], expected_version=1)
    assert (await any_store.append([formed(2), formed(3)], expected_version=3)).version == 5


async def test_stale_expected_version_is_a_concurrency_conflict(any_store: Store) -> None:
    await any_store.append([formed(0)], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        await any_store.append([formed(1)], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        await any_store.append([formed(1), formed(2)], expected_version=0)
    # Nothing of the refused appends was stored.
    events, version = await any_store.load(NETWORK)
    assert len(events) == 1 and version == 1
    assert await any_store.last_position() == 1


async def test_concurrent_writers_exactly_one_wins(any_store: Store) -> None:
    await any_store.append([formed(0)], expected_version=0)
    results = await asyncio.gather(
        *(any_store.append([formed(i)], expected_version=1) for i in range(1, 6)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyConflict) for r in results) == 4
    assert await any_store.version(NETWORK) == 2


# ---------------------------------------------------------------- retries are no-ops


async def test_retried_append_is_a_noop(any_store: Store) -> None:
    event = signal_envelope(signal_id="s-retry")
    first = await any_store.append([event], expected_version=0)
    again = await any_store.append([event], expected_version=0)
    assert again.duplicate and again.positions == first.positions and again.version == 1
    events, _ = await any_store.load(event.aggregate)
    assert len(events) == 1


async def test_retried_append_without_expected_version_is_a_noop(any_store: Store) -> None:
    event = signal_envelope(signal_id="s-retry")
    first = await any_store.append([event], expected_version=None)
    again = await any_store.append([event], expected_version=None)
    assert again.duplicate and again.positions == first.positions and again.version == 1
    assert await any_store.last_position() == 1


async def test_retried_multi_event_append_is_a_noop(any_store: Store) -> None:
    batch = [formed(0), formed(1)]
    first = await any_store.append(batch, expected_version=0)
    for expected in (0, None):
        again = await any_store.append(batch, expected_version=expected)
        assert again.duplicate and again.positions == first.positions and again.version == 2
    assert await any_store.last_position() == 2


async def test_retried_append_long_after_is_still_a_noop(any_store: Store) -> None:
    """Also after JetStream's dedup window: the retry's expected version is stale by then and
    the store finds the very same events in the aggregate. Its answer: where they landed,
    and the aggregate's version now."""
    created, renamed = formed(0), formed(1, "Netwerk Haven-Oost")
    first = await any_store.append([created], expected_version=0)
    await any_store.append([signal_envelope(signal_id="s1")], expected_version=0)
    second = await any_store.append([renamed], expected_version=1)
    await any_store.append([signal_envelope(signal_id="s2")], expected_version=0)

    again = await any_store.append([created], expected_version=0)
    assert again.duplicate and again.positions == first.positions == (1,)
    assert again.version == second.version == 3
    again = await any_store.append([renamed], expected_version=1)
    assert again.duplicate and again.positions == second.positions and again.version == 3
    assert await any_store.last_position() == 4


async def test_a_batch_holding_a_stored_event_and_a_new_one_is_refused_whole(
    any_store: Store,
) -> None:
    """Not a retry of one earlier append: a conflict, whatever the expected version."""
    stored = formed(0)
    await any_store.append([stored], expected_version=0)
    for expected in (1, None):
        with pytest.raises(ConcurrencyConflict):
            await any_store.append([stored, formed(1)], expected_version=expected)
    assert await any_store.last_position() == 1


async def test_a_batch_with_the_same_event_twice_is_refused_whole(any_store: Store) -> None:
    event = formed(0)
    with pytest.raises(ConcurrencyConflict):
        await any_store.append([event, event], expected_version=0)
    assert await any_store.last_position() == 0


async def test_another_event_under_an_existing_aggregate_is_no_duplicate(
    any_store: Store,
) -> None:
    await any_store.append([signal_envelope(signal_id="s1")], expected_version=0)
    with pytest.raises(ConcurrencyConflict):
        await any_store.append([signal_envelope(signal_id="s1")], expected_version=0)


# ---------------------------------------------------------------- find


async def test_find_locates_an_aggregate_by_kind_and_id_without_its_area(
    any_store: Store,
) -> None:
    in_utrecht = signal(signal_id="s-ov", area="GM0344-overvecht", network_id="nw-ov")
    await any_store.append([signal_envelope(in_utrecht)], expected_version=0)
    await any_store.append([formed(0)], expected_version=0)

    assert await any_store.find("signal", "s-ov") == AggregateRef(
        kind="signal", area="GM0344-overvecht", id="s-ov"
    )
    assert await any_store.find("network", "nw-haven") == NETWORK
    assert await any_store.find("signal", "nw-haven") is None  # same id, other kind
    assert await any_store.find("signal", "s-elsewhere") is None
    assert await any_store.find("network", "nw") is None  # no prefix matching


async def test_find_answers_the_area_written_last_when_an_id_is_in_two_areas(
    any_store: Store,
) -> None:
    for area, network_id in [("GM0034-haven", "nw-haven"), ("GM0344-overvecht", "nw-ov")]:
        s = signal(signal_id="s-twice", area=area, network_id=network_id)
        await any_store.append([signal_envelope(s)], expected_version=0)
        assert (await any_store.find("signal", "s-twice")) == AggregateRef(
            kind="signal", area=area, id="s-twice"
        )
    await any_store.append(
        [signal_envelope(signal(signal_id="s-twice", area="GM0034-haven"), minutes=1)],
        expected_version=1,
    )
    found = await any_store.find("signal", "s-twice")
    assert found is not None and found.area == "GM0034-haven"


# ---------------------------------------------------------------- read


async def test_read_is_in_log_order_and_as_of_stops_at_first_later_event(
    any_store: Store,
) -> None:
    written = [signal_envelope(signal_id=f"s{i}", minutes=i) for i in range(5)]
    for e in written:
        await any_store.append([e], expected_version=0)
    everything = [e async for e in any_store.read()]
    assert [e.id for e in everything] == [e.id for e in written]
    assert [e.position for e in everything] == [1, 2, 3, 4, 5]

    as_of = [e async for e in any_store.read(as_of=at(2))]
    assert [e.id for e in as_of] == [e.id for e in written[:3]]
    from_third = [e async for e in any_store.read(from_position=3)]
    assert [e.position for e in from_third] == [3, 4, 5]


async def test_read_from_before_the_start_or_past_the_end(any_store: Store) -> None:
    for i in range(3):
        await any_store.append([signal_envelope(signal_id=f"s{i}")], expected_version=0)
    assert [e.position async for e in any_store.read(from_position=0)] == [1, 2, 3]
    assert [e.position async for e in any_store.read(from_position=3)] == [3]
    assert [e async for e in any_store.read(from_position=4)] == []
    assert [e async for e in any_store.read(from_position=100)] == []


async def test_read_of_an_empty_log_is_empty(any_store: Store) -> None:
    assert [e async for e in any_store.read()] == []
    assert [r async for r in any_store.read_raw()] == []


async def test_read_goes_up_to_the_end_of_the_log_when_it_starts(any_store: Store) -> None:
    for i in range(3):
        await any_store.append([signal_envelope(signal_id=f"s{i}")], expected_version=0)
    reading = any_store.read()
    first = await anext(reading)
    await any_store.append([signal_envelope(signal_id="later")], expected_version=0)
    rest = [e.position async for e in reading]
    assert [first.position, *rest] == [1, 2, 3]
    assert [e.position async for e in any_store.read()] == [1, 2, 3, 4]


async def test_read_filters_by_kind(any_store: Store) -> None:
    await any_store.append([formed(0)], expected_version=0)
    await any_store.append(
        [signal_envelope(signal_id="a", area="GM0034-haven")], expected_version=0
    )
    await any_store.append(
        [signal_envelope(signal(signal_id="b", area="GM0344-overvecht", network_id="nw-ov"))],
        expected_version=0,
    )
    signals = [e.data.signal_id async for e in any_store.read(kinds=["signal"])]
    assert signals == ["a", "b"]
    networks = [e.position async for e in any_store.read(kinds=["network"])]
    assert networks == [1]
    both = [e.position async for e in any_store.read(kinds=["network", "signal"])]
    assert both == [1, 2, 3]
    assert [e.position async for e in any_store.read(2, kinds=["signal"])] == [2, 3]


async def test_read_filters_by_area(any_store: Store) -> None:
    """One area's events, read through their subjects (an incident's review reads its area, not
    the whole log)."""
    await any_store.append([signal_envelope(signal_id="a", area="GM0034-haven")], 0)
    await any_store.append([signal_envelope(signal_id="b", area="GM0034-stad")], 0)
    await any_store.append([signal_envelope(signal_id="c", area="GM0034-haven")], 0)
    await any_store.append([formed(0)], expected_version=0)
    haven = [e.data.signal_id async for e in any_store.read(kinds=["signal"], area="GM0034-haven")]
    assert haven == ["a", "c"]
    every_kind = [e.position async for e in any_store.read(area="GM0034-stad")]
    assert every_kind == [2]


async def test_read_with_filter_matching_nothing_is_empty(any_store: Store) -> None:
    await any_store.append([formed(0)], expected_version=0)
    assert [e async for e in any_store.read(kinds=["signal"])] == []
    assert [e async for e in any_store.read(kinds=["escalation"], as_of=at(5))] == []


async def test_as_of_stops_at_the_first_later_event_rather_than_filtering(
    any_store: Store,
) -> None:
    """Recorded times can go backwards in the log (clock skew between writers). The log as it
    was at T ends where the first event recorded after T sits: an event behind it belongs to
    a later log, even if its own recorded time is earlier."""
    minutes = [0, 1, 5, 2, 3]  # the third was recorded by a writer whose clock ran ahead
    written = [signal_envelope(signal_id=f"s{i}", minutes=m) for i, m in enumerate(minutes)]
    for e in written:
        await any_store.append([e], expected_version=0)
    as_of = [e.data.signal_id async for e in any_store.read(as_of=at(4))]
    assert as_of == ["s0", "s1"]


async def test_as_of_counts_only_the_kinds_read(any_store: Store) -> None:
    await any_store.append([signal_envelope(signal_id="s0", minutes=0)], expected_version=0)
    await any_store.append([formed(10)], expected_version=0)  # recorded later, other kind
    await any_store.append([signal_envelope(signal_id="s1", minutes=1)], expected_version=0)
    got = [e.data.signal_id async for e in any_store.read(kinds=["signal"], as_of=at(2))]
    assert got == ["s0", "s1"]
    assert [e.position async for e in any_store.read(as_of=at(2))] == [1]
    assert [e async for e in any_store.read(as_of=at(-1))] == []


# ---------------------------------------------------------------- raw reads, undecodable events


async def test_read_raw_gives_the_stored_messages_in_log_order(any_store: Store) -> None:
    s1 = signal_envelope(signal_id="s1")
    await any_store.append([s1], expected_version=0)
    await any_store.append([formed(0)], expected_version=0)
    await any_store.append([signal_envelope(signal_id="s2")], expected_version=0)

    raws = [r async for r in any_store.read_raw()]
    assert [r.position for r in raws] == [1, 2, 3]
    first = raws[0]
    assert first.subject.endswith("ev.signal.GM0034.GM0034-haven.s1")
    assert first.headers["ce-id"] == s1.id and first.headers["ce-type"] == s1.type
    assert first.decode() == s1.model_copy(update={"position": 1})

    assert [r.position async for r in any_store.read_raw(kinds=["network"])] == [2]
    assert [r.position async for r in any_store.read_raw(kinds=["signal"])] == [1, 3]
    assert [r.position async for r in any_store.read_raw(until=2)] == [1, 2]
    assert [r.position async for r in any_store.read_raw(2, until=2)] == [2]
    assert [r.position async for r in any_store.read_raw(3, until=2)] == []
    assert [r.position async for r in any_store.read_raw(2, kinds=["signal"])] == [3]


async def test_an_undecodable_event_fails_a_read_unless_skipped(
    any_store: Store, put_raw: PutRaw
) -> None:
    await any_store.append([signal_envelope(signal_id="s1", minutes=0)], expected_version=0)
    await put_poison(put_raw)
    await any_store.append([signal_envelope(signal_id="s2", minutes=1)], expected_version=0)

    with pytest.raises(DecodeError):
        _ = [e async for e in any_store.read()]
    with pytest.raises(DecodeError):
        _ = [e async for e in any_store.read(kinds=["signal"], as_of=at(5))]
    readable = [e.position async for e in any_store.read(skip_undecodable=True)]
    assert readable == [1, 3]
    past = any_store.read(kinds=["signal"], as_of=at(0), skip_undecodable=True)
    assert [e.position async for e in past] == [1]

    raws = [r async for r in any_store.read_raw()]
    assert [r.position for r in raws] == [1, 2, 3] and raws[1].body == b"{}"
    with pytest.raises(DecodeError, match="UnknownEventType"):
        raws[1].decode()


async def test_an_undecodable_event_still_belongs_to_its_aggregate(
    any_store: Store, put_raw: PutRaw
) -> None:
    """It counts for the version and is found, and loading that aggregate fails loudly."""
    await any_store.append([formed(0)], expected_version=0)
    poisoned = await put_poison(put_raw, "poison")
    assert await any_store.version(poisoned) == 2
    assert await any_store.last_position() == 2
    assert await any_store.find("signal", "poison") == poisoned
    with pytest.raises(DecodeError):
        await any_store.load(poisoned)
    assert await any_store.load(NETWORK) == (
        [e async for e in any_store.read(kinds=["network"])],
        1,
    )
