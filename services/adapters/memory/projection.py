"""A live projection fed synchronously by the in-memory store: the LiveProjection for tests.

It follows :class:`services.adapters.jetstream.projection_runner.ProjectionRunner`: it folds the
events of its projection's kinds in log order; an event it cannot decode, or whose ``evolve``
raises, is left out and counted in ``dead_letters`` (the runner parks it in the dead-letter
stream) and the rest flows; ``checkpoint`` is the position of the last event of its kinds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import ValidationError

from events.codec import DecodeError, without_values
from projections.base import Projection
from services.adapters.memory.eventstore import InMemoryEventStore, kind_of
from services.app.ports import LiveProjection, RawEvent

S = TypeVar("S")


def _reason(exc: Exception) -> str:
    """Why evolve failed, naming fields but not values (they may be personal data)."""
    if isinstance(exc, ValidationError):
        return f"ValidationError: {without_values(exc)}"
    return f"{type(exc).__name__}: {exc}"


class InMemoryProjection(Generic[S]):
    """Keeps ``projection``'s state up to date from ``store``: replays what is stored when
    created, then folds every new event as it is appended, before the append returns."""

    def __init__(self, store: InMemoryEventStore, projection: Projection[S]) -> None:
        self.projection = projection
        self.dead_letters = 0
        self.parked: list[tuple[RawEvent, str]] = []
        """What was left out, with the reason (the runner's dead-letter stream)."""
        self._store = store
        self._kinds = frozenset(projection.kinds)
        self._state: S = projection.initial()
        self._checkpoint = 0
        self._seen = 0  # the last position handed to us, of any kind
        self._unsubscribe = store.subscribe(self._on_event, replay=True)

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def state(self) -> S:
        return self._state

    @property
    def checkpoint(self) -> int:
        return self._checkpoint

    def close(self) -> None:
        """Stop following the store (the state stays as it is)."""
        self._unsubscribe()

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """True once the state reflects the log up to ``position``: the checkpoint reached it,
        or every event up to it (or up to the end of the log) was handed to this projection.
        So, as with the runner, a projection of signals is caught up at position ``n`` when
        event ``n`` is a network event.

        Fed synchronously, an open projection has always been handed everything by the time
        anyone can ask; only a closed one falls behind, and it never catches up: the answer
        is then ``False`` at once rather than after ``timeout``."""
        last = await self._store.last_position()
        return self._checkpoint >= position or self._seen >= min(position, last)

    def _on_event(self, raw: RawEvent) -> None:
        if kind_of(raw.subject) in self._kinds:
            self._apply(raw)
        self._seen = raw.position

    def _apply(self, raw: RawEvent) -> None:
        try:
            event = raw.decode()
        except DecodeError as exc:
            self._park(raw, f"undecodable: {exc}")
        else:
            try:
                self._state = self.projection.evolve(self._state, event)
            except Exception as exc:
                self._park(raw, f"evolve failed: {_reason(exc)}")
        self._checkpoint = raw.position

    def _park(self, raw: RawEvent, reason: str) -> None:
        self.dead_letters += 1
        self.parked.append((raw, reason))


if TYPE_CHECKING:

    def _conforms(live: InMemoryProjection[int]) -> LiveProjection[int]:
        return live
