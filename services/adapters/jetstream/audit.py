"""The audit trail as a JetStream stream (``<prefix>_AUDIT``, subjects
``<subject prefix>.audit.<action>``): append-only (deny delete, deny purge), one JSON message per
:class:`services.app.ports.AuditEntry`. Ids only, never personal data.

``record`` hands the entry to a group commit (:mod:`.group_commit`: entries that arrive while
one commit is in flight share the next atomic batch, one fsync for all of them) and returns
without waiting for it, so a command waits for no fsync of its own. At most
:data:`MAX_PENDING` entries await their commit; beyond that ``record`` waits for room (up to
:data:`STALL_S`, then it raises). An entry whose commit fails is logged as
``audit.not_recorded``, the policy of :class:`services.app.audit.Recorder`.
:meth:`JetStreamAuditTrail.close` waits for the pending ones on shutdown; ``entries`` does
first, so a read sees what was recorded before it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.adapters.jetstream.extensions import OutgoingMessage
from services.adapters.jetstream.group_commit import GroupCommitter
from services.adapters.jetstream.topology import Topology
from services.app.ports import AuditEntry, AuditTrail

log = structlog.get_logger(__name__)
FETCH_BATCH = 256
MAX_PENDING = 512
"""Entries sent and not yet acknowledged by the stream, at most."""
STALL_S = 2.0
"""How long ``record`` waits for room among the pending before it fails."""
ACK_TIMEOUT_S = 10.0
"""How long a commit may take before it counts as failed (and frees its places)."""
CLOSE_TIMEOUT_S = 5.0


def _encode(entry: AuditEntry) -> bytes:
    fields = dataclasses.asdict(entry)
    fields["at"] = entry.at.isoformat()
    return json.dumps(fields, separators=(",", ":")).encode()


def _decode(data: bytes) -> AuditEntry:
    fields: dict[str, Any] = json.loads(data)
    fields["at"] = datetime.fromisoformat(fields["at"])
    return AuditEntry(**fields)


class JetStreamAuditTrail:
    def __init__(
        self, nc: NatsClient, topology: Topology, *, max_pending: int = MAX_PENDING
    ) -> None:
        self._js = nc.jetstream(timeout=ACK_TIMEOUT_S)
        self._topology = topology
        self._committer = GroupCommitter(
            nc, self._alone, timeout_s=ACK_TIMEOUT_S, one_per_subject=False
        )
        self._room = asyncio.Semaphore(max_pending)
        self._pending: set[asyncio.Task[None]] = set()

    async def record(self, entry: AuditEntry) -> None:
        await asyncio.wait_for(self._room.acquire(), STALL_S)
        message = OutgoingMessage(self._topology.audit_subject(entry.action), _encode(entry))
        task = asyncio.create_task(self._commit(message, entry.action))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _commit(self, message: OutgoingMessage, action: str) -> None:
        try:
            await self._committer.append([message])
        except Exception as exc:
            log.error("audit.not_recorded", action=action, error=type(exc).__name__)
        finally:
            self._room.release()

    async def _alone(self, messages: Sequence[OutgoingMessage]) -> tuple[tuple[int, ...], bool]:
        (m,) = messages
        ack = await self._js.publish(m.subject, m.data)
        return (ack.seq,), bool(ack.duplicate)

    async def _settled(self, timeout: float) -> bool:  # noqa: ASYNC109
        if not self._pending:
            return True
        _, late = await asyncio.wait(set(self._pending), timeout=timeout)
        return not late

    async def close(self) -> None:
        """Wait (a while) until every entry handed over is committed or failed: on shutdown,
        before the connection goes."""
        if not await self._settled(CLOSE_TIMEOUT_S):
            log.error(
                "audit.not_recorded", action="*", error="shutdown", pending=len(self._pending)
            )
        await self._committer.close()

    async def entries(
        self, *, since: datetime | None = None, actor: str | None = None
    ) -> AsyncGenerator[AuditEntry, None]:
        # What this instance recorded before the read is in it (each commit ends or fails).
        await self._settled(ACK_TIMEOUT_S)
        stream = self._topology.audit_stream
        info = await self._js.stream_info(stream)
        last = info.state.last_seq
        if not info.state.messages:
            return
        # An ordered, ephemeral consumer from ``since`` (by the stream's own time) to the end.
        config = (
            ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=since.astimezone(UTC),
            )
            if since is not None
            else ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        subjects = f"{self._topology.subject_prefix}.audit.>"
        sub = await self._js.subscribe(
            subjects, stream=stream, ordered_consumer=True, config=config
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=2)
                except TimeoutError:
                    return
                entry = _decode(msg.data)
                if (since is None or entry.at >= since) and (actor is None or entry.actor == actor):
                    yield entry
                if msg.metadata.sequence.stream >= last:
                    return
        finally:
            await sub.unsubscribe()


if TYPE_CHECKING:
    _conforms: type[AuditTrail] = JetStreamAuditTrail
