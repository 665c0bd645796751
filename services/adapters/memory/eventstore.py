"""The event store in memory: the contract of the JetStream store, without a server.

For use-case tests that should run in milliseconds. ``tests/contract`` runs one suite against
this store and the JetStream one, so what passes here holds in production too.

* One global log, positions ``1..n``. An aggregate's version is the position of its last event
  (0 if it has none): like a JetStream subject's last sequence.
* Events are kept encoded (``events.codec.encode``) as :class:`RawEvent` and decoded on every
  read, so an event this code cannot read raises :class:`events.codec.DecodeError` where the
  JetStream store would. ``RawEvent.subject`` is ``ev.<kind>.<municipality>.<area>.<id>``.
* A retried append (the very same event ids, already stored for that aggregate) is answered
  with ``duplicate=True`` and stores nothing, for ever. The JetStream store gets there through
  its dedup window and, after a conflict, by finding the events in the aggregate.
* Test hooks: :meth:`InMemoryEventStore.append_raw` stores any message (a poison event, say),
  as publishing straight to the aggregate's subject would; :meth:`InMemoryEventStore.subscribe`
  calls a listener synchronously with every stored event, in log order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from domain.errors import ConcurrencyConflict
from events.codec import DecodeError, encode
from events.envelope import AggregateRef, Envelope, municipality_of
from services.app.personal import Keyring
from services.app.ports import AppendResult, EventStore, RawEvent

log = structlog.get_logger(__name__)

Listener = Callable[[RawEvent], None]


def kind_of(subject: str) -> str:
    """The aggregate kind of a stored event's subject (``ev.<kind>.…``)."""
    return subject.split(".")[1]


class InMemoryEventStore:
    """The :class:`services.app.ports.EventStore` in a list. Not thread-safe; one event loop."""

    def __init__(self, keys: Keyring | None = None) -> None:
        """``keys``: seal personal parts on append and open them on read, as in production."""
        self._keys = keys
        self._log: list[RawEvent] = []
        self._positions: dict[str, list[int]] = {}  # subject -> its positions, in order
        self._ids: dict[str, dict[str, int]] = {}  # subject -> event id -> position
        self._refs: dict[tuple[str, str], AggregateRef] = {}  # (kind, id) -> last written ref
        self._listeners: list[Listener] = []
        self._delivered = 0  # positions up to this one were handed to the listeners
        self._delivering = False

    def subject_of(self, ref: AggregateRef) -> str:
        return f"ev.{ref.kind}.{municipality_of(ref.area)}.{ref.area}.{ref.id}"

    async def append(
        self, events: Sequence[Envelope[Any]], expected_version: int | None
    ) -> AppendResult:
        """Append events of one aggregate, all or nothing. ``expected_version``: ``None`` =
        any, ``0`` = the aggregate must not exist yet, ``n`` = its version must be ``n``."""
        if not events:
            raise ValueError("nothing to append")
        ref = events[0].aggregate
        if any(e.aggregate != ref for e in events):
            raise ValueError("one append covers one aggregate")
        subject = self.subject_of(ref)
        stored = self._ids.get(subject, {})
        ids = [e.id for e in events]
        if all(i in stored for i in ids):
            return AppendResult(tuple(stored[i] for i in ids), self._version(subject), True)
        if len(set(ids)) < len(ids) or any(i in stored for i in ids):
            # As JetStream refuses an atomic batch that repeats a message id or holds one
            # already stored: not a retry of one earlier append, so refused whole.
            raise ConcurrencyConflict(subject, expected_version)
        if expected_version is not None and expected_version != self._version(subject):
            raise ConcurrencyConflict(subject, expected_version)
        if self._keys is not None:
            await self._keys.prepare_events(events)
        encoded = [encode(e, self._keys) for e in events]  # before storing: all or nothing
        positions = tuple(
            self._store(ref, headers, body, event_id=e.id)
            for e, (headers, body) in zip(events, encoded, strict=True)
        )
        self._deliver()
        return AppendResult(positions, positions[-1])

    async def append_raw(self, ref: AggregateRef, headers: Mapping[str, str], body: bytes) -> int:
        """Test hook: store a message as given on ``ref``'s subject, unchecked (no expected
        version, no dedup), like a publish straight to the subject; returns its position.
        It counts towards the aggregate's version and is read back (and fails to decode)
        like any stored event."""
        position = self._store(ref, dict(headers), body, event_id=None)
        self._deliver()
        return position

    def subscribe(self, listener: Listener, *, replay: bool = False) -> Callable[[], None]:
        """Call ``listener`` synchronously with every event stored from now on, in log order
        (with ``replay``, first with every event already stored). Returns the unsubscribe.

        A listener that appends from its callback does not reorder anything: its events are
        handed out after the current one has reached every listener. A listener's exception
        is logged and does not fail the append (as a consumer cannot fail a JetStream write):
        listeners handle their own errors."""
        if replay:
            for raw in self._log[: self._delivered]:
                listener(raw)
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def version(self, ref: AggregateRef) -> int:
        """The aggregate's last position (0 if it has no events)."""
        return self._version(self.subject_of(ref))

    async def find(self, kind: str, aggregate_id: str) -> AggregateRef | None:
        """Locate an aggregate by kind and id when its area is not known to the caller."""
        return self._refs.get((kind, aggregate_id))

    async def load(self, ref: AggregateRef) -> tuple[list[Envelope[Any]], int]:
        """All events of one aggregate in order, and its version for the next append."""
        positions = self._positions.get(self.subject_of(ref), [])
        events = [self._log[p - 1].decode() for p in positions]
        return events, positions[-1] if positions else 0

    async def last_position(self) -> int:
        return len(self._log)

    async def read(
        self,
        from_position: int = 1,
        *,
        kinds: Sequence[str] | None = None,
        area: str | None = None,
        as_of: datetime | None = None,
        skip_undecodable: bool = False,
    ) -> AsyncIterator[Envelope[Any]]:
        """Events in log order from ``from_position`` up to the end of the log when the
        iteration starts. With ``as_of``, stop at the first event recorded after that moment;
        with ``skip_undecodable``, leave out (and log) what this code cannot read."""
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
        only one area's."""
        return self._read_raw(from_position, frozenset(kinds) if kinds else None, area, until)

    async def _read_raw(
        self, from_position: int, kinds: frozenset[str] | None, area: str | None, until: int | None
    ) -> AsyncIterator[RawEvent]:
        stop = len(self._log) if until is None else min(until, len(self._log))
        for position in range(max(1, from_position), stop + 1):
            raw = self._log[position - 1]
            if kinds is not None and kind_of(raw.subject) not in kinds:
                continue
            if area is None or raw.subject.split(".")[3] == area:
                yield raw

    def _version(self, subject: str) -> int:
        positions = self._positions.get(subject)
        return positions[-1] if positions else 0

    def _store(
        self, ref: AggregateRef, headers: dict[str, str], body: bytes, *, event_id: str | None
    ) -> int:
        subject = self.subject_of(ref)
        position = len(self._log) + 1
        self._log.append(RawEvent(position, subject, headers, body, cipher=self._keys))
        self._positions.setdefault(subject, []).append(position)
        if event_id is not None:
            self._ids.setdefault(subject, {})[event_id] = position
        self._refs[(ref.kind, ref.id)] = ref
        return position

    def _deliver(self) -> None:
        """Hand every stored, not yet delivered event to the listeners, in log order."""
        if self._delivering:
            return  # an append from inside a listener: the outer loop hands it out next
        self._delivering = True
        try:
            while self._delivered < len(self._log):
                raw = self._log[self._delivered]
                self._delivered += 1
                for listener in list(self._listeners):
                    try:
                        listener(raw)
                    except Exception:
                        log.exception("eventstore.listener_failed", position=raw.position)
        finally:
            self._delivering = False


if TYPE_CHECKING:
    _conforms: type[EventStore] = InMemoryEventStore
