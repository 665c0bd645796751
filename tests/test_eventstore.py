"""What only the JetStream store and a real nats-server prove.

The store's contract (append/load, concurrency, retries, reads) is in ``tests/contract``, run
against this store and the in-memory one alike."""

from __future__ import annotations

import asyncio

from events.envelope import AggregateRef, new_envelope
from events.network import NetworkFormed
from services.adapters.jetstream.eventstore import JetStreamEventStore
from tests.factories import at

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


async def test_read_with_filter_matching_nothing_returns_at_once(
    store: JetStreamEventStore,
) -> None:
    await store.append([formed(0)], expected_version=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = [e async for e in store.read(kinds=["signal"])]
    assert got == [] and loop.time() - started < 1.0
