"""What only the JetStream store and a real nats-server prove: the headers the server acts on
(dedup, expected sequence, atomic batches), its dedup memory, and reads that leave no consumer
behind and do not wait for a fetch timeout.

The store's contract (append/load, concurrency, retries, reads) is in ``tests/contract``, run
against this store and the in-memory one alike."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from events.codec import encode
from events.envelope import AggregateRef, Envelope, new_envelope
from events.network import NetworkFormed
from services.adapters.jetstream.eventstore import JetStreamEventStore
from tests.conftest import stream_messages
from tests.factories import at, signal_envelope

NETWORK = AggregateRef(kind="network", area="GM0034-haven", id="nw-haven")


def formed(minutes: float = 0) -> Envelope[Any]:
    return new_envelope(
        NetworkFormed(
            network_id="nw-haven",
            name="Netwerk Haven",
            area="GM0034-haven",
            areas=("GM0034-haven",),
        ),
        aggregate=NETWORK,
        actor="municipality:oov-almere",
        source="/bondgenoten/test",
        recorded_at=at(minutes),
    )


async def test_every_message_carries_its_event_id_for_the_server_to_deduplicate(
    store: JetStreamEventStore, nc: NatsClient
) -> None:
    single = signal_envelope(signal_id="s1")
    batch = [formed(0), formed(1)]
    anyhow = signal_envelope(signal_id="s2")
    await store.append([single], expected_version=0)
    await store.append(batch, expected_version=0)
    await store.append([anyhow], expected_version=None)

    stored = await stream_messages(nc, store.topology.events_stream)
    headers = [m.headers or {} for m in stored]
    assert [h["Nats-Msg-Id"] for h in headers] == [e.id for e in [single, *batch, anyhow]]
    # The expected version travels as the subject's expected last sequence: on a batch's first
    # message only, and not at all for "any version".
    expected = [h.get("Nats-Expected-Last-Subject-Sequence") for h in headers]
    assert expected == ["0", "0", None, None]
    # The two network events were one atomic batch, committed by its last message.
    assert headers[1]["Nats-Batch-Id"] == headers[2]["Nats-Batch-Id"]
    assert headers[2]["Nats-Batch-Commit"] == "1" and "Nats-Batch-Commit" not in headers[1]
    assert [m.subject for m in stored][1:3] == [store.subject_of(NETWORK)] * 2


async def test_a_retry_the_server_no_longer_remembers_is_found_in_the_log(
    store: JetStreamEventStore, nc: NatsClient
) -> None:
    """After the dedup window the server has forgotten the event id: here the first copy is
    published without ``Nats-Msg-Id``, which leaves the server in exactly that state (no
    waiting for a window to pass). The retry's expected version is then stale, and the store
    finds the very same event in the aggregate instead of reporting a conflict."""
    event = signal_envelope(signal_id="s-late")
    headers, body = encode(event)
    ack = await nc.jetstream().publish(store.subject_of(event.aggregate), body, headers=headers)
    assert ack.seq == 1 and not ack.duplicate

    again = await store.append([event], expected_version=0)
    assert again.duplicate and again.positions == (1,) and again.version == 1
    assert await store.last_position() == 1


async def test_the_expected_sequence_is_checked_before_the_dedup_memory(
    store: JetStreamEventStore,
) -> None:
    """Why a retry with its original, now stale, expected version is a no-op whether or not
    the server still remembers it: the server refuses it on the expected sequence first, so
    the answer always comes from the log (the aggregate's version now, 2), never from the
    server's dedup acknowledgement (the original sequence, 1)."""
    created = formed(0)
    await store.append([created], expected_version=0)
    await store.append([formed(1)], expected_version=1)
    again = await store.append([created], expected_version=0)
    assert again.duplicate and again.positions == (1,) and again.version == 2


async def test_a_read_with_nothing_to_deliver_does_not_wait_for_a_fetch(
    store: JetStreamEventStore, nc: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter matching nothing, or a start past the end, answers empty at once: it never
    pulls, so it never waits for a fetch to time out. Its consumer is gone afterwards."""
    await store.append([formed(0)], expected_version=0)

    async def no_pull(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a read with nothing pending must not pull")

    monkeypatch.setattr(store._js, "pull_subscribe_bind", no_pull)
    assert [e async for e in store.read(kinds=["signal"])] == []
    assert [e async for e in store.read(from_position=2)] == []
    info = await nc.jetstream().stream_info(store.topology.events_stream)
    assert info.state.consumer_count == 0


async def test_a_read_leaves_no_consumer_behind(store: JetStreamEventStore, nc: NatsClient) -> None:
    for i in range(3):
        await store.append([signal_envelope(signal_id=f"s{i}")], expected_version=0)
    assert len([e async for e in store.read()]) == 3
    assert len([r async for r in store.read_raw(kinds=["signal"], until=2)]) == 2
    info = await nc.jetstream().stream_info(store.topology.events_stream)
    assert info.state.consumer_count == 0
