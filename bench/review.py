"""The after-action review inside a large log: an incident's review reads its own subjects (the
escalation slot and its area's signals, notifications, call outcomes and questions), never the
whole log. Measured on an embedded nats-server (file store) holding one incident and ``--events``
signals of other areas, the log grown in steps: the review's time and the events it read, next
to a plain ordered read of the whole log (what a review that scanned would at least cost).

    .venv/bin/python bench/review.py [--events 100000] [--steps 3]

In-process (the use case :class:`services.app.review.Reviews` on the JetStream event store):
the review's own cost, not the HTTP API's. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from domain.access import principal_of  # noqa: E402
from events.envelope import AggregateRef, Envelope, new_envelope  # noqa: E402
from events.escalation import (  # noqa: E402
    EscalationAcknowledged,
    EscalationClosed,
    EscalationOpened,
    escalation_id_for,
    slot_ref,
)
from events.signals import Evidence, Reporter, SignalReceived, SourceRole  # noqa: E402
from services.adapters.clock import FixedClock  # noqa: E402
from services.adapters.jetstream.embedded import EmbeddedNats, free_port  # noqa: E402
from services.adapters.jetstream.eventstore import JetStreamEventStore  # noqa: E402
from services.adapters.jetstream.keystore import NatsKeyStore  # noqa: E402
from services.adapters.jetstream.topology import Topology, ensure_streams  # noqa: E402
from services.adapters.logging import configure_logging  # noqa: E402
from services.app.need_to_know import Pseudonyms  # noqa: E402
from services.app.personal import Keyring  # noqa: E402
from services.app.review import Reviews  # noqa: E402

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
AREA, THEME = "GM0034-haven", "demonstration"
EID = escalation_id_for(AREA, THEME, 1)
KEY = base64.b64decode("YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE=")
IN_FLIGHT = 512


def signal(n: int, area: str, minute: float, reporter: str) -> Envelope[Any]:
    s = SignalReceived(
        signal_id=f"s{n}",
        reporter=Reporter(role=SourceRole.ALLY, id=reporter),
        network_id="nw-bench",
        area=area,
        themes=(THEME,),
        level=3,
        evidence=Evidence.OBSERVED,
        summary="Groep jongeren onderweg naar de demonstratie",
    )
    when = T0 + timedelta(minutes=minute)
    return new_envelope(
        s,
        aggregate=AggregateRef(kind=s.lane, area=area, id=s.signal_id),
        actor=f"ally:{reporter}",
        source="/bench",
        recorded_at=when,
        occurred_at=when,
    )


async def the_incident(store: JetStreamEventStore) -> None:
    """Three signals in the incident's area, then opened, acknowledged and closed."""
    for n in range(3):
        await store.append([signal(n, AREA, n, f"a{n}")], expected_version=0)
    slot = slot_ref(AREA, THEME)
    opened = EscalationOpened(
        escalation_id=EID,
        area=AREA,
        theme=THEME,
        trigger="declared",
        band="high",
        reason="bench",
        signal_ids=("s0", "s1", "s2"),
        suggested_grip=1,
        opened_at=T0 + timedelta(minutes=5),
    )
    events = [
        opened,
        EscalationAcknowledged(escalation_id=EID, by="crisis:bench"),
        EscalationClosed(escalation_id=EID, by="crisis:bench", reason="rust"),
    ]
    for data, minute in zip(events, (5, 8, 60), strict=True):
        when = T0 + timedelta(minutes=minute)
        envelope = new_envelope(
            data,
            aggregate=slot,
            actor="crisis:bench",
            source="/bench",
            recorded_at=when,
            occurred_at=when,
            correlation_id=EID,
        )
        await store.append([envelope], expected_version=None)  # alone on the slot here


async def fill(store: JetStreamEventStore, first: int, count: int) -> float:
    """``count`` signals of 500 other areas, appended concurrently (group-committed)."""
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with slots:
            envelope = signal(n, f"GM0034-wijk{n % 500}", n / 1000, f"r{n % 97}")
            await store.append([envelope], expected_version=0)

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(first, first + count)))
    return count / (time.perf_counter() - start)


async def measure(store: JetStreamEventStore, reviews: Reviews) -> tuple[int, float, float, int]:
    """Events the review read, its time (best of 3), and a whole-log ordered read's time."""
    reader = principal_of("reviewer", "bench")
    read = [0]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        found = await reviews.review(EID, reader, lambda n: read.__setitem__(0, n))
        best = min(best, time.perf_counter() - start)
        assert found is not None and found.moment("closed") is not None
    start = time.perf_counter()
    total = 0
    async for _ in store.read_raw():
        total += 1
    return read[0], best, time.perf_counter() - start, total


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        server = EmbeddedNats(Path(tmp), port=free_port()).start()
        try:
            nc = await nats.connect(server.url, pending_size=64 * 1024 * 1024)
            topology = Topology()
            await ensure_streams(nc.jetstream(), topology)
            keys = Keyring(NatsKeyStore(nc.jetstream(), topology.keys_bucket, KEY))
            store = JetStreamEventStore(nc, topology, keys=keys)
            clock = FixedClock(T0 + timedelta(days=1))
            reviews = Reviews(store, None, clock, Pseudonyms(b"bench-only-pseudonym-secret"))
            await the_incident(store)
            rows = []
            filled = 0
            for step in range(1, args.steps + 1):
                target = args.events * step // args.steps
                rate = await fill(store, filled, target - filled)
                filled = target
                read, review_s, scan_s, total = await measure(store, reviews)
                rows.append((total, read, review_s, scan_s, rate))
                print(
                    f"log {total:>8,} events (filled at {rate:,.0f}/s): review read {read} "
                    f"events in {review_s * 1000:.1f} ms; whole-log read {scan_s:.2f} s",
                    flush=True,
                )
            print()
            print("| log size | events the review read | review | whole-log ordered read |")
            print("|---:|---:|---:|---:|")
            for total, read, review_s, scan_s, _ in rows:
                print(f"| {total:,} | {read} | {review_s * 1000:.1f} ms | {scan_s:.2f} s |")
            await store.close()
            await nc.drain()
        finally:
            server.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=100_000, help="other areas' signals at the end")
    p.add_argument("--steps", type=int, default=3, help="measure at this many log sizes")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
