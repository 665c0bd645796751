"""The audit trail as a JetStream stream (``<prefix>_AUDIT``, subjects
``<subject prefix>.audit.<action>``): append-only (deny delete, deny purge), one JSON message per
:class:`services.app.ports.AuditEntry`. Ids only, never personal data."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.adapters.jetstream.topology import Topology
from services.app.ports import AuditEntry, AuditTrail

FETCH_BATCH = 256


def _encode(entry: AuditEntry) -> bytes:
    fields = dataclasses.asdict(entry)
    fields["at"] = entry.at.isoformat()
    return json.dumps(fields, separators=(",", ":")).encode()


def _decode(data: bytes) -> AuditEntry:
    fields: dict[str, Any] = json.loads(data)
    fields["at"] = datetime.fromisoformat(fields["at"])
    return AuditEntry(**fields)


class JetStreamAuditTrail:
    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self._js = js
        self._topology = topology

    async def record(self, entry: AuditEntry) -> None:
        await self._js.publish(self._topology.audit_subject(entry.action), _encode(entry))

    async def entries(
        self, *, since: datetime | None = None, actor: str | None = None
    ) -> AsyncIterator[AuditEntry]:
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
