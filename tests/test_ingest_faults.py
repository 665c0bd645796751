"""Group-committed ingest under faults, with the service in its own process: killed with
SIGKILL in the middle of a burst (appends committed in batches), every acknowledged signal is in
the log exactly once, also after the clients retry; stopped with SIGTERM during a burst, it
stops accepting, finishes what it accepted, and exits by itself (cleanly, exit code 0)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from domain.access import Principal, Role
from services.adapters.jetstream.embedded import free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.entrypoints.nats.api import command_subject
from services.settings import Settings
from tests.api_helpers import seed_network, signal_body, signed_client
from tests.conftest import eventually
from tests.service_process import start_service

pytestmark = pytest.mark.slow
POLICY = Path(__file__).resolve().parents[1] / "services" / "config" / "escalation-policy.toml"
REQUESTERS = 32


class Burst:
    """Concurrent requesters sending routine signals over NATS until the service stops
    answering; ``acked`` maps each command id the service confirmed to its signal id."""

    def __init__(self, nc: NatsClient, settings: Settings) -> None:
        principal = Principal(Role.POLICE, "wijkagent")
        self.subject = command_subject(settings.subject_prefix, "signal.submit", principal)
        self.nc = nc
        self.sent: list[str] = []
        self.acked: dict[str, str] = {}
        self.bodies: dict[str, bytes] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def body(self, command_id: str) -> bytes:
        """The same request each time for one id (a retry resends what it sent)."""
        if command_id not in self.bodies:
            fields = signal_body(
                source_role="police", reporter="wijkagent", level=1, themes=["youth_nuisance"]
            )
            self.bodies[command_id] = json.dumps({**fields, "command_id": command_id}).encode()
        return self.bodies[command_id]

    async def send(self, command_id: str, timeout: float = 2.0) -> dict[str, Any]:  # noqa: ASYNC109
        reply = await self.nc.request(self.subject, self.body(command_id), timeout=timeout)
        answer: dict[str, Any] = json.loads(reply.data)
        if answer.get("ok"):
            self.acked[command_id] = answer["signal_id"]
        return answer

    async def requester(self, w: int) -> None:
        for i in range(1_000_000):
            command_id = f"burst-{w}-{i}"
            self.sent.append(command_id)
            try:
                await self.send(command_id)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                return  # the service is gone: this one may or may not have been recorded

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self.requester(w)) for w in range(REQUESTERS)]

    async def ended(self) -> None:
        await asyncio.gather(*self.tasks)


async def signal_ids(store: JetStreamEventStore) -> Counter[str]:
    return Counter([e.data.signal_id async for e in store.read(kinds=["signal"])])


async def started(settings: Settings, tmp_path: Path) -> asyncio.subprocess.Process:
    proc = await start_service(settings, POLICY, tmp_path / "service.log")
    base_url = f"http://127.0.0.1:{settings.http_port}"
    async with signed_client(settings, base_url=base_url) as client:
        await seed_network(client)
    return proc


async def test_killed_mid_batch_every_acknowledged_signal_is_there_once(
    settings: Settings, tmp_path: Path, nc: NatsClient, store: JetStreamEventStore
) -> None:
    settings = settings.model_copy(update=dict(http_port=free_port()))
    proc = await started(settings, tmp_path)
    burst = Burst(nc, settings)
    try:
        burst.start()
        # Well into the burst: 32 requesters keep the group committer's batches full.
        await eventually(lambda: len(burst.acked) >= 500, timeout=120, interval=0.01)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await burst.ended()
        recorded = await signal_ids(store)
        assert set(burst.acked.values()) <= set(recorded), "an acknowledged signal was lost"
        assert max(recorded.values()) == 1, "a signal was recorded twice"
        # The clients retry everything they sent, answered or not, with the same ids: each
        # signal stays recorded once, and each retry answers with the signal it recorded.
        proc = await start_service(settings, POLICY, tmp_path / "service.log")
        before = dict(burst.acked)
        for command_id in burst.sent:
            answer = await burst.send(command_id, timeout=10)
            assert answer["ok"], answer
        assert all(burst.acked[k] == v for k, v in before.items())
        after = await signal_ids(store)
        assert set(after) >= set(burst.acked.values())
        assert max(after.values()) == 1, "a retry recorded a signal twice"
        assert len(after) == len(set(burst.acked.values())) == len(burst.sent)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()


async def test_sigterm_during_a_burst_exits_cleanly(
    settings: Settings, tmp_path: Path, nc: NatsClient, store: JetStreamEventStore
) -> None:
    settings = settings.model_copy(update=dict(http_port=free_port()))
    proc = await started(settings, tmp_path)
    burst = Burst(nc, settings)
    try:
        burst.start()
        await eventually(lambda: len(burst.acked) >= 500, timeout=120, interval=0.01)
        proc.send_signal(signal.SIGTERM)
        # A hang detector, not a speed bound: a clean stop takes a second or two; the test
        # fails only if the process does not end by itself at all.
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=60)
        except TimeoutError:
            proc.send_signal(signal.SIGUSR1)  # it logs where each of its tasks waits
            await eventually(lambda: "task.stack" in (tmp_path / "service.log").read_text())
            log = (tmp_path / "service.log").read_text()
            pytest.fail(f"the service did not stop by itself after SIGTERM: {log[-5000:]}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    await burst.ended()
    assert code == 0, (tmp_path / "service.log").read_text()[-3000:]
    recorded = await signal_ids(store)
    assert set(burst.acked.values()) <= set(recorded), "an acknowledged signal was lost"
    assert max(recorded.values()) == 1
    log = (tmp_path / "service.log").read_text()
    assert "Traceback" not in log, log[-3000:]
