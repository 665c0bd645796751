"""The Decider pattern (Chassaing): an aggregate is three plain functions.

``decide(command, state) -> events`` says what happens (or raises ``DomainError``),
``evolve(state, event) -> state`` folds one event, ``initial`` is the state before any event.
Given-events / when-command / then-events tests need nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Generic, TypeVar

from events.base import DomainEvent

C = TypeVar("C")
S = TypeVar("S")


@dataclass(frozen=True)
class Decider(Generic[C, S]):
    decide: Callable[[C, S], Sequence[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]
    initial: S

    def fold(self, events: Iterable[DomainEvent]) -> S:
        return reduce(self.evolve, events, self.initial)

    def run(self, given: Iterable[DomainEvent], command: C) -> Sequence[DomainEvent]:
        """given events, when command, then these events (the test harness, and the real flow)."""
        return self.decide(command, self.fold(given))
