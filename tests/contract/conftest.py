"""One store contract, two stores: every test here runs against the in-memory store and the
JetStream one (on the session's nats-server, fresh streams per test).

* ``any_store``: the store under test, ``memory`` or ``jetstream``.
* ``put_raw``: stores a message as given on an aggregate's subject, unchecked (a poison event):
  ``InMemoryEventStore.append_raw``, or a plain publish to ``store.subject_of(ref)``.
* ``follow``: the store's live projection of a fold: ``InMemoryProjection``, or a running
  ``ProjectionRunner``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from events.envelope import AggregateRef
from projections.base import Projection
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import ProjectionRunner
from services.adapters.memory import InMemoryEventStore, InMemoryProjection

PutRaw = Callable[[AggregateRef, Mapping[str, str], bytes], Awaitable[None]]
Follow = Callable[[Projection[Any]], Awaitable[Any]]
Store = InMemoryEventStore | JetStreamEventStore


@pytest.fixture(params=["memory", "jetstream"])
def any_store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return InMemoryEventStore()
    store: JetStreamEventStore = request.getfixturevalue("store")
    return store


@pytest.fixture
def server_connection(any_store: Store, request: pytest.FixtureRequest) -> NatsClient | None:
    """The jetstream variant's connection (the one its store uses); none for memory."""
    if isinstance(any_store, InMemoryEventStore):
        return None
    nc: NatsClient = request.getfixturevalue("nc")
    return nc


@pytest.fixture
def put_raw(any_store: Store, server_connection: NatsClient | None) -> PutRaw:
    async def put(ref: AggregateRef, headers: Mapping[str, str], body: bytes) -> None:
        if isinstance(any_store, InMemoryEventStore):
            await any_store.append_raw(ref, headers, body)
        else:
            assert server_connection is not None
            await server_connection.jetstream().publish(
                any_store.subject_of(ref), body, headers=dict(headers)
            )

    return put


@pytest.fixture
async def follow(any_store: Store, server_connection: NatsClient | None) -> AsyncIterator[Follow]:
    followers: list[InMemoryProjection[Any]] = []
    tasks: list[asyncio.Task[None]] = []

    async def start(projection: Projection[Any]) -> Any:
        if isinstance(any_store, InMemoryEventStore):
            live = InMemoryProjection(any_store, projection)
            followers.append(live)
            return live
        assert server_connection is not None
        runner = ProjectionRunner(
            server_connection.jetstream(), any_store.topology, any_store, projection
        )
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(runner.run(ready)))
        await ready.wait()
        return runner

    yield start
    for live in followers:
        live.close()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
