"""A connection that drops in the middle of a fetched batch: the runner must neither skip the
events lost in transit nor apply any twice or out of order."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats

from services.adapters.jetstream.embedded import EmbeddedNats
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import ProjectionRunner
from tests.factories import signal_envelope

TOTAL = 600


class Positions:
    """A projection that records the log positions it was given, in order."""

    name = "positions_probe"
    version = 1
    kinds = ("signal",)

    def initial(self) -> list[int]:
        return []

    def evolve(self, state: list[int], event: Any) -> list[int]:
        return [*state, event.position]

    def dump(self, state: list[int]) -> bytes:
        return json.dumps(state).encode()

    def load(self, data: bytes) -> list[int]:
        return list(json.loads(data))


async def cutting_proxy(target_port: int, cut_after: int) -> tuple[asyncio.Server, int]:
    """Forwards to NATS; the first connection is cut after ``cut_after`` bytes from the server."""
    connections = 0

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        cut = connections == 1
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, limit: bool) -> None:
            total = 0
            with contextlib.suppress(Exception):
                while data := await r.read(4096):
                    if limit and cut and total + len(data) > cut_after:
                        w.write(data[: cut_after - total])
                        client_w.close()
                        server_w.close()
                        return
                    total += len(data)
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(client_r, server_w, False), pipe(server_r, client_w, True))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_connection_cut_mid_batch_loses_and_repeats_nothing(
    nats_server: EmbeddedNats, store: JetStreamEventStore
) -> None:
    for i in range(TOTAL):
        await store.append([signal_envelope(signal_id=f"s{i}")], expected_version=0)
    proxy, port = await cutting_proxy(nats_server.port, cut_after=120_000)
    nc = await nats.connect(
        f"nats://127.0.0.1:{port}", max_reconnect_attempts=-1, reconnect_time_wait=0.1
    )
    runner = ProjectionRunner(
        nc.jetstream(), store.topology, JetStreamEventStore(nc, store.topology), Positions()
    )
    task = asyncio.create_task(runner.run())
    try:
        assert await runner.wait_for(TOTAL, timeout=30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await nc.close()
        proxy.close()
    assert runner.state == list(range(1, TOTAL + 1))
