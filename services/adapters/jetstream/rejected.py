"""Refused input kept in the rejected stream with the reason (``BG_REJECTED``, 90 days)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import structlog
from nats.js import JetStreamContext

from domain.intake import FieldError, loggable_field
from services.adapters.jetstream.topology import Topology
from services.app.personal import withhold_personal
from services.app.ports import Clock

log = structlog.get_logger(__name__)

MAX_KEPT_BYTES = 512 * 1024


class JetStreamRejectedInputs:
    def __init__(self, js: JetStreamContext, topology: Topology, clock: Clock) -> None:
        self._js = js
        self._topology = topology
        self._clock = clock
        self.kept: Counter[str] = Counter()
        """Refused inputs kept, by channel: the metrics read them."""

    async def keep(self, body: bytes, channel: str, errors: Sequence[FieldError]) -> None:
        body = withhold_personal(body)
        headers = {
            "Bg-Rejected-Channel": channel,
            "Bg-Rejected-At": self._clock.now().isoformat(),
            "Bg-Rejected-Reason": json.dumps([e.as_dict() for e in errors])[:4000],
            "Bg-Rejected-Size": str(len(body)),
        }
        if len(body) > MAX_KEPT_BYTES:
            headers["Bg-Rejected-Truncated"] = "true"
            body = body[:MAX_KEPT_BYTES]
        await self._js.publish(self._topology.rejected_subject(channel), body, headers=headers)
        self.kept[channel] += 1
        log.info(
            "input.rejected", channel=channel, fields=[loggable_field(e.field) for e in errors]
        )
