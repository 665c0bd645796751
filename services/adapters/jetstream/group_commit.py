"""Group commit: appends of independent aggregates that arrive together share one atomic batch.

With ``sync_interval: always`` every JetStream commit costs an fsync, so one publish per signal
caps durable ingest near the disk's fsync rate (≈900 sequential, ≈3,000 pipelined per second
on the reference machine). Here concurrent appends queue up while the previous commit is in
flight and then go to the server as one atomic batch (ADR-50): one commit, one fsync, for
all of them.

Each append keeps its own guarantees inside the shared batch: its ``Nats-Msg-Id`` and its
``Nats-Expected-Last-Subject-Sequence`` are checked by the server at commit. The server
refuses a batch as a whole if one check fails (a conflict, an id already stored), so a refused
group is split in halves and retried until the offending append stands alone and gets its own
answer; the others are committed. Two appends to one aggregate never share a batch (the
second would be checked against the stream as it was before the first): the later one waits
for the next group. A group of one takes the plain path (a single publish, whose duplicate
answer is an idempotent success).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient

from services.adapters.jetstream.extensions import (
    BatchDuplicateMsgId,
    ExpectedSequenceConflict,
    OutgoingMessage,
    publish_atomic_batch,
)

MAX_GROUP_MESSAGES = 500
"""Well under the server's 1,000 messages per batch; larger groups gain little."""

Positions = tuple[int, ...]
Alone = Callable[[Sequence[OutgoingMessage]], Awaitable[tuple[Positions, bool]]]
"""How one append is published when it stands alone: (positions, duplicate)."""


@dataclass
class _Append:
    messages: Sequence[OutgoingMessage]
    done: asyncio.Future[tuple[Positions, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def subject(self) -> str:
        return self.messages[0].subject


class GroupCommitter:
    def __init__(
        self, nc: NatsClient, alone: Alone, *, timeout_s: float, one_per_subject: bool = True
    ) -> None:
        """``one_per_subject``: keep appends to one subject in separate batches (needed where
        they carry expected-sequence checks; an append-only trail without them can batch
        them together)."""
        self._nc = nc
        self._one_per_subject = one_per_subject
        self._alone = alone
        self._timeout = timeout_s
        self._queue: asyncio.Queue[_Append] = asyncio.Queue()
        self._held: list[_Append] = []  # same aggregate as one in the last group: next time
        self._committing: list[_Append] = []
        self._task: asyncio.Task[None] | None = None
        self.groups = 0
        self.grouped = 0

    async def append(self, messages: Sequence[OutgoingMessage]) -> tuple[Positions, bool]:
        """Append the messages of one aggregate (all or nothing) in the next group commit.
        Raises what the alone path raises for this append (conflict, duplicate batch, ...)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit")
        item = _Append(messages)
        await self._queue.put(item)
        return await item.done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for item in [*self._committing, *self._held, *_drain(self._queue)]:
            if not item.done.done():
                item.done.set_exception(ConnectionError("event store closed"))
        self._held = []

    async def _run(self) -> None:
        while True:
            first = self._held.pop(0) if self._held else await self._queue.get()
            group = [first]
            subjects = {first.subject}
            size = len(first.messages)
            pending = [*self._held, *_drain(self._queue)]
            self._held = []
            for item in pending:
                same = self._one_per_subject and item.subject in subjects
                if same or size + len(item.messages) > MAX_GROUP_MESSAGES:
                    self._held.append(item)
                    continue
                group.append(item)
                subjects.add(item.subject)
                size += len(item.messages)
            # A caller that gave up (cancelled) is left out; close() fails the ones committing.
            self._committing = [g for g in group if not g.done.done()]
            if self._committing:
                await self._commit(self._committing)
            self._committing = []

    async def _commit(self, group: list[_Append]) -> None:
        if len(group) == 1:
            await _settle(group[0], self._alone(group[0].messages))
            return
        messages = [m for item in group for m in item.messages]
        try:
            ack = await publish_atomic_batch(self._nc, messages, timeout=self._timeout)
        except (ExpectedSequenceConflict, BatchDuplicateMsgId):
            # One append's own check failed and sank the batch: find it by halving.
            half = len(group) // 2
            await self._commit(group[:half])
            await self._commit(group[half:])
            return
        except Exception as exc:  # transient or unknown outcome: each caller retries safely
            for item in group:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        self.groups += 1
        self.grouped += len(group)
        position = ack.seq - len(messages) + 1
        for item in group:
            n = len(item.messages)
            if not item.done.done():
                item.done.set_result((tuple(range(position, position + n)), False))
            position += n


async def _settle(item: _Append, outcome: Awaitable[tuple[Positions, bool]]) -> None:
    try:
        result = await outcome
    except Exception as exc:
        if not item.done.done():
            item.done.set_exception(exc)
        return
    if not item.done.done():
        item.done.set_result(result)


def _drain(queue: asyncio.Queue[_Append]) -> list[_Append]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
