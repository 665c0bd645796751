"""Ingest and projection throughput next to a raw nats-py baseline, measured in one run on one
embedded nats-server (file store, sync_interval: always). Not part of the test suite.

    .venv/bin/python bench/ingest.py [--signals 5000] [--concurrency 64]

Figures:
* raw publish: nats-py ``publish_async`` pipelined JetStream publishes of signal-sized payloads.
* ingest: the handler table's ``signal.submit``: validate + decide + append with OCC and dedup,
  ``--concurrency`` submitters at once (each append waits for its acknowledgement).
* raw consume: pull consumer, fetch 256, ack each, ``SignalReceived.model_validate_json``.
* projection: ``ProjectionRunner`` folding the same log into the tension map (decode, evolve,
  ack, periodic snapshot), from position 0 to the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.access import Principal, Role
from domain.intake import KnownNetwork
from events.signals import DEFAULT_THEMES, SignalReceived
from projections.tension_map import TensionMapProjection
from services.adapters.clock import SystemClock
from services.adapters.jetstream.embedded import EmbeddedNats, free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import ProjectionRunner
from services.adapters.jetstream.topology import Topology, ensure_streams
from services.adapters.logging import configure_logging
from services.app.commands import SubmitSignal
from services.app.handlers import CommandHandlers

AREAS = ["GM0034-haven", "GM0034-stad", "GM0034-poort", "GM0034-buiten"]
NETWORK = KnownNetwork("bench", frozenset(AREAS), frozenset(f"a{i}" for i in range(15)))


def submission(i: int) -> bytes:
    return json.dumps(
        {
            "reporter": f"a{i % 15}",
            "source_role": "ally",
            "network_id": "bench",
            "area": AREAS[i % len(AREAS)],
            "themes": [DEFAULT_THEMES[i % len(DEFAULT_THEMES)]],
            "communities": ["youth"],
            "level": 1 + i % 5,
            "evidence": "observed",
            "occurred_at": (datetime.now(UTC) - timedelta(seconds=i)).isoformat(),
            "summary": "Groep jongeren verzamelt zich bij het winkelcentrum, sfeer grimmig.",
        }
    ).encode()


async def raw_publish(nc: nats.NATS, n: int, payload: bytes) -> float:
    js = nc.jetstream(publish_async_max_pending=256)
    await js.add_stream(name="RAW", subjects=["raw.>"])
    start = time.perf_counter()
    for i in range(n):
        await js.publish_async(f"raw.s.{i % 64}", payload)
    await js.publish_async_completed()
    return n / (time.perf_counter() - start)


async def raw_consume(nc: nats.NATS, n: int, payload: bytes) -> float:
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "raw.>", durable="rawc", stream="RAW", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    )
    start, done = time.perf_counter(), 0
    while done < n:
        for msg in await sub.fetch(256, timeout=5):
            SignalReceived.model_validate_json(payload)
            await msg.ack()
            done += 1
    return n / (time.perf_counter() - start)


class _Known:
    """Read models that know the bench network (the rest is never asked on this path)."""

    def known_network(self, _network_id: str) -> KnownNetwork:
        return NETWORK


async def ingest(store: JetStreamEventStore, n: int, concurrency: int) -> float:
    themes = frozenset(DEFAULT_THEMES)
    handlers = CommandHandlers(store, SystemClock(), _Known(), {}, themes)  # type: ignore[arg-type]
    bodies = [SubmitSignal.model_validate_json(submission(i)) for i in range(n)]
    queue = iter(bodies)

    async def worker() -> None:
        for body in queue:
            who = Principal(Role.ALLY, body.reporter)
            await handlers.handle(body, principal=who, key=None, channel="bench")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def project(store: JetStreamEventStore, n: int) -> float:
    runner = ProjectionRunner(store._js, store.topology, store, TensionMapProjection())
    start = time.perf_counter()
    task = asyncio.create_task(runner.run())
    await runner.wait_for(await store.last_position(), timeout=600)
    elapsed = time.perf_counter() - start
    task.cancel()
    return n / elapsed


async def main(n: int, concurrency: int) -> None:
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNats(Path(tmp), port=free_port()) as srv:
        nc = await nats.connect(srv.url)
        topology = Topology()
        await ensure_streams(nc.jetstream(), topology)
        store = JetStreamEventStore(nc, topology)
        # Payload of the same size as a stored signal event, for a fair baseline.
        sample = (
            SignalReceived(
                signal_id="x" * 32,
                reporter={"role": "ally", "id": "a0"},  # type: ignore[arg-type]
                network_id="bench",
                area=AREAS[0],
                themes=("demonstration",),
                communities=("youth",),
                level=3,
                evidence="observed",  # type: ignore[arg-type]
                summary="Groep jongeren verzamelt zich bij het winkelcentrum, sfeer grimmig.",
            )
            .model_dump_json()
            .encode()
        )

        rows = [
            ("raw nats-py pipelined publish", await raw_publish(nc, n, sample)),
            (
                f"ingest: validate+append ({concurrency} concurrent)",
                await ingest(store, n, concurrency),
            ),
            ("raw nats-py pull+ack+parse", await raw_consume(nc, n, sample)),
            ("projection: tension map runner", await project(store, n)),
        ]
        await nc.close()
    print(f"\nnats-server {srv.url}, sync_interval: always, {n} signals\n")
    print(f"{'measure':<48}{'per second':>12}{'ratio':>9}")
    for i, (name, rate) in enumerate(rows):
        base = rows[i - i % 2][1]
        ratio = "" if i % 2 == 0 else f"{rate / base:>8.2f}x"
        print(f"{name:<48}{rate:>12,.0f}{ratio:>9}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--signals", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=64)
    args = p.parse_args()
    asyncio.run(main(args.signals, args.concurrency))
