"""The LiveProjection contract, on ``InMemoryProjection`` and the JetStream ``ProjectionRunner``
alike: replay then live folding, ``wait_for`` for positions of other kinds, dead letters."""

from __future__ import annotations

import json
from typing import Any

from events.codec import encode
from events.envelope import AggregateRef, new_envelope
from events.network import NetworkFormed
from tests.contract.conftest import Follow, PutRaw, Store
from tests.factories import at, signal_envelope


class SignalIds:
    """A fold of signal ids in log order; a signal whose id starts with ``boom`` cannot be
    folded."""

    name = "contract_signal_ids"
    version = 1
    kinds = ("signal",)

    def initial(self) -> list[str]:
        return []

    def evolve(self, state: list[str], event: Any) -> list[str]:
        if event.data.signal_id.startswith("boom"):
            raise ValueError("this one cannot be folded")
        state.append(event.data.signal_id)
        return state

    def dump(self, state: list[str]) -> bytes:
        return json.dumps(state).encode()

    def load(self, data: bytes) -> list[str]:
        loaded: list[str] = json.loads(data)
        return loaded


async def add_signal(store: Store, signal_id: str) -> int:
    result = await store.append([signal_envelope(signal_id=signal_id)], expected_version=0)
    return result.version


async def add_network(store: Store, network_id: str = "nw-haven") -> int:
    event = new_envelope(
        NetworkFormed(network_id=network_id, name="Netwerk", area="GM0034", areas=("GM0034",)),
        aggregate=AggregateRef(kind="network", area="GM0034", id=network_id),
        actor="municipality:oov-almere",
        source="/bondgenoten/test",
        recorded_at=at(0),
    )
    return (await store.append([event], expected_version=0)).version


async def test_replays_the_log_when_started_then_folds_new_events(
    any_store: Store, follow: Follow
) -> None:
    await add_signal(any_store, "s1")
    await add_signal(any_store, "s2")
    live = await follow(SignalIds())
    assert live.name == "contract_signal_ids"
    assert await live.wait_for(await any_store.last_position())
    assert live.state == ["s1", "s2"] and live.checkpoint == 2

    position = await add_signal(any_store, "s3")
    assert await live.wait_for(position)
    assert live.state == ["s1", "s2", "s3"] and live.checkpoint == 3


async def test_caught_up_at_a_position_of_a_kind_it_does_not_read(
    any_store: Store, follow: Follow
) -> None:
    live = await follow(SignalIds())
    await add_signal(any_store, "s1")
    network_at = await add_network(any_store)
    assert await live.wait_for(network_at)
    assert live.checkpoint == 1 and live.state == ["s1"]


async def test_what_it_cannot_decode_or_fold_is_a_dead_letter_and_the_rest_flows(
    any_store: Store, follow: Follow, put_raw: PutRaw
) -> None:
    live = await follow(SignalIds())
    poison = signal_envelope(signal_id="poison")
    headers, _ = encode(poison)
    headers["ce-type"] = "nl.bondgenoten.unheard-of"
    await put_raw(poison.aggregate, headers, b"{}")
    await add_signal(any_store, "boom-1")
    good_at = await add_signal(any_store, "good")
    assert await live.wait_for(good_at)
    assert live.state == ["good"] and live.checkpoint == 3
    assert live.dead_letters == 2

    # An undecodable event of a kind it does not read is not its dead letter.
    network = AggregateRef(kind="network", area="GM0034", id="nw-x")
    await put_raw(network, headers, b"{}")
    assert await live.wait_for(await any_store.last_position())
    assert live.dead_letters == 2 and live.checkpoint == 3
