"""What every fault test shares: a burst of signals whose clients retry until answered, and the
checks each fault must pass (no acknowledged event lost, none twice, projections equal to a
fault-free fold of the log)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient

from domain.access import Principal, Role
from events.codec import DecodeError
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.bootstrap import Service
from services.entrypoints.nats.api import command_subject
from tests.api_helpers import signal_body

ANSWER_TIMEOUT_S = 3.0
"""A request unanswered this long is sent again with the same id (as a client would)."""


class Burst:
    """Concurrent clients submitting signals over NATS. Each retries its request with the same
    ``command_id`` until the service confirms it (through outages, leader elections and
    restarts), then sends the next. ``acked`` maps each confirmed command id to its signal id.
    Every ``join_every``-th signal is about ``join_theme`` (an escalation open there takes it
    in, so the workflow works while the fault happens)."""

    def __init__(
        self,
        nc: NatsClient,
        subject_prefix: str,
        *,
        tag: str = "burst",
        requesters: int = 4,
        join_theme: str | None = None,
        join_every: int = 8,
    ) -> None:
        principal = Principal(Role.POLICE, "wijkagent")
        self.subject = command_subject(subject_prefix, "signal.submit", principal)
        self.nc = nc
        self.tag = tag
        self.requesters = requesters
        self.join_theme = join_theme
        self.join_every = join_every
        self.sent: list[str] = []
        self.acked: dict[str, str] = {}
        self.joining: set[str] = set()
        """Command ids of the signals about ``join_theme``."""
        self.refusals: Counter[str] = Counter()
        self._bodies: dict[str, bytes] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def body(self, command_id: str, n: int) -> bytes:
        """The same request each time for one id (a retry resends what it sent)."""
        if command_id not in self._bodies:
            theme = "youth_nuisance"
            if self.join_theme is not None and n % self.join_every == 0:
                theme = self.join_theme
                self.joining.add(command_id)
            fields = signal_body(
                source_role="police", reporter="wijkagent", level=1, themes=[theme]
            )
            self._bodies[command_id] = json.dumps({**fields, "command_id": command_id}).encode()
        return self._bodies[command_id]

    async def send(self, command_id: str, n: int = 1) -> bool:
        try:
            reply = await self.nc.request(
                self.subject, self.body(command_id, n), timeout=ANSWER_TIMEOUT_S
            )
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            return False
        answer: dict[str, Any] = json.loads(reply.data)
        if answer.get("ok"):
            self.acked[command_id] = answer["signal_id"]
            return True
        for error in answer.get("errors", []):
            self.refusals[str(error.get("code"))] += 1
        return False

    async def _requester(self, w: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            command_id = f"{self.tag}-{w}-{n}"
            self.sent.append(command_id)
            while not await self.send(command_id, n * self.requesters + w):
                if self._stop.is_set():
                    return  # left unconfirmed; :meth:`confirm_all` sends it again
                await asyncio.sleep(0.05)  # a client's back-off before it retries

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._requester(w)) for w in range(self.requesters)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def confirm_all(self) -> None:
        """Send every request not yet confirmed again, until each is (clients retry)."""
        for i, command_id in enumerate(self.sent):
            while command_id not in self.acked:
                if not await self.send(command_id, i):
                    await asyncio.sleep(0.05)


async def signal_ids(store: JetStreamEventStore) -> Counter[str]:
    signals = store.read(kinds=["signal"], skip_undecodable=True)
    return Counter([e.data.signal_id async for e in signals])


async def assert_every_acknowledged_signal_once(store: JetStreamEventStore, burst: Burst) -> None:
    """No acknowledged signal lost, none recorded twice, and, after every client retried what
    it sent, exactly one signal per request."""
    recorded = await signal_ids(store)
    assert set(burst.acked.values()) <= set(recorded), "an acknowledged signal was lost"
    assert max(recorded.values()) == 1, "a signal was recorded twice"
    assert len(set(burst.acked.values())) == len(burst.acked), "two requests, one signal"


async def assert_projections_are_the_fold_of_the_log(service: Service) -> None:
    """Every read model equals a fault-free fold of the whole log (call once settled)."""
    store = service.infra.store
    for runner in service.runners:
        projection = runner.projection
        state = projection.initial()
        async for raw in store.read_raw(kinds=projection.kinds):
            try:
                event = raw.decode()
            except DecodeError:
                continue  # poison: the runner parked it
            state = projection.evolve(state, event)
        assert state == runner.state, f"{runner.consumer_name} differs from the fold of the log"
