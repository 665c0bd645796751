"""Durable timers as JetStream message schedules (``Nats-Schedule: @at``) on the timers stream.

The server itself stores the payload on ``<prefix>.timer.fired.<timer id>`` at the due time,
also while this service is down, and survives its own restart; the workflow's timer consumer
reads the fired subject. Publishing a schedule is idempotent per timer (``Nats-Msg-Id``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nats.js import JetStreamContext

from services.adapters.jetstream.extensions import schedule_headers
from services.adapters.jetstream.topology import Topology
from services.app.ports import Clock

DUE_NOW = timedelta(milliseconds=50)


class JetStreamScheduler:
    def __init__(self, js: JetStreamContext, topology: Topology, clock: Clock) -> None:
        self._js = js
        self._topology = topology
        self._clock = clock

    async def schedule(self, timer_id: str, at: datetime, payload: bytes) -> None:
        fired = self._topology.timer_fired_subject(timer_id)
        if at <= self._clock.now() + DUE_NOW:
            # Already due (e.g. the reactor was down): fire now rather than schedule the past.
            await self._js.publish(fired, payload, headers={"Nats-Msg-Id": f"fired:{timer_id}"})
            return
        headers = schedule_headers(at, fired)
        headers["Nats-Msg-Id"] = f"schedule:{timer_id}"
        await self._js.publish(self._topology.timer_at_subject(timer_id), payload, headers=headers)
