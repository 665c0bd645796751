"""Load through the service's HTTP API: closed-loop ingest, and open-loop offered load with
urgent (major-incident) signals whose alerts arrive at the local webhook receiver."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.service import Service
from bench.web import HttpConnection, WebhookReceiver
from services.entrypoints.nats.client import IntegrationClient

AREAS = ["GM0034-haven", "GM0034-stad", "GM0034-poort", "GM0034-buiten"]
SUMMARY = "Groep jongeren verzamelt zich bij het winkelcentrum, sfeer grimmig."
SIGNALS = "/api/v1/signals"
_urgent_ids = itertools.count()


def routine(i: int) -> dict[str, Any]:
    """A low signal: folded into the map, never enough to open an escalation."""
    return {
        "reporter": f"wijkagent-{i % 8}",
        "source_role": "police",
        "network_id": "bench",
        "area": AREAS[i % len(AREAS)],
        "themes": ["youth_nuisance"],
        "level": 1 + i % 2,
        "evidence": "observed",
        "occurred_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "summary": SUMMARY,
    }


def urgent() -> dict[str, Any]:
    """A major incident in an area of its own: it opens an escalation at once, whose first
    alert goes to the webhook (the area tells the receiver which signal it answers)."""
    area = f"GM0034-u{next(_urgent_ids)}"
    return {**routine(0), "area": area, "level": 4, "major_incident": True}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def ingest(service: Service, token: str, n: int, clients: int) -> dict[str, Any]:
    """``clients`` keep-alive connections POST ``n`` signals as fast as they are answered, while
    the map's checkpoint is sampled: accepted/s and folded/s over the same window."""
    pending = iter(range(n))
    latencies: list[float] = []
    refused: list[Any] = []

    async def client() -> None:
        conn = HttpConnection("127.0.0.1", service.http_port, token)
        for i in pending:
            started = time.perf_counter()
            status, body = await conn.request("POST", SIGNALS, routine(i))
            if status >= 300:
                refused.append((status, body))
                continue
            latencies.append(time.perf_counter() - started)
        await conn.close()

    conn = service.connection()
    before = await service.health(conn)
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    after = await service.health(conn)
    await conn.close()
    folded = after["projections"]["tension_map"]["checkpoint"]
    folded -= before["projections"]["tension_map"]["checkpoint"]
    lag = await service.wait_map_at(after["log_position"])
    return {
        "rate": len(latencies) / elapsed,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "refused": len(refused),
        "first_refusal": refused[0] if refused else None,
        "folded_rate": folded / elapsed,
        "lag": lag,
        "first": before["log_position"] + 1,
        "accepted": len(latencies),
    }


async def ingest_nats(service: Service, n: int, requesters: int) -> tuple[float, float, float]:
    """``signal.submit`` requests over NATS from ``requesters`` at once, as an integration
    sends them (its own nkey from ``bondgenoten nats-user``): rate, p50, p99."""
    seed = service.data / "nats" / "identities" / "police.bench.nk"
    client = await IntegrationClient.connect(
        service.nats_url, role="police", id="bench", seed_file=seed
    )
    pending = iter(range(n))
    latencies: list[float] = []

    async def requester() -> None:
        for i in pending:
            started = time.perf_counter()
            reply = await client.request(
                "signal.submit", routine(i), command_id=f"n{i}", timeout=60
            )
            if not reply.get("ok"):
                raise SystemExit(f"refused: {reply}")
            latencies.append(time.perf_counter() - started)

    start = time.perf_counter()
    await asyncio.gather(*(requester() for _ in range(requesters)))
    rate = n / (time.perf_counter() - start)
    await client.close()
    return rate, pct(latencies, 0.5), pct(latencies, 0.99)


@dataclass
class Offered:
    """What one open-loop phase saw."""

    rate: int
    accepted: int = 0
    unavailable: int = 0
    other: int = 0
    unsent: int = 0
    elapsed: float = 0.0
    visible: list[float] = field(default_factory=list)
    urgent_sent: dict[str, float] = field(default_factory=dict)
    urgent_latency: list[float] = field(default_factory=list)
    urgent_lost: int = 0


async def offered(
    service: Service,
    token: str,
    hooks: WebhookReceiver,
    *,
    rate: int,
    seconds: float,
    urgent_per_s: float,
    burst: int = 0,
) -> Offered:
    """Routine signals offered at ``rate``/s on schedule (open loop: a slow answer does not slow
    the offer; the latency counts from the scheduled moment), after a ``burst`` of routine
    signals sent at once (a backlog). Every 10th routine signal is then read back through
    ``GET /tension-map?min_position=`` (sent → visible). Urgent signals go on connections of
    their own at ``urgent_per_s`` (a caller's own line: never queued behind our routine ones)."""
    out = Offered(rate)
    workers = max(64, rate // 4)
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    counter = itertools.count()

    async def worker() -> None:
        conn = HttpConnection("127.0.0.1", service.http_port, token)
        while True:
            i, due = await queue.get()
            try:
                payload = routine(i)
                status, body = await conn.request("POST", SIGNALS, payload)
                if status == 503:
                    out.unavailable += 1
                elif status >= 300:
                    out.other += 1
                else:
                    out.accepted += 1
                    if i % 10 == 0:
                        path = f"/api/v1/tension-map?area={payload['area']}"
                        path += f"&min_position={body['position']}"
                        got, _ = await conn.request("GET", path)
                        if got == 200:
                            out.visible.append(time.monotonic() - due)
            except OSError:
                out.other += 1
                conn = HttpConnection("127.0.0.1", service.http_port, token)
            finally:
                queue.task_done()

    async def send_urgent() -> None:
        conn = HttpConnection("127.0.0.1", service.http_port, token)
        payload = urgent()
        out.urgent_sent[payload["area"]] = time.monotonic()
        status, _ = await conn.request("POST", SIGNALS, payload)
        if status >= 300:
            out.urgent_sent.pop(payload["area"])
            out.other += 1
        await conn.close()

    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    urgent_tasks: list[asyncio.Task[None]] = []
    now = time.monotonic()
    for _ in range(burst):
        queue.put_nowait((next(counter), now))
    start, sent, urgent_sent = time.monotonic(), 0, 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            scheduled = start + sent / rate
            if queue.qsize() > workers * 2 + burst:
                out.unsent += 1  # the client side is saturated: do not let it grow forever
            else:
                queue.put_nowait((next(counter), scheduled))
            sent += 1
        if urgent_sent < int(elapsed * urgent_per_s):
            urgent_tasks.append(asyncio.ensure_future(send_urgent()))
            urgent_sent += 1
        await asyncio.sleep(0.002)
    await asyncio.gather(*urgent_tasks)
    await queue.join()
    out.elapsed = time.monotonic() - start
    for task in tasks:
        task.cancel()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hooks.poll()
        if all(area in hooks.arrivals for area in out.urgent_sent):
            break
        await asyncio.sleep(0.05)
    for area, sent_at in out.urgent_sent.items():
        if area in hooks.arrivals:
            out.urgent_latency.append(hooks.arrivals[area] - sent_at)
        else:
            out.urgent_lost += 1
    return out
