"""The audit trail's contract, for the in-memory and the JetStream adapter alike: append-only,
in order, filtered by time and actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from nats.aio.client import Client as NatsClient
from structlog.testing import capture_logs

from services.adapters.jetstream.audit import JetStreamAuditTrail
from services.adapters.jetstream.topology import Topology, ensure_streams
from services.adapters.memory import InMemoryAuditTrail
from services.app.ports import AuditEntry, AuditTrail
from tests.factories import T0


@pytest.fixture(params=["memory", "jetstream"])
async def trail(request: pytest.FixtureRequest, topology: Topology, nc: NatsClient) -> AuditTrail:
    if request.param == "memory":
        return InMemoryAuditTrail()
    await ensure_streams(nc.jetstream(), topology)
    return JetStreamAuditTrail(nc, topology)


def entry(minutes: int, actor: str = "crisis:sgbo", result: str = "ok") -> AuditEntry:
    return AuditEntry(
        actor=actor,
        action="escalation.declare",
        object="escalation:GM0034-stad_demonstration-1",
        result=result,
        origin="http 127.0.0.1",
        at=T0 + timedelta(minutes=minutes),
        detail="",
    )


async def test_the_trail_keeps_every_entry_in_order_and_filters(trail: AuditTrail) -> None:
    assert [e async for e in trail.entries()] == []
    written = [entry(0), entry(1, "reviewer:x", "denied"), entry(2)]
    for e in written:
        await trail.record(e)
    assert [e async for e in trail.entries()] == written
    assert [e async for e in trail.entries(actor="reviewer:x")] == [written[1]]
    assert [e async for e in trail.entries(since=T0 + timedelta(minutes=1))] == written[1:]


async def test_the_jetstream_trail_cannot_be_deleted_or_purged(
    nc: NatsClient, topology: Topology
) -> None:
    await ensure_streams(nc.jetstream(), topology)
    info = await nc.jetstream().stream_info(topology.audit_stream)
    assert info.config.deny_delete and info.config.deny_purge


async def test_the_jetstream_trail_pipelines_its_entries_and_close_waits_for_them(
    nc: NatsClient, topology: Topology
) -> None:
    """Few places for entries awaiting their acknowledgement: ``record`` waits for room, and
    ``close`` (on shutdown) returns once every entry sent is in the stream."""
    await ensure_streams(nc.jetstream(), topology)
    trail = JetStreamAuditTrail(nc, topology, max_pending=2)
    for minutes in range(20):
        await trail.record(entry(minutes))
    await trail.close()
    info = await nc.jetstream().stream_info(topology.audit_stream)
    assert info.state.messages == 20


async def test_an_entry_the_stream_does_not_take_is_logged_and_does_not_hold_up_the_caller(
    nc: NatsClient, topology: Topology
) -> None:
    """``record`` does not wait for the stream's acknowledgement (no audit stream here at
    all): the caller goes on, and the missing acknowledgement is logged."""
    trail = JetStreamAuditTrail(nc, topology)
    with capture_logs() as logs:
        await trail.record(entry(0))
        await trail.close()
    assert [(e["event"], e["action"]) for e in logs] == [
        ("audit.not_recorded", "escalation.declare")
    ]


async def test_the_jetstream_trail_commits_entries_that_arrive_together_as_one_batch(
    nc: NatsClient, topology: Topology
) -> None:
    """One fsync for a burst of entries, not one each (the audit must not halve ingest)."""
    await ensure_streams(nc.jetstream(), topology)
    trail = JetStreamAuditTrail(nc, topology)
    for minutes in range(50):
        await trail.record(entry(minutes))
    await trail.close()
    assert trail._committer.grouped > 1 and trail._committer.groups < 50
    assert [e.at for e in [x async for x in JetStreamAuditTrail(nc, topology).entries()]] == [
        entry(m).at for m in range(50)
    ]
