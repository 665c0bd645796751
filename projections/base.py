"""The contract every projection follows.

A projection is a left fold over the log: ``state = evolve(state, event)`` from ``initial()``.
``evolve`` may update the state it is given in place and return it (the fold owns its
accumulator; copying a large map per event would dominate replay time), but it never does I/O and
never reads a clock: time comes from the events. So replaying the same events always gives the
same state, which is what makes "rebuild equals live" and as-of queries hold.

``dump``/``load`` turn state into bytes for the checkpointed snapshot. ``version`` changes when
the fold's logic changes: a stored snapshot of another version is discarded and rebuilt.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from events.envelope import Envelope

S = TypeVar("S")


class Projection(Protocol[S]):
    name: str
    version: int
    kinds: tuple[str, ...]
    """Aggregate kinds (subject token after ``ev.``) this projection reads."""

    def initial(self) -> S: ...

    def evolve(self, state: S, event: Envelope[Any]) -> S: ...

    def dump(self, state: S) -> bytes: ...

    def load(self, data: bytes) -> S: ...


def fold(projection: Projection[S], events: list[Envelope[Any]], state: S | None = None) -> S:
    acc = projection.initial() if state is None else state
    for event in events:
        acc = projection.evolve(acc, event)
    return acc
