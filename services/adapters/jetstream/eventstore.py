"""The event store: an adapter that keeps the log in a NATS JetStream stream.

* One subject per aggregate (``bg.ev.<kind>.<municipality>.<area>.<id>``): the subject's last
  sequence is the aggregate's version, so ``Nats-Expected-Last-Subject-Sequence`` gives optimistic
  concurrency per aggregate, and consumers filter by kind, municipality or area with wildcards.
* Every message carries ``Nats-Msg-Id`` = event id: a retried append inside the duplicate window
  is acknowledged as a duplicate and stores nothing. Outside the window the expected-sequence check
  catches it, and we then find the event already in the aggregate and report a no-op.
* Several events for one aggregate are appended as one JetStream atomic batch: all or nothing,
  one fsync (see docs/research/jetstream-batch-and-schedules.md).
* ``js.publish`` (a request) is used rather than ``publish_async``: the latter never resolves its
  future on an expected-sequence error, which would hide exactly the conflicts we need to see.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from domain.errors import ConcurrencyConflict
from events.codec import DecodeError, encode
from events.envelope import AggregateRef, Envelope, municipality_of
from events.signals import SIGNAL_KINDS
from services.adapters.jetstream.extensions import (
    AtomicBatchError,
    BatchDuplicateMsgId,
    ExpectedSequenceConflict,
    OutgoingMessage,
    publish_atomic_batch,
)
from services.adapters.jetstream.group_commit import GroupCommitter
from services.adapters.jetstream.topology import Topology
from services.app.personal import Keyring
from services.app.ports import AppendResult, RawEvent, StoreUnavailable
from services.app.tracing import inject

log = structlog.get_logger(__name__)

WRONG_LAST_SEQUENCE = 10071
FETCH_BATCH = 500
READ_ATTEMPTS = 5


class JetStreamEventStore:
    """The :class:`services.app.ports.EventStore` on a JetStream stream."""

    def __init__(
        self,
        nc: NatsClient,
        topology: Topology,
        *,
        timeout_s: float = 5.0,
        keys: Keyring | None = None,
    ) -> None:
        """``keys``: seals personal parts on append and opens them on read (without: stored
        as given, for tests and tools that never see personal data)."""
        self._keys = keys
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream(timeout=timeout_s)
        self._topology = topology
        self._timeout = timeout_s
        self._committer = GroupCommitter(nc, self._alone, timeout_s=timeout_s)
        ttl = topology.signal_ttl_s
        self._signal_ttl = f"{max(1, round(ttl))}s" if ttl else None  # retention of signals

    @property
    def keys(self) -> Keyring | None:
        return self._keys

    @property
    def topology(self) -> Topology:
        return self._topology

    def subject_of(self, ref: AggregateRef) -> str:
        return self._topology.event_subject(ref.kind, municipality_of(ref.area), ref.area, ref.id)

    async def append(
        self, events: Sequence[Envelope[Any]], expected_version: int | None
    ) -> AppendResult:
        """Append events of one aggregate. ``expected_version``: ``None`` = any, ``0`` = the
        aggregate must not exist yet, ``n`` = its last position must be ``n``. Concurrent
        appends of other aggregates share the commit (:mod:`.group_commit`)."""
        if not events:
            raise ValueError("nothing to append")
        ref = events[0].aggregate
        if any(e.aggregate != ref for e in events):
            raise ValueError("one append covers one aggregate")
        subject = self.subject_of(ref)
        if self._keys is not None:
            await self._keys.prepare_events(events)
        messages = []
        for i, event in enumerate(events):
            headers, body = encode(event, self._keys)
            headers["Nats-Msg-Id"] = event.id
            inject(headers)  # the trace this event belongs to (ce-traceparent)
            if self._signal_ttl and event.aggregate.kind in SIGNAL_KINDS:
                headers["Nats-TTL"] = self._signal_ttl
            if i == 0 and expected_version is not None:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_version)
            messages.append(OutgoingMessage(subject, body, headers))
        try:
            positions, duplicate = await self._committer.append(messages)
        except (ExpectedSequenceConflict, BatchDuplicateMsgId, ConcurrencyConflict) as exc:
            # Someone else wrote first, or these very events are stored already (a retry after
            # the dedup window; a batch holding a stored Nats-Msg-Id is refused whole).
            existing = await self._already_stored(ref, [e.id for e in events])
            if existing is not None:
                return existing
            raise ConcurrencyConflict(subject, expected_version) from exc
        except AtomicBatchError as exc:
            if exc.transient:  # e.g. a timeout: retry, never park as poison
                raise StoreUnavailable(f"atomic append to {subject}: {exc.description}") from exc
            raise
        return AppendResult(positions, positions[-1], duplicate=duplicate)

    async def close(self) -> None:
        """Fail appends still waiting for a commit (their callers may retry elsewhere)."""
        await self._committer.close()

    async def _alone(self, messages: Sequence[OutgoingMessage]) -> tuple[tuple[int, ...], bool]:
        """One append on its own: a single publish (a duplicate is an idempotent success), or
        one atomic batch for a decision's several events."""
        if len(messages) == 1:
            m = messages[0]
            try:
                ack = await self._js.publish(
                    m.subject, m.data, timeout=self._timeout, headers=dict(m.headers)
                )
            except APIError as exc:
                if exc.err_code == WRONG_LAST_SEQUENCE:
                    raise ConcurrencyConflict(m.subject, None) from exc
                raise
            return (ack.seq,), bool(ack.duplicate)
        batch = await publish_atomic_batch(self._nc, messages, timeout=self._timeout)
        return tuple(range(batch.seq - len(messages) + 1, batch.seq + 1)), False

    async def _already_stored(self, ref: AggregateRef, ids: list[str]) -> AppendResult | None:
        """After a conflict: were these very events appended before (a retry after the window)?"""
        version = await self.version(ref)
        if version == 0:
            return None
        # The ids are in the headers: nothing to decode or decrypt, no key to fetch.
        stored = self._read_raw(1, [self.subject_of(ref)], until=version, attach_keys=False)
        by_id = {raw.headers.get("ce-id"): raw.position async for raw in stored}
        if all(i in by_id for i in ids):
            return AppendResult(tuple(by_id[i] for i in ids), version, duplicate=True)
        return None

    async def version(self, ref: AggregateRef) -> int:
        """The aggregate's last position (0 if it has no events). Answered by the stream leader."""
        try:
            msg = await self._js.get_last_msg(self._topology.events_stream, self.subject_of(ref))
        except NotFoundError:
            return 0
        return int(msg.seq or 0)

    async def find(self, kind: str, aggregate_id: str) -> AggregateRef | None:
        """Locate an aggregate by kind and id when its area is not known to the caller."""
        pattern = self._topology.event_subject(kind, "*", "*", aggregate_id)
        try:
            msg = await self._js.get_last_msg(self._topology.events_stream, pattern)
        except NotFoundError:
            return None
        *_, area, agg_id = (msg.subject or "").split(".")
        return AggregateRef(kind=kind, area=area, id=agg_id)

    async def load(self, ref: AggregateRef) -> tuple[list[Envelope[Any]], int]:
        """All events of one aggregate in order, and its version for the next append."""
        version = await self.version(ref)
        if version == 0:
            return [], 0
        events = [
            raw.decode() async for raw in self._read_raw(1, [self.subject_of(ref)], until=version)
        ]
        return events, version

    async def last_position(self) -> int:
        info = await self._js.stream_info(self._topology.events_stream)
        return int(info.state.last_seq)

    async def read(
        self,
        from_position: int = 1,
        *,
        kinds: Sequence[str] | None = None,
        area: str | None = None,
        as_of: datetime | None = None,
        skip_undecodable: bool = False,
    ) -> AsyncIterator[Envelope[Any]]:
        """Events in log order from ``from_position`` up to the end of the log when called.

        With ``as_of``, stop at the first event recorded after that moment: the log as it was then.
        With ``skip_undecodable``, an event this code cannot read is left out (and logged), as
        the projections leave it out (they park it): a replay then answers like them.
        """
        async for raw in self.read_raw(from_position, kinds=kinds, area=area):
            try:
                event = raw.decode()
            except DecodeError:
                if not skip_undecodable:
                    raise
                log.warning("read.undecodable_skipped", position=raw.position)
                continue
            if as_of is not None and event.recorded_at > as_of:
                return
            yield event

    def read_raw(
        self,
        from_position: int = 1,
        *,
        kinds: Sequence[str] | None = None,
        area: str | None = None,
        until: int | None = None,
    ) -> AsyncIterator[RawEvent]:
        """Stored messages in log order, optionally of some aggregate kinds only, and of those
        only one area's (through subject filters: the rest of the log is not read)."""
        t = self._topology
        subjects: list[str] | None
        if area is not None:
            subjects = [t.area_filter(k, area) for k in kinds or ["*"]]
        else:
            subjects = [t.kind_filter(k) for k in kinds] if kinds else None
        return self._read_raw(from_position, subjects, until)

    async def _read_raw(
        self,
        from_position: int,
        filter_subjects: Sequence[str] | None,
        until: int | None,
        *,
        attach_keys: bool = True,
    ) -> AsyncIterator[RawEvent]:
        """Through an ephemeral pull consumer, up to the end of the log as the stream leader
        knows it. On a cluster the server places such a consumer on any replica of the stream,
        and a follower may not have applied the last acknowledged writes yet: its pending
        count can say "done" too early. So the end is never taken from the consumer: where it
        says nothing is left, the leader is asked whether a message of these subjects lies
        before the end, and the read waits for it (read-after-write consistent, like every
        other read of the store; never Direct Get, which a follower may answer). Without
        ``attach_keys`` the messages come without their owners' keys (for their headers)."""
        stop = until if until is not None else await self.last_position()
        seen = from_position - 1  # the last stream position delivered
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                async for raw in self._read_once(seen + 1, filter_subjects, stop):
                    seen = raw.position
                    if self._keys is None or not attach_keys:
                        yield raw
                    else:
                        yield await self._keys.attach(raw)
                return
            except (ReadInterrupted, nats.js.errors.ServiceUnavailableError) as exc:
                # The consumer's server went away or is catching up (a node restarted, a
                # leader moved): go on from the last message given, on a new consumer.
                if attempt == READ_ATTEMPTS:
                    raise ReadInterrupted(f"read of the log interrupted: {exc!r}") from exc
                log.info("read.resumed", after=seen, error=type(exc).__name__)
                await asyncio.sleep(0.1 * attempt)

    async def _read_once(
        self, from_position: int, filter_subjects: Sequence[str] | None, stop: int
    ) -> AsyncIterator[RawEvent]:
        if stop < from_position:
            return
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(1, from_position),
            ack_policy=AckPolicy.NONE,
            filter_subjects=list(filter_subjects) if filter_subjects else None,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        stream = self._topology.events_stream
        config.name = self._nc._nuid.next().decode()
        info = await self._js.add_consumer(stream, config)
        seen = from_position - 1
        if not info.num_pending and not await self._more_on_leader(filter_subjects, seen, stop):
            with contextlib.suppress(Exception):
                await self._js.delete_consumer(stream, config.name)
            return
        sub = await self._js.pull_subscribe_bind(consumer=config.name, stream=stream)
        expected = 1
        try:
            while True:
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=self._timeout)
                except TimeoutError:
                    # What was left to read can vanish meanwhile (signals past their
                    # retention TTL): then the read is complete, not failed.
                    if not await self._more_on_leader(filter_subjects, seen, stop):
                        return
                    raise ReadInterrupted(f"read of {stream} stalled") from None
                for msg in msgs:
                    meta = msg.metadata
                    if meta.sequence.consumer != expected:
                        # Lost in transit (a connection drop mid-fetch): never fold a hole.
                        raise ReadInterrupted(f"read of {stream} lost messages")
                    expected += 1
                    seq = meta.sequence.stream
                    if seq > stop:
                        return
                    seen = seq
                    yield _raw(msg, seq)
                    if seq == stop:
                        return
                    if meta.num_pending == 0 and not await self._more_on_leader(
                        filter_subjects, seq, stop
                    ):
                        return
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            with contextlib.suppress(Exception):
                await self._js.delete_consumer(stream, config.name)

    async def _more_on_leader(
        self, filter_subjects: Sequence[str] | None, after: int, upto: int
    ) -> bool:
        """Does a message of these subjects lie at a position in ``(after, upto]``? Asked of
        the stream leader (the JetStream API's message get, not Direct Get)."""
        if after >= upto:
            return False
        stream = self._topology.events_stream
        for subject in filter_subjects or [self._topology.events_subjects]:
            try:
                found = await self._js.get_msg(stream, seq=after + 1, subject=subject, next=True)
            except NotFoundError:
                continue
            if found.seq is not None and found.seq <= upto:
                return True
        return False


class ReadInterrupted(ConnectionError):
    """A read lost messages on the way (the connection dropped): retry it."""


def _raw(msg: Msg, seq: int) -> RawEvent:
    return RawEvent(seq, msg.subject, dict(msg.headers or {}), msg.data)
