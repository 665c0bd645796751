"""Projections fed by the real log: freshness, as-of replay, poison events, crash and rebuild."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events.codec import encode
from events.signals import Evidence, SourceRole
from projections.base import fold
from projections.tension_map import Band, TensionMapProjection
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import ProjectionRunner
from services.adapters.jetstream.topology import Topology
from services.app.readmodels import ReadModels
from services.bootstrap import Service
from tests.api_helpers import AREA, client_for, seed_network, signal_body
from tests.conftest import eventually, settled, stream_messages
from tests.factories import T0, at, signal, signal_envelope


async def test_three_independent_signals_reach_top_band(service: Service) -> None:
    # How fast is a benchmark's business, not the suite's: here only that it happens.
    async with client_for(service) as client:
        await seed_network(client, service)
        for role, reporter in [("ally", "a1"), ("police", "wijkagent"), ("municipality", "oov")]:
            r = await client.post(
                "/api/v1/signals", json=signal_body(source_role=role, reporter=reporter)
            )
            assert r.status_code == 201, r.text

        async def demonstration_in_top_band() -> list[dict[str, Any]]:
            view = (await client.get("/api/v1/tension-map", params={"area": AREA})).json()
            cells = [c for c in view["cells"] if c["theme"] == "demonstration"]
            return cells if cells and cells[0]["band"] == Band.CRITICAL else []

        cells = await eventually(demonstration_in_top_band)
    assert cells[0]["distinct_roles"] == 3 and len(cells[0]["signals"]) == 3


async def test_tension_map_as_of_any_moment_by_replay(store: JetStreamEventStore) -> None:
    """An asylum centre: signals recorded over two days rise through the bands; the map as of
    later moments decays back. Each answer is a replay of the log up to that moment."""
    series = [
        (0, "ally", "a1", 2, Evidence.HEARD),
        (6, "ally", "a2", 4, Evidence.OBSERVED),
        (12, "ally", "a1", 4, Evidence.OBSERVED),
        (12.2, "police", "wijkagent", 3, Evidence.OBSERVED),
        (20, "municipality", "oov", 4, Evidence.OBSERVED),
        (21, "ally", "a3", 4, Evidence.OBSERVED),
    ]
    for i, (hours, role, reporter, level, evidence) in enumerate(series):
        s = signal(
            f"azc{i}",
            themes=("asylum_reception",),
            level=level,
            evidence=evidence,
            role=SourceRole(role),
            reporter_id=reporter,
        )
        await store.append([signal_envelope(s, minutes=hours * 60)], expected_version=0)
    read = ReadModels(store, clock=None, feed=lambda p: None)  # type: ignore[arg-type]

    async def band(hours: float) -> str:
        view = await read.tension_map(T0 + timedelta(hours=hours), theme="asylum_reception")
        return view.cells[0].band if view.cells else Band.NORMAL

    rising = [await band(h) for h in (0.5, 6.5, 12.5, 21.5)]
    assert rising == [Band.NORMAL, Band.ELEVATED, Band.HIGH, Band.CRITICAL]
    falling = [await band(h) for h in (30, 48, 72, 120)]
    assert falling == [Band.HIGH, Band.ELEVATED, Band.NORMAL, Band.NORMAL]
    assert not (await read.tension_map(at(-1))).cells  # before anything was recorded


async def test_poison_event_goes_to_dead_letters_and_the_rest_flows(
    service: Service, nc: NatsClient
) -> None:
    store = service.infra.store
    good = signal_envelope(signal_id="good-1")
    for n in (1, 2):
        poison = signal_envelope(signal_id=f"poison-{n}")
        headers, _ = encode(poison)
        headers["ce-type"] = "nl.bondgenoten.unheard-of"  # e.g. written by a newer version
        # Written as every append is: with dedup and optimistic-concurrency headers, which
        # must not apply again when the message is parked.
        headers["Nats-Msg-Id"] = poison.id
        headers["Nats-Expected-Last-Subject-Sequence"] = "0"
        await nc.jetstream().publish(store.subject_of(poison.aggregate), b"{}", headers=headers)
    await store.append([good], expected_version=0)
    assert await service.read.tension.wait_for(await store.last_position(), timeout=5)
    assert "GM0034-haven/demonstration" in service.read.tension.state.cells
    parked = await stream_messages(nc, service.infra.topology.dlq_stream)
    assert [p.headers["Bg-Dlq-Position"] for p in parked] == ["1", "2"]
    assert all(p.headers["Bg-Dlq-Consumer"] == "projection_tension_map" for p in parked)
    assert "UnknownEventType" in parked[0].headers["Bg-Dlq-Reason"]
    assert parked[0].data == b"{}"
    assert parked[0].headers["Bg-Orig-Expected-Last-Subject-Sequence"] == "0"
    assert service.runners[0].dead_letters == 2
    # A replay as of a moment answers like the live projection: without what it cannot read.
    past = await service.read.tension_map(at=good.recorded_at + timedelta(minutes=1))
    assert [c.area for c in past.cells] == ["GM0034-haven"]


async def test_rebuild_equals_live(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        for i in range(20):
            body = signal_body(reporter="a1" if i % 2 else "a2", level=1 + i % 5)
            assert (await client.post("/api/v1/signals", json=body)).status_code == 201
    store = service.infra.store
    await settled(service)
    for live in service.runners:
        rebuilt = service.infra.runner(live.projection)
        await rebuilt.rebuild()
        assert rebuilt.state == live.state, live.name
    events = [e async for e in store.read(kinds=["signal"])]
    assert fold(TensionMapProjection(), events) == service.read.tension.state


async def test_a_consumer_of_an_older_version_is_remade_for_both_signal_lanes(
    store: JetStreamEventStore, js: JetStreamContext, topology: Topology
) -> None:
    """A projection consumer made before major-incident signals had a lane of their own reads
    ``ev.signal.…`` only: the runner re-creates it after its checkpoint with both filters,
    and the map holds the urgent signal too."""
    runner = ProjectionRunner(js, topology, store, TensionMapProjection())
    old = ConsumerConfig(
        durable_name=runner.consumer_name,
        name=runner.consumer_name,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.ALL,
        filter_subjects=[topology.kind_filter("signal")],
    )
    await js.add_consumer(topology.events_stream, old)
    await store.append([signal_envelope(signal_id="urgent-1", major_incident=True)], 0)
    await store.append([signal_envelope(signal_id="routine-1")], 0)
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.wait_for(await store.last_position(), timeout=10)
        info = await js.consumer_info(topology.events_stream, runner.consumer_name)
        assert sorted(info.config.filter_subjects or []) == sorted(runner.filter_subjects())
        [cell] = runner.state.cells.values()
        assert {c.signal_id for c in cell.contributions} == {"urgent-1", "routine-1"}
    finally:
        runner.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_readers_waiting_at_one_checkpoint_share_one_question_to_the_server(
    store: JetStreamEventStore, js: JetStreamContext, topology: Topology
) -> None:
    """Fifty reads with ``min_position`` wait for the same fold: the server is asked where the
    next event of the map lies once per checkpoint, not once per reader (under load, each
    reader asking on every fold took much of the service's time)."""
    for i in range(3):
        await store.append([signal_envelope(signal_id=f"s{i}")], 0)
    last = await store.last_position()
    runner = ProjectionRunner(js, topology, store, TensionMapProjection())
    asked: list[int] = []
    ask = runner._ask_first

    async def counted(after: int) -> int | None:
        asked.append(after)
        return await ask(after)

    runner._ask_first = counted  # type: ignore[method-assign]
    readers = [asyncio.create_task(runner.wait_for(last, timeout=30)) for _ in range(50)]
    await eventually(lambda: asked == [0], what="the first question")
    task = asyncio.create_task(runner.run())
    try:
        assert all(await asyncio.gather(*readers))
        assert runner.checkpoint == last
        assert len(asked) <= last, asked  # at most one question per checkpoint passed
    finally:
        runner.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
