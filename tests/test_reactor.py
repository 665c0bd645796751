"""Reactors against a real server: a poison message is parked once and the rest flows in order;
an outage is waited out, never parked (parking would lose a signal, timer or alert)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import nats.errors
import pytest
from nats.aio.msg import Msg

from services.adapters.jetstream import eventstore as eventstore_module
from services.adapters.jetstream import reactor as reactor_module
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.extensions import BatchOutcomeUnknown
from services.adapters.jetstream.reactor import Reactor
from services.adapters.jetstream.topology import Topology
from services.adapters.memory.keystore import InMemoryKeyStore
from services.app.personal import Keyring
from services.app.ports import RawEvent
from tests.builders_network import ally_enrolled, envelope
from tests.conftest import eventually, stream_messages
from tests.factories import signal_envelope


def SIGNALS(t: Topology) -> list[str]:
    return [t.kind_filter("signal")]


@contextlib.asynccontextmanager
async def running(reactor: Reactor) -> AsyncIterator[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(reactor.run(ready))
    await ready.wait()
    try:
        yield
    finally:

        async def stopped() -> bool:
            # A cancel that lands just as a message arrives can be lost inside nats-py's
            # next_msg (asyncio.wait_for on Python 3.11): the reactor then fetches on, and a
            # single cancel would leave this waiting for ever. Cancel until it stops.
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
            return task.done()

        await eventually(stopped, what="the reactor to stop when cancelled")
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def append_signals(store: JetStreamEventStore, n: int) -> None:
    for i in range(n):
        # expected_version=0: written with the OCC headers every real append carries
        await store.append([signal_envelope(signal_id=f"s{i}")], expected_version=0)


async def test_a_poison_message_is_parked_and_the_rest_flows_in_order(
    store: JetStreamEventStore, nc: nats.NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reactor_module, "MAX_DELAY_S", 0.05)
    seen: list[int] = []

    async def handle(raw: RawEvent) -> None:
        if raw.position == 2:
            raise ValueError("cannot handle this one")
        seen.append(raw.position)

    t = store.topology
    r = Reactor(
        nc.jetstream(),
        t,
        name="r1",
        stream=t.events_stream,
        filter_subjects=[t.kind_filter("signal")],
        handle=handle,
    )
    await append_signals(store, 4)
    async with running(r):
        await eventually(lambda: len(seen) == 3)
    assert seen == [1, 3, 4] and r.parked == 1
    [parked] = await stream_messages(nc, t.dlq_stream)
    assert parked.headers["Bg-Dlq-Consumer"] == "r1"
    assert parked.headers["Bg-Dlq-Reason"] == "ValueError: cannot handle this one"


async def test_an_outage_is_waited_out_and_never_parked(
    store: JetStreamEventStore, nc: nats.NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reactor_module, "MAX_DELAY_S", 0.05)
    seen: list[int] = []
    failures = {"left": 3 * reactor_module.MAX_TRIES}

    async def handle(raw: RawEvent) -> None:
        if raw.position == 1 and failures["left"]:
            failures["left"] -= 1
            raise nats.errors.NoRespondersError  # NATS briefly unavailable
        seen.append(raw.position)

    t = store.topology
    r = Reactor(
        nc.jetstream(),
        t,
        name="r2",
        stream=t.events_stream,
        filter_subjects=[t.kind_filter("signal")],
        handle=handle,
    )
    await append_signals(store, 3)
    async with running(r):
        await eventually(lambda: len(seen) == 3)
    assert seen == [1, 2, 3] and r.parked == 0
    assert await stream_messages(nc, t.dlq_stream) == []


async def test_a_timeout_in_an_atomic_append_is_waited_out_not_parked(
    store: JetStreamEventStore, nc: nats.NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No reply to a multi-event append's commit (a NATS timeout) is transient: the reactor
    retries until the append lands, and nothing goes to the dead letters."""
    monkeypatch.setattr(reactor_module, "MAX_DELAY_S", 0.05)
    real = eventstore_module.publish_atomic_batch
    failures = {"left": 2 * reactor_module.MAX_TRIES}

    async def no_reply(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise BatchOutcomeUnknown(None, None, "no reply to the commit", batch_id="b", index=1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(eventstore_module, "publish_atomic_batch", no_reply)
    done: list[int] = []

    async def handle(raw: RawEvent) -> None:
        if raw.position != 1:
            return  # the copies it appends are signals too: without this it feeds itself
        pair = [signal_envelope(signal_id=f"copy-{raw.position}-{i}") for i in range(2)]
        pair = [p.model_copy(update={"aggregate": pair[0].aggregate}) for p in pair]
        await store.append(pair, expected_version=0)
        done.append(raw.position)

    t = store.topology
    r = Reactor(
        nc.jetstream(), t, name="r3", stream=t.events_stream, filter_subjects=SIGNALS(t),
        handle=handle,
    )  # fmt: skip
    await append_signals(store, 1)
    async with running(r):
        await eventually(lambda: done == [1])
    assert r.parked == 0 and failures["left"] == 0
    assert await stream_messages(nc, t.dlq_stream) == []


async def test_a_concurrent_reactor_keeps_the_order_within_one_aggregate(
    store: JetStreamEventStore, nc: nats.NATS
) -> None:
    """Messages of different aggregates run in parallel; those of one aggregate in log order
    (the notifier: an ally hears of a meeting before hearing that it is moved)."""
    refs = {
        a: signal_envelope(signal_id=f"agg-{a}", area=a).aggregate for a in ("GM0034", "GM0363")
    }
    for i in range(6):
        for area, ref in refs.items():
            one = signal_envelope(signal_id=f"{area}-{i}", area=area)
            await store.append([one.model_copy(update={"aggregate": ref})], expected_version=None)
    started: list[tuple[str, int]] = []
    finished: list[tuple[str, int]] = []
    release = asyncio.Event()

    async def handle(raw: RawEvent) -> None:
        started.append((raw.subject, raw.position))
        if raw.position == 1:
            await release.wait()  # the first of one aggregate is slow
        finished.append((raw.subject, raw.position))

    t = store.topology
    r = Reactor(
        nc.jetstream(), t, name="r4", stream=t.events_stream, filter_subjects=SIGNALS(t),
        handle=handle, concurrency=4,
    )  # fmt: skip
    async with running(r):
        # The other aggregate flows on while the first waits ...
        await eventually(lambda: len([s for s, _ in finished if s != started[0][0]]) == 6)
        assert [p for s, p in started if s == started[0][0]] == [1]  # ... its next ones wait
        release.set()
        await eventually(lambda: len(finished) == 12)
    for subject in {s for s, _ in finished}:
        positions = [p for s, p in finished if s == subject]
        assert positions == sorted(positions)


async def test_an_order_key_keeps_one_areas_signals_in_order_and_lets_others_flow(
    store: JetStreamEventStore, nc: nats.NATS
) -> None:
    """The urgent workflow: each signal is an aggregate of its own, but one area's signals
    are decided in log order (``order_key``: the subject up to the area), while another
    area's flow on beside a slow one."""
    for i in range(4):
        for area in ("GM0034-haven", "GM0363-centrum"):
            await store.append(
                [signal_envelope(signal_id=f"{area}-{i}", area=area)], expected_version=0
            )
    started: list[tuple[str, int]] = []
    finished: list[tuple[str, int]] = []
    release = asyncio.Event()

    def area_of(subject: str) -> str:
        return subject.rsplit(".", 1)[0]

    async def handle(raw: RawEvent) -> None:
        started.append((area_of(raw.subject), raw.position))
        if raw.position == 1:
            await release.wait()  # the first signal of one area is slow
        finished.append((area_of(raw.subject), raw.position))

    t = store.topology
    r = Reactor(
        nc.jetstream(), t, name="r7", stream=t.events_stream, filter_subjects=SIGNALS(t),
        handle=handle, concurrency=4, order_key=area_of,
    )  # fmt: skip
    async with running(r):
        await eventually(lambda: len([a for a, _ in finished if a != started[0][0]]) == 4)
        slow = started[0][0]
        assert [p for a, p in started if a == slow] == [1], "its next signals wait their turn"
        release.set()
        await eventually(lambda: len(finished) == 8)
    for area in {a for a, _ in finished}:
        positions = [p for a, p in finished if a == area]
        assert positions == sorted(positions) and len(positions) == 4


async def test_messages_waiting_for_their_turn_are_kept_alive_and_handled_once(
    store: JetStreamEventStore, nc: nats.NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message waiting behind a slow one of its aggregate tells JetStream it is at work, so
    it is not redelivered after the ack wait (and handled twice)."""
    monkeypatch.setattr(reactor_module, "ACK_WAIT_S", 0.6)
    kept_alive: list[int] = []
    real_in_progress = Msg.in_progress

    async def in_progress(msg: Msg) -> None:
        kept_alive.append(int(msg.metadata.sequence.stream))
        await real_in_progress(msg)

    monkeypatch.setattr(Msg, "in_progress", in_progress)
    ref = signal_envelope(signal_id="agg").aggregate
    for i in range(2):
        one = signal_envelope(signal_id=f"s{i}")
        await store.append([one.model_copy(update={"aggregate": ref})], expected_version=None)
    handled: list[int] = []
    release = asyncio.Event()

    async def handle(raw: RawEvent) -> None:
        handled.append(raw.position)
        if raw.position == 1:
            await release.wait()

    t = store.topology
    r = Reactor(
        nc.jetstream(), t, name="r5", stream=t.events_stream, filter_subjects=SIGNALS(t),
        handle=handle, concurrency=2,
    )  # fmt: skip
    async with running(r):
        # Longer than the ack wait: the waiting message is kept alive all along.
        await eventually(lambda: kept_alive.count(2) >= 4, what="message 2 kept alive")
        release.set()
        await eventually(lambda: r.handled == 2)
        assert handled == [1, 2]
        info = await nc.jetstream().consumer_info(t.events_stream, "r5")
        assert info.num_redelivered == 0


async def test_a_key_store_outage_is_waited_out_in_order(
    store: JetStreamEventStore, nc: nats.NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetching the key of a sealed event fails for a moment: the message is retried in
    place, and the next one of its aggregate still comes after it."""
    monkeypatch.setattr(reactor_module, "MAX_DELAY_S", 0.05)
    keystore = InMemoryKeyStore()
    sealed = JetStreamEventStore(nc, store.topology, keys=Keyring(keystore))
    try:
        first = envelope(ally_enrolled("ally-1"))
        await sealed.append([first], expected_version=0)
        await sealed.append([envelope(ally_enrolled("ally-2"))], expected_version=None)
    finally:
        await sealed.close()
    failures = {"left": 3}

    class FlakyKeys(InMemoryKeyStore):
        async def key_for(self, owner: str, *, create: bool) -> bytes | None:
            if failures["left"]:
                failures["left"] -= 1
                raise nats.errors.TimeoutError  # the key bucket briefly unavailable
            return await keystore.key_for(owner, create=create)

    seen: list[int] = []

    async def handle(raw: RawEvent) -> None:
        seen.append(raw.position)

    t = store.topology
    r = Reactor(
        nc.jetstream(), t, name="r6", stream=t.events_stream,
        filter_subjects=[t.kind_filter("network")], handle=handle, concurrency=2,
        keys=Keyring(FlakyKeys()),
    )  # fmt: skip
    async with running(r):
        await eventually(lambda: len(seen) == 2)
    assert seen == [1, 2] and r.parked == 0 and failures["left"] == 0
