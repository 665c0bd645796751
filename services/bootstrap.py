"""Composition root (Cosmic Python's bootstrap): build adapters once and hand them to handlers.

Nothing else in the code base decides which NATS server, clock or notifier is used.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import structlog
from nats.aio.client import Client as NatsClient

from services.adapters.clock import Clock, SystemClock
from services.adapters.jetstream.embedded import EmbeddedNats
from services.adapters.jetstream.eventstore import EventStore
from services.adapters.jetstream.topology import Topology, ensure_streams
from services.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Infrastructure:
    settings: Settings
    nats_url: str
    nc: NatsClient
    topology: Topology
    store: EventStore
    clock: Clock
    embedded: EmbeddedNats | None


async def _on_error(exc: Exception) -> None:
    # Permission denials and async publish errors only arrive here: surface them.
    log.warning("nats.error", error=f"{type(exc).__name__}: {exc}")


async def connect(url: str, name: str = "bondgenoten") -> NatsClient:
    return await nats.connect(
        servers=url.split(","),
        name=name,
        error_cb=_on_error,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        drain_timeout=5,  # on exit; the default 30 s only delays a stop
    )


@contextlib.asynccontextmanager
async def infrastructure(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[Infrastructure]:
    embedded: EmbeddedNats | None = None
    url = settings.nats_url
    if url is None:
        embedded = EmbeddedNats(settings.data_dir / "nats", port=settings.nats_port).start()
        url = embedded.url
    try:
        nc = await connect(url)
        try:
            topology = Topology(
                settings.stream_prefix, settings.subject_prefix, settings.duplicate_window_s
            )
            await ensure_streams(nc.jetstream(), topology)
            yield Infrastructure(
                settings=settings,
                nats_url=url,
                nc=nc,
                topology=topology,
                store=EventStore(nc, topology),
                clock=clock or SystemClock(),
                embedded=embedded,
            )
        finally:
            with contextlib.suppress(Exception):
                await nc.drain()
    finally:
        if embedded is not None:
            embedded.stop()
