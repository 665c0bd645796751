"""Durable timers as JetStream message schedules (``Nats-Schedule: @at``) on the timers stream.

The server itself stores the payload on ``<prefix>.timer.fired.<timer id>`` at the due time,
also while this service is down, and survives its own restart; the workflow's timer consumer
reads the fired subject. Publishing a schedule is idempotent per timer (``Nats-Msg-Id``).

Whether a timer is due is judged by the server's clock alone, never this instance's: a time
already past fires at once (verified, docs/research/jetstream-batch-and-schedules.md). An
instance whose clock runs ahead would otherwise fire a timer early because its clock said so.
"""

from __future__ import annotations

from datetime import datetime

from nats.js import JetStreamContext

from services.adapters.jetstream.extensions import schedule_headers
from services.adapters.jetstream.topology import Topology


class JetStreamScheduler:
    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self._js = js
        self._topology = topology

    async def schedule(self, timer_id: str, at: datetime, payload: bytes) -> None:
        fired = self._topology.timer_fired_subject(timer_id)
        headers = schedule_headers(at, fired)
        headers["Nats-Msg-Id"] = f"schedule:{timer_id}"
        await self._js.publish(self._topology.timer_at_subject(timer_id), payload, headers=headers)
