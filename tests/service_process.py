"""``bondgenoten run`` as its own process, on the test server and the test's streams."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import httpx

from services.settings import Settings
from tests.conftest import eventually


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``bondgenoten`` process on the test server and the test's streams."""
    return {
        **os.environ,
        "NATS_URL": settings.nats_url or "",
        "BONDGENOTEN_STREAM_PREFIX": settings.stream_prefix,
        "BONDGENOTEN_SUBJECT_PREFIX": settings.subject_prefix,
        "BONDGENOTEN_HTTP_PORT": str(settings.http_port),
        "BONDGENOTEN_LOG_LEVEL": "WARNING",
        **extra,
    }


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``bondgenoten <args>`` to completion: its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_service(
    settings: Settings, policy: Path, log: Path, **env_extra: str
) -> asyncio.subprocess.Process:
    """Logs (stderr) go to ``log``; what it prints for people (stdout) next to it."""
    defaults = {"BONDGENOTEN_ESCALATION_POLICY": str(policy), "BONDGENOTEN_LOG_LEVEL": "INFO"}
    env = service_env(settings, **{**defaults, **env_extra})
    with log.open("ab") as err, log.with_suffix(".stdout").open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services", "run", env=env, stdout=out, stderr=err
        )
    url = f"http://127.0.0.1:{settings.http_port}/livez"

    async with httpx.AsyncClient(timeout=1) as client:

        async def up_or_exited() -> str:
            if proc.returncode is not None:
                return "exited"
            try:
                return "up" if (await client.get(url)).status_code == 200 else ""
            except httpx.TransportError:
                return ""

        with contextlib.suppress(AssertionError):
            if await eventually(up_or_exited, timeout=30, what="the service's health") == "up":
                return proc
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
    tail = (await asyncio.to_thread(log.read_text))[-2000:]
    raise AssertionError("service did not start: " + tail)
