"""Publishes outbound escalation events into the outbound stream, deduplicated by event id
(``Nats-Msg-Id``; the stream's duplicate window is as long as it keeps messages)."""

from __future__ import annotations

from nats.js import JetStreamContext

from services.adapters.jetstream.topology import Topology


class JetStreamOutbound:
    def __init__(self, js: JetStreamContext, topology: Topology) -> None:
        self.js = js
        self.topology = topology

    async def publish(self, municipality: str, event: str, msg_id: str, body: bytes) -> None:
        await self.js.publish(
            self.topology.outbound_subject(municipality, event),
            body,
            stream=self.topology.outbound_stream,
            headers={"Nats-Msg-Id": msg_id, "content-type": "application/json"},
        )
