"""The benchmark command: the service in its own process on its own embedded nats-server
(file store, ``sync_interval: always``, authentication on), driven through its real NATS
interface as an integration would, each figure next to a raw nats-py baseline on the same
server in the same run.

    .venv/bin/python bench/run.py [--signals 5000] [--concurrency 64]

Figures so far (see BENCHMARKS.md for what is still to come):
* ingest over NATS: ``signal.submit`` requests from ``--concurrency`` requesters, each
  waiting for its answer (validated, decided, appended durably, answered);
* raw pipelined publish: nats-py ``publish_async`` of signal-sized messages (one fsync each);
* raw sequential publish: ``js.publish`` one at a time;
* live projection: from the first request until the tension map has folded the last signal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.adapters.jetstream.embedded import free_port  # noqa: E402
from services.entrypoints.nats.client import IntegrationClient  # noqa: E402

AREAS = ["GM0034-haven", "GM0034-stad", "GM0034-poort", "GM0034-buiten"]
SUMMARY = "Groep jongeren verzamelt zich bij het winkelcentrum, sfeer grimmig."


def signal(i: int) -> dict[str, Any]:
    return {
        "reporter": "wijkagent-bench",
        "source_role": "police",
        "network_id": "bench",
        "area": AREAS[i % len(AREAS)],
        "themes": ["youth_nuisance"],
        "level": 1 + i % 2,
        "evidence": "observed",
        "occurred_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        "summary": SUMMARY,
    }


def cli(data: Path, *args: str, **env_extra: str) -> str:
    env = {**os.environ, "BONDGENOTEN_DATA_DIR": str(data), "NATS_URL": "", **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "services", *args], env=env, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip


async def wait_http(url: str, token: str) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            try:
                if (await client.get(url, headers={"Authorization": f"Bearer {token}"})).is_success:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the service did not start")


async def ingest(url: str, data: Path, n: int, concurrency: int) -> tuple[float, list[float]]:
    seed = data / "nats" / "identities" / "police.bench.nk"
    client = await IntegrationClient.connect(url, role="police", id="bench", seed_file=seed)
    pending = iter(range(n))
    latencies: list[float] = []

    async def requester() -> None:
        for i in pending:
            started = time.perf_counter()
            reply = await client.request("signal.submit", signal(i), command_id=f"b{i}", timeout=30)
            if not reply.get("ok"):
                raise SystemExit(f"refused: {reply}")
            latencies.append(time.perf_counter() - started)

    start = time.perf_counter()
    await asyncio.gather(*(requester() for _ in range(concurrency)))
    rate = n / (time.perf_counter() - start)
    await client.close()
    return rate, sorted(latencies)


async def raw(url: str, data: Path, n: int) -> tuple[float, float]:
    """Raw nats-py on the same server, as the service's identity (the only one allowed)."""
    seed = data / "nats" / "identities" / "service.nk"
    nc = await nats.connect(url, nkeys_seed=str(seed))
    js = nc.jetstream(publish_async_max_pending=256)
    await js.add_stream(name="RAWBENCH", subjects=["bg.rawbench.>"])
    payload = json.dumps({**signal(0), "signal_id": "x" * 32}).encode()
    start = time.perf_counter()
    for i in range(n):
        await js.publish_async(f"bg.rawbench.{i % 64}", payload)
    await js.publish_async_completed()
    pipelined = n / (time.perf_counter() - start)
    m = min(n, 2000)
    start = time.perf_counter()
    for i in range(m):
        await js.publish(f"bg.rawbench.{i % 64}", payload)
    sequential = m / (time.perf_counter() - start)
    await js.delete_stream("RAWBENCH")
    await nc.close()
    return pipelined, sequential


async def main(n: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        nats_port, http_port = free_port(), free_port()
        cli(data, "nats-config")
        cli(data, "nats-user", "--role", "police", "--id", "bench")
        env = {
            **os.environ,
            "NATS_URL": "",
            "BONDGENOTEN_DATA_DIR": str(data),
            "BONDGENOTEN_NATS_PORT": str(nats_port),
            "BONDGENOTEN_HTTP_PORT": str(http_port),
            "BONDGENOTEN_LOG_LEVEL": "WARNING",
        }
        service = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services", "run", env=env, stderr=subprocess.DEVNULL
        )
        try:
            base = f"http://127.0.0.1:{http_port}/api/v1"
            port = {"BONDGENOTEN_HTTP_PORT": str(http_port)}  # the issuer is this address
            admin = cli(data, "token", "--role", "crisis", "--id", "bench", **port).strip()
            await wait_http(f"{base}/health", admin)
            url = f"nats://127.0.0.1:{nats_port}"
            municipality = cli(data, "token", "--role", "municipality", "--id", "bench", **port)
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.post(
                    f"{base}/networks",
                    json={"network_id": "bench", "name": "Bench", "area": AREAS[0], "areas": AREAS},
                    headers={"Authorization": f"Bearer {municipality.strip()}"},
                )
                r.raise_for_status()
            started = time.perf_counter()
            rate, lat = await ingest(url, data, n, concurrency)
            async with httpx.AsyncClient(timeout=10) as http:
                headers = {"Authorization": f"Bearer {admin}"}
                last = (await http.get(f"{base}/health", headers=headers)).json()["log_position"]
                while True:
                    health = (await http.get(f"{base}/health", headers=headers)).json()
                    if health["projections"]["tension_map"]["checkpoint"] >= last:
                        break
                    await asyncio.sleep(0.02)
            projected = n / (time.perf_counter() - started)
            pipelined, sequential = await raw(url, data, n)
        finally:
            service.terminate()
            await asyncio.wait_for(service.wait(), timeout=30)
    p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
    print(f"signals {n}, concurrency {concurrency}, nats-server sync_interval always")
    print("| measure | service | raw nats-py baseline | ratio |")
    print("| --- | --- | --- | --- |")
    print(
        f"| ingest over NATS (request/reply) | {rate:,.0f}/s (p50 {p50:.0f} ms, p99 {p99:.0f} ms)"
        f" | {pipelined:,.0f}/s pipelined publish | {rate / pipelined:.2f}× |"
    )
    print(f"| | | {sequential:,.0f}/s sequential publish | {rate / sequential:.2f}× |")
    print(f"| live tension map keeps up (ingest start → folded) | {projected:,.0f}/s | | |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.signals, args.concurrency))
