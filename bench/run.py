"""The benchmark command: the service in its own process (``bondgenoten run``) on its own
embedded nats-server (file store, ``sync_interval: always``, nkey authentication on), driven only
through its public interfaces (HTTP API, the ``bondgenoten`` CLI, webhooks it sends), each figure
next to a raw nats-py baseline measured on the same server in the same run. One table at the end.

    .venv/bin/python bench/run.py [--signals 10000] [--events 100000] [--million]

Phases, in order (see BENCHMARKS.md for what each figure means):
1. raw pipelined/sequential publish; HTTP ingest by ``--clients`` keep-alive clients while the
   tension map's checkpoint is sampled (live fold rate); NATS request/reply ingest (half as many);
   raw pull + ack + parse of the HTTP-ingested signals;
2. open-loop load at 500 and 2,000 routine signals/s with urgent (major-incident) signals, and
   500/s after a burst (backlog): urgent sent → webhook received, routine sent → visible in
   ``GET /tension-map?min_position=``;
3. stop (SIGTERM), pre-fill the log to ``--events`` with copies of stored signals (atomic
   batches), raw ordered replay + parse of the whole log, ``bondgenoten rebuild`` (timed,
   peak RSS), start again: time until the map answers at the last position; restart once more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load, raw  # noqa: E402
from bench.service import RUN, Service, rss_mb  # noqa: E402
from bench.web import WebhookReceiver  # noqa: E402
from services.adapters.jetstream.embedded import EmbeddedNats, free_port  # noqa: E402
from services.adapters.logging import configure_logging  # noqa: E402

POLICY = """\
[default]
open_band = "high"
min_independent_reporters = 2
min_roles = 2

[default.invitations]
channels = ["console"]
addresses = {{ console = "-" }}

[default.convening]
mode = "call"
place = "Belbrug bench"
lead_min = 30
rsvp_min = 15
quorum = 3

[[default.levels]]
name = "Officier van dienst (bench)"
ack_timeout_s = 3600
repeat = 1

[[default.levels.recipients]]
name = "bench-hook"
label = "Webhook van de benchmark"
channels = ["webhook"]
addresses = {{ webhook = "http://127.0.0.1:{port}/hook" }}
"""


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, measure: str, service: str, baseline: str = "", ratio: str = "") -> None:
        self.rows.append((measure, service, baseline, ratio))
        print(f"  {measure}: {service}" + (f"  [{baseline}]" if baseline else ""), flush=True)

    def render(self) -> str:
        lines = ["| measure | service | raw nats-py baseline, same run | ratio |"]
        lines.append("| --- | --- | --- | --- |")
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


async def rebuild(
    service: Service, *names: str, profile: Path | None = None
) -> tuple[float, float, str]:
    """``bondgenoten rebuild`` as an operator runs it: wall time, peak RSS (MB), its output."""
    command = [*RUN, "rebuild", *names]
    if profile is not None:  # py-spy's collapsed stacks (the peak RSS is then py-spy's)
        out = profile / f"rebuild{'-' + '-'.join(names) if names else ''}.txt"
        command = ["py-spy", "record", "-f", "raw", "-r", "200", "-o", str(out), "--", *command]
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *command, env=service.env, stdout=asyncio.subprocess.PIPE
    )
    peak = 0.0
    while proc.returncode is None:
        with contextlib.suppress(OSError, ValueError):
            peak = max(peak, rss_mb(proc.pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.1)
    out = (await proc.stdout.read()).decode() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"rebuild failed ({proc.returncode}): {out}")
    return time.perf_counter() - started, peak, out.strip()


async def load_phases(args: argparse.Namespace, service: Service, table: Table) -> None:
    police = service.token("police", "bench")
    municipality = service.token("municipality", "bench")
    conn = service.connection(municipality)
    network = {"network_id": "bench", "name": "Bench", "area": "GM0034", "areas": ["GM0034"]}
    status, body = await conn.request("POST", "/api/v1/networks", network)
    await conn.close()
    if status >= 300:
        raise SystemExit(f"forming the network failed: {status} {body}")

    nc = await raw.connect(service.data, service.nats_url)
    payload = json.dumps(load.routine(0) | {"signal_id": "x" * 32}).encode()
    pipelined, sequential = await raw.publish(nc, args.signals, payload)
    got = await load.ingest(service, police, args.signals, args.clients)
    table.add(
        f"ingest over HTTP, {args.clients} clients (h11 keep-alive)",
        f"{got['rate']:,.0f}/s (p50 {ms(got['p50'])}, p99 {ms(got['p99'])})",
        f"{pipelined:,.0f}/s pipelined publish; {sequential:,.0f}/s sequential",
        f"{got['rate'] / pipelined:.2f}×",
    )
    rate, p50, p99 = await load.ingest_nats(service, args.signals // 2, args.clients)
    table.add(
        f"ingest over NATS (request/reply), {args.clients} requesters",
        f"{rate:,.0f}/s (p50 {ms(p50)}, p99 {ms(p99)})",
        f"{pipelined:,.0f}/s pipelined publish",
        f"{rate / pipelined:.2f}×",
    )
    if got["refused"]:
        table.add("  refused during ingest", f"{got['refused']} (first: {got['first_refusal']})")
    pulled = await raw.pull_ack_parse(nc, got["first"], got["accepted"])
    table.add(
        "live tension map during that ingest (log positions folded/s)",
        f"{got['folded_rate']:,.0f}/s; caught up {got['lag']:.1f} s after the ingest ended",
        f"{pulled:,.0f}/s pull + ack + parse",
        f"{got['folded_rate'] / pulled:.2f}×",
    )
    table.add("service RSS after ingest", f"{service.rss():,.0f} MB")
    await nc.close()

    hooks = WebhookReceiver(args.webhook_port)
    hooks.start()
    try:
        phases = [(500, 0, "500/s"), (2000, 0, "2,000/s"), (500, args.burst, "500/s + backlog")]
        for rate, burst, label in phases:
            seen = await load.offered(
                service, police, hooks, rate=rate, seconds=args.seconds,
                urgent_per_s=args.urgent, burst=burst,
            )  # fmt: skip
            at = (await service.health(conn))["log_position"]
            lag = await service.wait_map_at(at)
            accepted = seen.accepted / seen.elapsed
            if burst:
                label = f"500/s after a burst of {burst:,}"
            table.add(
                f"urgent signal sent → webhook, {label}",
                f"p50 {ms(load.pct(seen.urgent_latency, 0.5))}, "
                f"p99 {ms(load.pct(seen.urgent_latency, 0.99))} "
                f"({len(seen.urgent_latency)} alerts, {seen.urgent_lost} missing)",
            )
            table.add(
                f"routine signal sent → visible in the map, {label}",
                f"p50 {ms(load.pct(seen.visible, 0.5))}, p99 {ms(load.pct(seen.visible, 0.99))}; "
                f"accepted {accepted:,.0f}/s, 503 {seen.unavailable}, other {seen.other}, "
                f"unsent {seen.unsent}; map caught up {lag:.1f} s later",
            )
            table.add(f"service RSS after {label}", f"{service.rss():,.0f} MB")
    finally:
        hooks.stop()


async def log_phases(args: argparse.Namespace, service: Service, table: Table) -> None:
    stopped = await service.stop()
    table.add("stop after the load (SIGTERM → exit)", f"{stopped:.1f} s")
    server = EmbeddedNats(
        service.data / "nats",
        port=int(service.env["BONDGENOTEN_NATS_PORT"]),
        authorization=service.data / "nats" / "authorization.conf",
    ).start()
    try:
        nc = await raw.connect(service.data, service.nats_url)
        js = nc.jetstream()
        have = (await js.stream_info(raw.EVENTS)).state.messages
        fill = max(0, args.events - have)
        print(f"  pre-filling {fill:,} events ...", flush=True)
        filled = await raw.prefill(nc, fill) if fill else 0.0
        count, replay = await raw.ordered_replay(nc)
        await nc.close()
    finally:
        server.stop()
    filling = f"{filled:,.0f}/s" if fill else "none needed"
    table.add(f"pre-fill (raw atomic batches of 1,000) to {count:,} events", filling)
    overhead, _, _ = await rebuild(service, "call_lists", profile=args.profile)
    took, peak, out = await rebuild(service, profile=args.profile)
    if took - overhead > 0.5:
        rate, note = count / (took - overhead), f"{overhead:.1f} s of it start-up"
    else:  # too small a log to tell the fold from the start-up (which varies by a second)
        rate, note = count / took, "start-up included"
    table.add(
        f"`bondgenoten rebuild`, {count:,} events",
        f"{took:.1f} s wall ({note}): {rate:,.0f} events/s; peak RSS {peak:,.0f} MB",
        f"{replay:,.0f}/s ordered replay + parse",
        f"{rate / replay:.2f}×",
    )
    print("   ", out.replace("\n", "\n    "), flush=True)
    last = await _last_position(service)
    started = await service.start()
    caught = await service.wait_map_at(last)
    table.add(
        "start after the rebuild → map answers at the last position",
        f"{started:.1f} s to answer + {caught:.2f} s catch-up; RSS {service.rss():,.0f} MB",
    )
    stopped = await service.stop()
    started = await service.start()
    caught = await service.wait_map_at(last)
    table.add(
        f"restart (stop {stopped:.1f} s) → map answers at the last position",
        f"{started:.1f} s to answer + {caught:.2f} s catch-up from the snapshot; "
        f"RSS {service.rss():,.0f} MB",
    )


async def _last_position(service: Service) -> int:
    """The log's last position, read while no service runs (a bare server on the store)."""
    server = EmbeddedNats(
        service.data / "nats",
        port=int(service.env["BONDGENOTEN_NATS_PORT"]),
        authorization=service.data / "nats" / "authorization.conf",
    ).start()
    try:
        nc = await raw.connect(service.data, service.nats_url)
        last = int((await nc.jetstream().stream_info(raw.EVENTS)).state.last_seq)
        await nc.close()
        return last
    finally:
        server.stop()


async def main(args: argparse.Namespace) -> None:
    table = Table()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        policy = data / "bench-policy.toml"
        policy.write_text(POLICY.format(port=args.webhook_port))
        service = Service(data / "store", free_port(), free_port(), policy)
        service.cli("nats-config")
        service.cli("nats-user", "--role", "police", "--id", "bench")
        print("starting the service ...", flush=True)
        started = await service.start()
        table.add("start on a fresh store → API answers", f"{started:.1f} s")
        try:
            await load_phases(args, service, table)
            await log_phases(args, service, table)
        finally:
            if service.proc is not None and service.proc.returncode is None:
                await service.stop()
    print()
    print(
        f"signals {args.signals:,}, clients {args.clients}, events {args.events:,}, "
        f"phases {args.seconds:.0f} s with {args.urgent:g} urgent signals/s; "
        "nats-server file store, sync_interval always"
    )
    print(table.render())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--signals", type=int, default=10_000, help="HTTP ingest phase (default 10k)")
    p.add_argument("--clients", type=int, default=64, help="concurrent HTTP clients")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each latency phase")
    p.add_argument("--urgent", type=float, default=10.0, help="urgent signals per second")
    p.add_argument("--burst", type=int, default=2000, help="routine backlog before urgent ones")
    p.add_argument("--events", type=int, default=100_000, help="log size for rebuild/restart")
    p.add_argument("--million", action="store_true", help="--events 1000000")
    p.add_argument("--profile", type=Path, help="py-spy the rebuild into this directory")
    p.add_argument("--webhook-port", type=int, default=0, help="local webhook receiver port")
    args = p.parse_args(argv)
    if args.million:
        args.events = 1_000_000
    if not args.webhook_port:
        args.webhook_port = free_port()
    return args


if __name__ == "__main__":
    configure_logging("WARNING")  # the bare server's start-up notes would cut through the table
    asyncio.run(main(parse()))
