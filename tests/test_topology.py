"""Streams are created when missing and never silently rewritten when they exist."""

from __future__ import annotations

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
