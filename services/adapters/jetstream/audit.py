"""The audit trail as a JetStream stream (``<prefix>_AUDIT``, subjects
``<subject prefix>.audit.<action>``): append-only (deny delete, deny purge), one JSON message per
:class:`services.app.ports.AuditEntry`. Ids only, never personal data.

``record`` is pipelined (``publish_async``): it sends the entry and returns without waiting for
the stream's acknowledgement, so a command does not wait for a second fsync of its own. At most
:data:`MAX_PENDING` entries await their acknowledgement; beyond that ``record`` waits for room
(up to :data:`STALL_S`, then it raises). An acknowledgement that fails or does not come within
:data:`ACK_TIMEOUT_S` is logged as ``audit.not_recorded``, the policy of
:class:`services.app.audit.Recorder`. :meth:`JetStreamAuditTrail.close` waits for the pending
ones on shutdown; ``entries`` does first, so a read sees what was recorded before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy, PubAck

from services.adapters.jetstream.topology import Topology
from services.app.ports import AuditEntry, AuditTrail

log = structlog.get_logger(__name__)
FETCH_BATCH = 256
MAX_PENDING = 512
"""Entries sent and not yet acknowledged by the stream, at most."""
STALL_S = 2.0
"""How long ``record`` waits for room among the pending before it fails."""
ACK_TIMEOUT_S = 10.0
"""An entry not acknowledged by then counts as not recorded (and frees its place)."""
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
        # A context of its own: its pending count and completion are the audit trail's only.
        self._js = nc.jetstream(publish_async_max_pending=max_pending)
        self._topology = topology

    async def record(self, entry: AuditEntry) -> None:
        subject = self._topology.audit_subject(entry.action)
        action = entry.action
        ack = await self._js.publish_async(subject, _encode(entry), wait_stall=STALL_S)
        expiry = asyncio.get_running_loop().call_later(ACK_TIMEOUT_S, _expire, ack)
        ack.add_done_callback(lambda done: _checked(done, action, expiry))

    async def close(self) -> None:
        """Wait (a while) until every entry sent is acknowledged or failed: on shutdown,
        before the connection goes."""
        try:
            await asyncio.wait_for(self._js.publish_async_completed(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            pending = self._js.publish_async_pending()
            log.error("audit.not_recorded", action="*", error="shutdown", pending=pending)

    async def entries(
        self, *, since: datetime | None = None, actor: str | None = None
    ) -> AsyncGenerator[AuditEntry, None]:
        # What this instance recorded before the read is in it (each pending one expires).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._js.publish_async_completed(), ACK_TIMEOUT_S)
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


def _expire(ack: asyncio.Future[PubAck]) -> None:
    if not ack.done():
        ack.set_exception(TimeoutError("no acknowledgement from the audit stream"))


def _checked(ack: asyncio.Future[PubAck], action: str, expiry: asyncio.TimerHandle) -> None:
    expiry.cancel()
    if ack.cancelled():
        error = "cancelled"
    elif (exc := ack.exception()) is not None:
        error = type(exc).__name__
    else:
        return
    log.error("audit.not_recorded", action=action, error=error)


if TYPE_CHECKING:
    _conforms: type[AuditTrail] = JetStreamAuditTrail
