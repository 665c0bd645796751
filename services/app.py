"""Run the service: infrastructure plus every long-running component, until stopped."""

from __future__ import annotations

from collections.abc import Awaitable

import structlog

from services.bootstrap import infrastructure
from services.settings import Settings

log = structlog.get_logger(__name__)


async def run_service(settings: Settings, *, demo: bool, until: Awaitable[None]) -> None:
    async with infrastructure(settings) as infra:
        log.info(
            "service.ready",
            nats=infra.nats_url,
            embedded=infra.embedded is not None,
            events_stream=infra.topology.events_stream,
        )
        print(f"Bondgenoten escalation service: NATS at {infra.nats_url}", flush=True)
        await until
    log.info("service.stopped")


async def rebuild(settings: Settings, names: list[str] | None) -> None:
    raise SystemExit("no projections yet")
