"""The service as the benchmark sees it: a child process started with ``bondgenoten run`` on its
own data directory and embedded nats-server, driven only over HTTP and NATS."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.web import HttpConnection

RUN = [sys.executable, "-m", "services"]


def rss_mb(pid: int) -> float:
    """Resident set size of a process (``VmRSS``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Service:
    def __init__(self, data: Path, nats_port: int, http_port: int, policy: Path) -> None:
        self.data = data
        self.env = {
            **os.environ,
            "NATS_URL": "",
            "BONDGENOTEN_DATA_DIR": str(data),
            "BONDGENOTEN_NATS_PORT": str(nats_port),
            "BONDGENOTEN_HTTP_PORT": str(http_port),
            "BONDGENOTEN_LOG_LEVEL": "WARNING",
            "BONDGENOTEN_ESCALATION_POLICY": str(policy),
        }
        self.http_port = http_port
        self.nats_url = f"nats://127.0.0.1:{nats_port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.admin = ""

    def cli(self, *args: str) -> str:
        """``bondgenoten <args>`` on this data directory (the public console script)."""
        done = subprocess.run([*RUN, *args], env=self.env, check=True, capture_output=True)
        return done.stdout.decode().strip()

    def token(self, role: str, actor: str) -> str:
        return self.cli("token", "--role", role, "--id", actor)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> float:
        return rss_mb(self.pid)

    async def start(self) -> float:
        """Start and wait until the API answers; returns the seconds that took."""
        started = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            *RUN, "run", env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not self.admin:
            self.admin = self.token("crisis", "bench")
        conn = self.connection(self.admin)
        for _ in range(1200):
            if self.proc.returncode is not None:
                raise SystemExit("the service stopped during start-up")
            try:
                status, _ = await conn.request("GET", "/api/v1/health")
                if status == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise SystemExit("the service did not start")
        await conn.close()
        return time.perf_counter() - started

    async def stop(self) -> float:
        """SIGTERM and wait for the exit; returns the seconds that took."""
        assert self.proc is not None
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=60)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            return float("inf")
        return time.perf_counter() - started

    def connection(self, token: str | None = None) -> HttpConnection:
        return HttpConnection("127.0.0.1", self.http_port, token)

    async def health(self, conn: HttpConnection) -> dict[str, Any]:
        status, body = await conn.request("GET", "/api/v1/health", token=self.admin)
        if status != 200:
            raise RuntimeError(f"health answered {status}: {body}")
        return dict(body)

    async def wait_map_at(self, position: int, timeout: float = 900.0) -> float:  # noqa: ASYNC109
        """Until the tension map answers at ``position`` (``min_position``: read-your-writes,
        which also covers a log whose last events are of kinds the map does not read);
        returns the seconds that took."""
        conn = self.connection(self.admin)
        started = time.perf_counter()
        path = f"/api/v1/tension-map?area=GM0034-haven&min_position={position}"
        try:
            while time.perf_counter() - started < timeout:
                try:
                    status, _ = await conn.request("GET", path)
                except OSError:
                    status = 0
                if status == 200:
                    return time.perf_counter() - started
                if status != 503:
                    await asyncio.sleep(0.01)
        finally:
            await conn.close()
        raise SystemExit(f"the tension map did not reach {position} in {timeout:.0f} s")
