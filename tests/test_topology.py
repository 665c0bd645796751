"""Streams are created when missing and never silently rewritten when they exist."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import StorageType, StreamConfig

from services.adapters.jetstream.topology import Topology, TopologyError, ensure_streams


async def test_missing_streams_are_created_with_durable_settings(
    nc: NatsClient, topology: Topology
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, topology)
    info = await js.stream_info(topology.events_stream)
    assert info.config.storage == StorageType.FILE
    assert info.config.allow_atomic and info.config.deny_delete and info.config.deny_purge
    timers = await js.stream_info(topology.timers_stream)
    assert timers.config.allow_msg_schedules


async def test_operator_tuning_is_kept(nc: NatsClient, topology: Topology) -> None:
    js = nc.jetstream()
    await ensure_streams(js, topology)
    info = await js.stream_info(topology.dlq_stream)
    tuned = info.config
    tuned.max_age = 3600.0
    tuned.description = "tuned by operator"
    await js.update_stream(tuned)
    await ensure_streams(js, topology)  # start-up again
    again = await js.stream_info(topology.dlq_stream)
    assert again.config.max_age == 3600.0 and again.config.description == "tuned by operator"


async def test_incompatible_existing_stream_stops_startup_and_is_left_alone(
    nc: NatsClient, topology: Topology
) -> None:
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=topology.events_stream,
            subjects=[topology.events_subjects],
            storage=StorageType.MEMORY,
        )
    )
    with pytest.raises(TopologyError, match="storage"):
        await ensure_streams(js, topology)
    info = await js.stream_info(topology.events_stream)
    assert info.config.storage == StorageType.MEMORY


async def test_an_event_log_that_could_drop_history_stops_startup(
    nc: NatsClient, topology: Topology
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, topology)
    info = await js.stream_info(topology.events_stream)
    tuned = info.config
    tuned.max_msgs_per_subject = 1  # keeps only the last event of each aggregate
    tuned.max_age = 600.0
    await js.update_stream(tuned)
    with pytest.raises(TopologyError, match="max_msgs_per_subject is 1") as refused:
        await ensure_streams(js, topology)
    assert "max_age is 600.0" in str(refused.value)
    assert (await js.stream_info(topology.events_stream)).config.max_msgs_per_subject == 1


async def test_signal_retention_ages_out_signals_only(nc: NatsClient, topology: Topology) -> None:
    """Retention of signals: a per-message TTL on each new signal, switched on in an existing
    events stream (one-way); the rest of the log stays."""
    from dataclasses import replace

    from events.envelope import AggregateRef
    from services.adapters.jetstream.eventstore import JetStreamEventStore
    from tests.builders_network import envelope, network_formed
    from tests.conftest import eventually
    from tests.factories import signal_envelope

    js = nc.jetstream()
    await ensure_streams(js, topology)  # as an older version created it: no TTLs
    assert not (await js.stream_info(topology.events_stream)).config.allow_msg_ttl
    retained = replace(topology, signal_ttl_s=1.0)
    await ensure_streams(js, retained)
    info = await js.stream_info(topology.events_stream)
    assert info.config.allow_msg_ttl and info.config.deny_delete and not info.config.max_age
    store = JetStreamEventStore(nc, retained)
    await store.append([envelope(network_formed())], 0)
    signal = signal_envelope(signal_id="s-ttl")
    await store.append([signal], 0)
    ref = AggregateRef(kind="signal", area=signal.aggregate.area, id="s-ttl")

    async def expired() -> bool:
        events, _ = await store.load(ref)
        return not events

    # The server expires messages on its own timer, later on a loaded machine: a generous
    # deadline bounds only a failing wait.
    await eventually(expired, timeout=60, what="the signal to age out")
    assert [e.type for e in [x async for x in store.read()]] == ["nl.bondgenoten.network.formed"]
    await store.close()


async def test_a_read_whose_rest_expires_meanwhile_ends_instead_of_failing(
    nc: NatsClient, topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With retention, the signals a read has yet to fetch can expire under it: the read is
    then complete (nothing is left), not a timeout."""
    from dataclasses import replace

    from services.adapters.jetstream.eventstore import JetStreamEventStore
    from tests.conftest import eventually
    from tests.factories import signal_envelope

    retained = replace(topology, signal_ttl_s=1.0)
    js = nc.jetstream()
    await ensure_streams(js, retained)
    store = JetStreamEventStore(nc, retained, timeout_s=0.5)
    await store.append([signal_envelope(signal_id="s-gone")], 0)
    add_consumer = store._js.add_consumer

    async def add_then_expire(*args: Any, **kw: Any) -> Any:
        info = await add_consumer(*args, **kw)  # counts the signal as pending ...

        async def gone() -> bool:
            return (await js.stream_info(retained.events_stream)).state.messages == 0

        await eventually(gone, timeout=60, what="the signal to expire")  # ... then it is gone
        return info

    monkeypatch.setattr(store._js, "add_consumer", add_then_expire)
    assert [r async for r in store.read_raw()] == []
    await store.close()
