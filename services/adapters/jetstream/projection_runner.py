"""Keeps one projection up to date from the log, and survives crashes without drift.

* Transport: a durable pull consumer per projection, filtered to the kinds it reads, fetched in
  batches, applied strictly in log order by one task (no concurrent handling, so no reorder)
  and acknowledged once per batch (ack policy "all": the last ack covers the batch).
* Truth of progress: the snapshot, which stores the state *and* the log position it reflects in
  one object (JetStream object store), so they can never disagree. On start the runner loads it
  and, if the durable consumer has delivered past the snapshot (a crash after acking, or with
  messages in flight), re-creates the consumer at ``checkpoint + 1``. Events at or below the
  checkpoint are skipped: a redelivered event changes nothing.
* Failures: an event that cannot be decoded, or whose ``evolve`` raises after a few tries, is
  parked in the dead-letter stream with the reason and the runner goes on; the rest is not
  blocked. Infrastructure errors (NATS down, snapshot write failed) do not skip anything: the
  runner stops, and on restart resumes from its snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import zlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from events.codec import SEALED_KID_HEADER, DecodeError
from events.personal import sealed_kids
from projections.base import Projection
from services.adapters.jetstream.deadletter import park, reason_of
from services.adapters.jetstream.topology import Topology
from services.app.personal import Keyring
from services.app.ports import EventStore, RawEvent

log = structlog.get_logger(__name__)
S = TypeVar("S")

FETCH_BATCH = 256
FETCH_WAIT_S = 1.0
SNAPSHOT_EVERY_EVENTS = 2000
SNAPSHOT_EVERY_S = 1.0
EVOLVE_TRIES = 3
REBUILD_BATCH = 500


@dataclass
class Snapshot(Generic[S]):
    state: S
    checkpoint: int


async def snapshot_bucket(js: JetStreamContext, bucket: str, replicas: int = 1) -> ObjectStore:
    try:
        return await js.object_store(bucket)
    except BucketNotFoundError:
        return await js.create_object_store(
            bucket,
            description="Projection snapshots with checkpoints",
            storage=StorageType.FILE,
            replicas=replicas,
        )


def encode_snapshot(projection: Projection[S], snap: Snapshot[S]) -> bytes:
    head = json.dumps(
        {
            "projection": projection.name,
            "version": projection.version,
            "checkpoint": snap.checkpoint,
        }
    ).encode()
    return zlib.compress(head + b"\n" + projection.dump(snap.state), level=1)


def snapshot_body(projection: Projection[S], blob: bytes) -> tuple[int, bytes] | None:
    """The checkpoint and the serialized state of a snapshot of this projection's version,
    or ``None`` if it was written by another (its logic changed since: rebuild from the log)."""
    head, _, body = zlib.decompress(blob).partition(b"\n")
    meta = json.loads(head)
    if meta.get("projection") != projection.name or meta.get("version") != projection.version:
        return None
    return int(meta["checkpoint"]), body


def decode_snapshot(projection: Projection[S], blob: bytes) -> Snapshot[S] | None:
    found = snapshot_body(projection, blob)
    if found is None:
        return None
    checkpoint, body = found
    return Snapshot(projection.load(body), checkpoint)


class ConsumerOutOfStep(RuntimeError):
    """Delivery skipped or repeated messages: the runner re-aligns on its checkpoint."""


class ProjectionRunner(Generic[S]):
    def __init__(
        self,
        js: JetStreamContext,
        topology: Topology,
        store: EventStore,
        projection: Projection[S],
        keys: Keyring | None = None,
        *,
        instance: str = "",
    ) -> None:
        self.instance = instance
        self.store = store
        self._keys = keys
        self.projection = projection
        self.state: S = projection.initial()
        self.checkpoint = 0
        self.dead_letters = 0
        self._js = js
        self._topology = topology
        self._objects: ObjectStore | None = None
        self._advanced = asyncio.Condition()
        self._first_after: dict[int, tuple[int, asyncio.Future[int | None]]] = {}
        """Per checkpoint: the query (its number, its answer) for the first event this
        projection reads after it, shared by every reader waiting at that checkpoint."""
        self._queries = 0
        self._dirty = 0
        self._last_save = time.monotonic()
        self._stopping = False

    def stop(self) -> None:
        """End the loop at its next fetch at the latest. Cancelling alone is not enough:
        nats-py's fetch waits in ``asyncio.wait_for``, which on Python 3.11 swallows a cancel
        that lands just as a message arrives, and the loop would go on fetching."""
        self._stopping = True

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def consumer_name(self) -> str:
        """One consumer per projection and instance: every instance folds the whole log into
        its own read models. (The snapshot is shared: any instance's is state and checkpoint
        in one, so whichever is newest serves all.)"""
        suffix = f"_{self.instance}" if self.instance else ""
        return f"projection_{self.projection.name}{suffix}"

    def filter_subjects(self) -> list[str]:
        return [self._topology.kind_filter(kind) for kind in self.projection.kinds]

    async def load_snapshot(self) -> None:
        self._objects = await snapshot_bucket(
            self._js, self._topology.projections_bucket, self._topology.replicas
        )
        try:
            result = await self._objects.get(self.projection.name)
        except (ObjectNotFoundError, NotFoundError):
            return
        found = snapshot_body(self.projection, result.data or b"")
        if found is None:
            return  # another version's: no keys to fetch for it
        checkpoint, body = found
        if self._keys is not None:  # the keys of the personal parts sealed in it, first
            await self._keys.prepare(sealed_kids(json.loads(body or b"null")), create=False)
        self.state, self.checkpoint = self.projection.load(body), checkpoint

    async def save_snapshot(self) -> None:
        if self._objects is None:
            self._objects = await snapshot_bucket(
                self._js, self._topology.projections_bucket, self._topology.replicas
            )
        snap = Snapshot(self.state, self.checkpoint)
        if self._keys is None:
            blob = encode_snapshot(self.projection, snap)
        else:
            # Personal parts are sealed under their owners' keys: with every key at hand the
            # first encoding is the snapshot; else fetch (or make, for legacy plaintext) the
            # missing keys and seal again for real.
            with self._keys.collecting() as wanted:
                blob = encode_snapshot(self.projection, snap)
            if wanted:
                await self._keys.prepare(wanted, create=True)
                blob = encode_snapshot(self.projection, snap)
        await self._objects.put(self.projection.name, blob)
        self._dirty = 0
        self._last_save = time.monotonic()

    async def _consumer(self) -> Any:
        stream = self._topology.events_stream
        name = self.consumer_name
        exists = False
        try:
            info = await self._js.consumer_info(stream, name)
            delivered = info.delivered.stream_seq if info.delivered else 0
            filters = info.config.filter_subjects or [info.config.filter_subject]
            if (
                delivered > self.checkpoint
                or info.config.ack_policy != AckPolicy.ALL
                or sorted(filters) != sorted(self.filter_subjects())
            ):
                # Delivered beyond what our state holds (acked before the snapshot, or still
                # pending and only redelivered after ack_wait, i.e. after later events): start
                # again right after the checkpoint so events are applied once and in order.
                # (Also when made by an older version with another ack policy or other
                # subjects, e.g. before signals had an urgent lane.)
                await self._js.delete_consumer(stream, name)
            else:
                exists = True
        except NotFoundError:
            pass
        if not exists:
            await self._js.add_consumer(
                stream,
                ConsumerConfig(
                    durable_name=name,
                    name=name,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=self.checkpoint + 1,
                    # One ordered reader: acknowledging a batch's last event acknowledges all.
                    ack_policy=AckPolicy.ALL,
                    ack_wait=30.0,
                    max_deliver=-1,
                    max_ack_pending=FETCH_BATCH * 4,
                    filter_subjects=self.filter_subjects(),
                ),
            )
        return await self._js.pull_subscribe_bind(durable=name, stream=stream)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Consume until cancelled. A broken connection or consumer is re-bound after a pause;
        the in-memory state stays consistent with its checkpoint, so nothing is skipped."""
        await self.load_snapshot()
        pause = 0.1
        while not self._stopping:
            try:
                sub = await self._consumer()
                log.info("projection.started", projection=self.projection.name, at=self.checkpoint)
                if ready is not None:
                    ready.set()
                pause = 0.1
                await self._consume(sub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "projection.interrupted",
                    projection=self.projection.name,
                    error=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _consume(self, sub: Any) -> None:
        expected: int | None = None  # the next consumer sequence; unknown until the first
        try:
            while not self._stopping:
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except TimeoutError:
                    msgs = []
                batch: list[RawEvent] = []
                in_step = len(msgs)  # how many lead messages arrived in order
                for i, msg in enumerate(msgs):
                    meta = msg.metadata
                    if meta.num_delivered > 1 or expected not in (None, meta.sequence.consumer):
                        in_step = i
                        break
                    expected = meta.sequence.consumer + 1
                    seq = int(meta.sequence.stream)
                    if seq > self.checkpoint:
                        batch.append(RawEvent(seq, msg.subject, dict(msg.headers or {}), msg.data))
                # One fold of the batch, one wake-up of the waiters, one ack.
                await self.apply_batch(batch)
                if in_step < len(msgs):
                    # Something was lost in transit or is being redelivered after later
                    # events: acknowledge what was applied and restart after the checkpoint
                    # (the consumer is re-created there), so nothing is skipped or reordered.
                    if in_step:
                        await msgs[in_step - 1].ack()
                    with contextlib.suppress(NotFoundError):
                        await self._js.delete_consumer(
                            self._topology.events_stream, self.consumer_name
                        )
                    raise ConsumerOutOfStep(self.consumer_name)
                if msgs:
                    await msgs[-1].ack()
                if self._dirty and (
                    self._dirty >= SNAPSHOT_EVERY_EVENTS
                    or time.monotonic() - self._last_save >= SNAPSHOT_EVERY_S
                ):
                    await self.save_snapshot()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def apply_batch(self, raws: list[RawEvent]) -> None:
        """Apply stored events (in log order) and wake the waiters once for all of them.
        The owners' keys of the whole batch are fetched together first; a batch whose keys
        are all cached costs no await per event."""
        if not raws:
            return
        if self._keys is not None:
            kids = [k for raw in raws if (k := raw.headers.get(SEALED_KID_HEADER))]
            if kids:
                await self._keys.prepare(kids, create=False)
            raws = [raw.with_cipher(self._keys) for raw in raws]
        try:
            for raw in raws:
                await self._apply_one(raw)
        finally:
            await self._advance()  # also for the part applied before an error

    async def apply(self, raw: RawEvent) -> None:
        """Apply one stored event (in log order), or park it with its reason."""
        await self._apply_one(raw)
        await self._advance()

    async def _apply_one(self, raw: RawEvent) -> None:
        reason = self._fold(raw)
        if reason is not None:
            await self._park(raw, reason)  # may raise: then the checkpoint stays before it
        self.checkpoint = raw.position
        self._dirty += 1

    def _fold(self, raw: RawEvent) -> str | None:
        """Fold one event into the state; the reason to park it if it could not be read or
        folded (the state then stays as it was)."""
        try:
            event = raw.decode()
        except DecodeError as exc:
            return f"undecodable: {exc}"
        for attempt in range(1, EVOLVE_TRIES + 1):
            try:
                self.state = self.projection.evolve(self.state, event)
                return None
            except Exception as exc:
                if attempt == EVOLVE_TRIES:
                    return f"evolve failed: {reason_of(exc)}"
        return None

    async def _advance(self) -> None:
        for after in [a for a in self._first_after if a < self.checkpoint]:
            del self._first_after[after]  # answered for a checkpoint long passed
        async with self._advanced:
            self._advanced.notify_all()

    async def _park(self, raw: RawEvent, reason: str) -> None:
        await park(self._js, self._topology, self.consumer_name, raw, reason)
        self.dead_letters += 1
        log.warning(
            "projection.dead_letter",
            projection=self.projection.name,
            position=raw.position,
            event_type=raw.headers.get("ce-type"),
            event_id=raw.headers.get("ce-id"),
        )

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Wait until the projection reflects the log up to ``position`` (read-your-writes).

        The checkpoint only reaches the last event of the kinds this projection reads, so it
        is also caught up when no event of those kinds lies between the checkpoint and
        ``position``: asked of the stream leader, exactly (a consumer's pending count can
        lag a publish for a moment and say "drained" too early). Readers waiting at one
        checkpoint share one question (many readers under load would otherwise ask the
        server on every fold, each), and then wait for the fold, not the server."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        entered = self._queries
        while self.checkpoint < position:
            try:
                first = await self._first_relevant(self.checkpoint, entered)
            except (nats.errors.Error, TimeoutError, OSError):
                first = self.checkpoint + 1  # unknown (the connection may be down): wait
            if first is None or first > position:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                # Woken by every fold; the timeout only guards against a missed wake-up.
                async with asyncio.timeout(min(0.25, remaining)), self._advanced:
                    await self._advanced.wait_for(functools.partial(self._reached, first))
        return True

    def _reached(self, position: int) -> bool:
        return self.checkpoint >= position

    async def _first_relevant(self, after: int, entered: int) -> int | None:
        """The position of the first event this projection reads after ``after`` (None:
        none in the log yet). A found position stays true (the log only grows), so it is
        shared; "none" holds only for what was written before the question was asked, so a
        reader that came in after a question was sent asks again."""
        while True:
            held = self._first_after.get(after)
            # A "none" this reader may not trust, not yet forgotten (its callback runs later):
            # ask anew now, rather than spin on the finished answer without ever yielding.
            if held is None or (held[0] <= entered and held[1].done() and not _found(held[1])):
                self._queries += 1
                held = (self._queries, asyncio.ensure_future(self._ask_first(after)))
                self._first_after[after] = held
                held[1].add_done_callback(functools.partial(self._settle, after, held))
            number, answer = held
            first = await asyncio.shield(answer)
            if first is not None or number > entered:
                return first

    def _settle(self, after: int, held: tuple[int, asyncio.Future[int | None]], _: object) -> None:
        """Keep a found position; forget "none" and failures (the next reader asks again)."""
        if not _found(held[1]) and self._first_after.get(after) is held:
            del self._first_after[after]

    async def _ask_first(self, after: int) -> int | None:
        stream = self._topology.events_stream

        async def next_of(subject: str) -> int | None:
            try:
                found = await self._js.get_msg(stream, seq=after + 1, subject=subject, next=True)
            except NotFoundError:
                return None
            return found.seq

        found = await asyncio.gather(*(next_of(s) for s in self.filter_subjects()))
        return min((seq for seq in found if seq is not None), default=None)

    async def in_use(self) -> bool:
        """Another process is reading this projection's consumer right now (its pull
        requests are waiting): a rebuild would race it."""
        try:
            info = await self._js.consumer_info(self._topology.events_stream, self.consumer_name)
        except NotFoundError:
            return False
        return bool(info.num_waiting)

    async def rebuild(self) -> None:
        """Fold the whole log from scratch, save the snapshot, restart the consumer after it."""
        self.state, self.checkpoint = self.projection.initial(), 0
        batch: list[RawEvent] = []
        async for raw in self.store.read_raw(kinds=self.projection.kinds):
            batch.append(raw)
            if len(batch) >= REBUILD_BATCH:
                await self.apply_batch(batch)
                batch = []
        await self.apply_batch(batch)
        await self.save_snapshot()
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(self._topology.events_stream, self.consumer_name)


def _found(answer: asyncio.Future[int | None]) -> bool:
    """A finished question that found a position (not "none", not a failure)."""
    return not answer.cancelled() and answer.exception() is None and answer.result() is not None
