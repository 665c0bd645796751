"""Reactors: durable consumers that turn recorded events into actions (commands, schedules,
notifications). Unlike projections they keep no state of their own: progress is the consumer's
acknowledgement, and every handler is idempotent (deterministic ids, deciders that ignore what
was already done), so a redelivery after a crash repeats nothing that matters.

* Ordered by default: one message at a time, acknowledged after its handler finished.
  ``concurrency > 1`` handles messages of different subjects (aggregates) in parallel tasks
  (for slow side effects such as deliveries with backoff), those of one subject still in log
  order; each is acknowledged when its own task ends. ``order_key`` widens "one subject" to
  what must stay in order (e.g. every signal of one area).
* A transient failure (NATS unavailable or timing out, a concurrency conflict that outlasted
  its re-decides, a read model still catching up) is retried in place with backoff for as long
  as it lasts: parking it would lose a signal, timer or alert to an outage.
* Any other failure (an undecodable message, a refused command, a bug) is tried ``MAX_TRIES``
  times, then parked in the dead-letter stream with the reason and acknowledged. Nothing is
  dropped, and one poison message does not stall the rest.
* With a :class:`~services.adapters.jetstream.lease.Lease` (several instances), only the
  holder consumes; the others stand by (healthy, not consuming) and one takes over when the
  lease lapses or is given up. A holder that loses it hands back what it had not handled.
* If processing a message fails at the transport level (parking or acknowledging impossible),
  the rest of its batch is handed back at once (nak), so nothing waits for the ack timeout and
  an ordered reactor keeps its order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from domain.errors import ConcurrencyConflict
from services.adapters.jetstream.deadletter import park, reason_of
from services.adapters.jetstream.lease import Lease
from services.adapters.jetstream.topology import Topology
from services.app.personal import Keyring
from services.app.ports import RawEvent
from services.app.tracing import continued

log = structlog.get_logger(__name__)

MAX_TRIES = 5
MAX_DELAY_S = 5.0
FETCH_BATCH = 64
IDLE_CHECK_FETCHES = 5
ACK_WAIT_S = 15.0
"""A message taken by an instance that then died goes to another this much later (a handler
still at work says so every third of it, see ``_keep_alive``)."""
TRANSIENT: tuple[type[BaseException], ...] = (
    nats.errors.Error,  # includes the JetStream API errors (no responders, timeouts, ...)
    OSError,
    TimeoutError,
    ConcurrencyConflict,
)
Handler = Callable[[RawEvent], Awaitable[None]]


class Reactor:
    def __init__(
        self,
        js: JetStreamContext,
        topology: Topology,
        *,
        name: str,
        stream: str,
        filter_subjects: Sequence[str],
        handle: Handler,
        concurrency: int = 1,
        keys: Keyring | None = None,
        lease: Lease | None = None,
        order_key: Callable[[str], str] | None = None,
    ) -> None:
        self.lease = lease
        self.order_key = order_key or (lambda subject: subject)
        self.js = js
        self.keys = keys
        self.topology = topology
        self.name = name
        self.stream = stream
        self.filter_subjects = list(filter_subjects)
        self.handle = handle
        self.concurrency = concurrency
        self.handled = 0
        self.parked = 0
        self.retries = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}
        """The last task per order key (by default the subject: the aggregate), which the next
        one of that key awaits."""
        self._stopping = False
        self.running = False
        """Bound to its consumer and fetching, or standing by for its lease (readiness)."""

    def stop(self) -> None:
        """End the loop at its next fetch at the latest. Cancelling alone is not enough:
        nats-py's fetch waits in ``asyncio.wait_for``, which on Python 3.11 swallows a cancel
        that lands just as a message arrives, and the loop would go on fetching."""
        self._stopping = True

    async def _bind(self) -> Any:
        try:
            await self.js.consumer_info(self.stream, self.name)
        except NotFoundError:
            await self.js.add_consumer(
                self.stream,
                ConsumerConfig(
                    durable_name=self.name,
                    name=self.name,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ACK_WAIT_S,
                    max_deliver=-1,
                    max_ack_pending=max(FETCH_BATCH, self.concurrency * 4),
                    filter_subjects=self.filter_subjects,
                ),
            )
        return await self.js.pull_subscribe_bind(durable=self.name, stream=self.stream)

    @property
    def active(self) -> bool:
        """Consuming now (without a lease: whenever running)."""
        return self.running and (self.lease is None or self.lease.held)

    def _may_consume(self) -> bool:
        return not self._stopping and (self.lease is None or self.lease.held)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        pause = 0.1
        while not self._stopping:
            try:
                if self.lease is not None:
                    # Standing by is a healthy state: the service is ready meanwhile.
                    self.running = True
                    if ready is not None:
                        ready.set()
                    if not await self.lease.acquire(lambda: self._stopping):
                        return
                try:
                    sub = await self._bind()
                    if ready is not None:
                        ready.set()
                    pause = 0.1
                    self.running = True
                    try:
                        await self._consume(sub)
                    finally:
                        self.running = False
                        # A subscription left behind would stall the connection's drain.
                        with contextlib.suppress(Exception):
                            await sub.unsubscribe()
                finally:
                    if self.lease is not None:
                        await self._wait_inflight()
                        await self.lease.release()
            except asyncio.CancelledError:
                for task in self._inflight:
                    task.cancel()
                raise
            except Exception as exc:
                log.warning("reactor.interrupted", reactor=self.name, error=type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _wait_inflight(self) -> None:
        """Before the lease goes to another instance, the messages this one took are done
        (or handed back): never two holders at work on one aggregate."""
        if self._inflight:
            await asyncio.wait(set(self._inflight))

    async def _consume(self, sub: Any) -> None:
        idle = 0
        while self._may_consume():
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=1.0)
            except TimeoutError:
                idle += 1
                if idle % IDLE_CHECK_FETCHES == 0:
                    # A consumer deleted under us (an operator resetting it) only ever
                    # times out here: NotFoundError re-binds, re-creating it.
                    await self.js.consumer_info(self.stream, self.name)
                continue
            idle = 0
            for i, msg in enumerate(msgs):
                if not self._may_consume():
                    await _hand_back(msgs[i:])  # the lease went to another instance
                    return
                if self.concurrency == 1:
                    try:
                        async with _kept_alive(msg):
                            await self._process(msg)
                    except Stopping:
                        await _hand_back(msgs[i:])
                        return
                    except Exception:
                        await _hand_back(msgs[i + 1 :])
                        raise
                else:
                    # In parallel across aggregates, in log order within one: an ally hears
                    # of a meeting before hearing that it is moved. (The consumer's
                    # max_ack_pending bounds how many tasks wait.)
                    key = self.order_key(msg.subject)
                    before = self._tails.get(key)
                    task = asyncio.create_task(self._ordered(msg, before))
                    self._tails[key] = task
                    self._inflight.add(task)
                    task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        for subject, tail in list(self._tails.items()):
            if tail is task:
                del self._tails[subject]

    async def _ordered(self, msg: Any, after: asyncio.Task[None] | None) -> None:
        """Process after the previous message of the same subject, in one of the slots (a
        slot is taken only once it is this message's turn: a slow aggregate holds one). Kept
        alive while it waits too, or JetStream would redeliver it after the ack wait and it
        would be handled twice."""
        async with _kept_alive(msg):
            if after is not None:
                await asyncio.wait({after})  # its outcome is its own: only the order matters
            async with self._slots:
                try:
                    await self._process(msg)
                except Stopping:
                    await _hand_back([msg])

    async def _process(self, msg: Any) -> None:
        raw = RawEvent(
            int(msg.metadata.sequence.stream), msg.subject, dict(msg.headers or {}), msg.data
        )
        h = raw.headers
        # Everything logged while handling it names the event (never its contents).
        with (
            structlog.contextvars.bound_contextvars(
                event_id=h.get("ce-id"),
                event_type=h.get("ce-type"),
                correlation_id=h.get("ce-correlationid"),
            ),
            continued(f"react {self.name}", h, **{"cloudevents.event_type": h.get("ce-type", "")}),
        ):
            await self._handle_with_retries(raw)
        await msg.ack()
        self.handled += 1

    async def _handle_with_retries(self, raw: RawEvent) -> None:
        delay = 0.1
        failures = 0
        waiting = False
        while True:
            if not self._may_consume():
                # Waiting out an outage must not hold up a stop (the read model waited for
                # may be stopped already), nor go on once the lease is another's: the message
                # is handed back for the next run or the new holder.
                raise Stopping(self.name)
            try:
                # Fetching its owner's key is part of handling it: a key store briefly
                # unavailable is waited out like the handler's own outages.
                await self.handle(await self.keys.attach(raw) if self.keys is not None else raw)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    if delay >= MAX_DELAY_S and not waiting:  # once per message, not per try
                        waiting = True
                        log.warning("reactor.waiting", reactor=self.name, error=type(exc).__name__)
                else:
                    failures += 1
                    if failures >= MAX_TRIES:
                        await self._park(raw, exc)
                        return
                    log.debug("reactor.retry", reactor=self.name, attempt=failures)
            self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)

    async def _park(self, raw: RawEvent, exc: Exception) -> None:
        await park(self.js, self.topology, self.name, raw, reason_of(exc))
        self.parked += 1
        log.error(
            "reactor.dead_letter",
            reactor=self.name,
            position=raw.position,
            event_id=raw.headers.get("ce-id"),
            error=type(exc).__name__,
        )


class Stopping(Exception):
    """The reactor is stopping: the message at hand is not handled now but handed back."""


async def _hand_back(msgs: Sequence[Any]) -> None:
    """Redeliver at once rather than after the ack wait (the next run may be seconds away)."""
    for msg in msgs:
        with contextlib.suppress(Exception):
            await msg.nak()


def is_transient(exc: Exception) -> bool:
    """Worth waiting out: the same message will succeed once NATS or a read model is back."""
    if isinstance(exc, nats.js.errors.BadRequestError):
        return False  # the server refuses this request as such: waiting will not help
    return isinstance(exc, TRANSIENT)


@contextlib.asynccontextmanager
async def _kept_alive(msg: Any) -> AsyncIterator[None]:
    heartbeat = asyncio.create_task(_keep_alive(msg))
    try:
        yield
    finally:
        heartbeat.cancel()


async def _keep_alive(msg: Any) -> None:
    """Long handlers (deliveries with backoff), and messages waiting for their turn, tell
    JetStream they are still at work."""
    with contextlib.suppress(Exception):
        while True:
            await asyncio.sleep(ACK_WAIT_S / 3)
            await msg.in_progress()
