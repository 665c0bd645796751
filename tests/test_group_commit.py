"""Group commit against a real server: concurrent appends of different aggregates share
commits, and each keeps its own idempotency and concurrency check inside the shared batch."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import ConcurrencyConflict
from services.adapters.jetstream.eventstore import JetStreamEventStore
from tests.conftest import stream_messages
from tests.factories import signal_envelope


async def test_concurrent_appends_share_commits_and_each_is_stored_once(
    store: JetStreamEventStore,
) -> None:
    events = [signal_envelope(signal_id=f"g{i}") for i in range(200)]
    results = await asyncio.gather(*(store.append([e], expected_version=0) for e in events))
    positions = sorted(p for r in results for p in r.positions)
    assert positions == list(range(1, 201))
    assert store._committer.grouped > 0 and store._committer.groups < 200
    stored = await stream_messages(store._nc, store.topology.events_stream)
    assert sorted(m.headers["Nats-Msg-Id"] for m in stored) == sorted(e.id for e in events)


async def test_a_conflict_in_a_group_fails_alone_and_the_others_commit(
    store: JetStreamEventStore,
) -> None:
    taken = signal_envelope(signal_id="taken")
    await store.append([taken], expected_version=0)
    again = taken.model_copy(update={"id": f"{taken.id}-other"})  # another decision, same aggregate
    others = [signal_envelope(signal_id=f"o{i}") for i in range(30)]
    outcomes = await asyncio.gather(
        *(store.append([e], expected_version=0) for e in others[:15]),
        store.append([again], expected_version=0),
        *(store.append([e], expected_version=0) for e in others[15:]),
        return_exceptions=True,
    )
    conflicts = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert len(conflicts) == 1 and outcomes[15] is conflicts[0]
    assert all(not isinstance(o, BaseException) for i, o in enumerate(outcomes) if i != 15)
    assert await store.last_position() == 31


async def test_a_retried_append_in_a_group_is_an_idempotent_success(
    store: JetStreamEventStore,
) -> None:
    first = signal_envelope(signal_id="once")
    done = await store.append([first], expected_version=0)
    others = [signal_envelope(signal_id=f"r{i}") for i in range(20)]
    outcomes = await asyncio.gather(
        store.append([first], expected_version=0),
        *(store.append([e], expected_version=0) for e in others),
    )
    assert outcomes[0].duplicate and outcomes[0].positions == done.positions
    assert await store.last_position() == 21


@pytest.mark.parametrize("n", [2, 3])
async def test_two_appends_to_one_aggregate_never_share_a_batch(
    store: JetStreamEventStore, n: int
) -> None:
    """The second is checked after the first committed, as if they came one after another."""
    base = signal_envelope(signal_id="same")
    batch = [base.model_copy(update={"id": f"{base.id}-{i}"}) for i in range(n)]
    outcomes = await asyncio.gather(
        *(store.append([e], expected_version=None) for e in batch),
        *(
            store.append([signal_envelope(signal_id=f"x{i}")], expected_version=0)
            for i in range(10)
        ),
    )
    assert len({p for o in outcomes for p in o.positions}) == n + 10


async def test_closing_fails_the_appends_of_a_commit_in_flight(
    store: JetStreamEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody waits for ever on a store that closed mid-commit: they get an error to retry."""
    from services.adapters.jetstream import group_commit

    entered = asyncio.Event()

    async def stuck(*_a: object, **_k: object) -> None:
        entered.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(group_commit, "publish_atomic_batch", stuck)
    monkeypatch.setattr(store, "_alone", stuck)
    store._committer._alone = stuck  # type: ignore[assignment]
    pending = [
        asyncio.create_task(store.append([signal_envelope(signal_id=f"c{i}")], 0)) for i in range(3)
    ]
    await entered.wait()
    await store.close()
    outcomes = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
