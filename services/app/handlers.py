"""Run a command against an aggregate: load, decide, append; on a conflict, reload and re-decide.

Event ids derive from the command id, so a client retrying the same command (after a timeout,
say) produces the same ids and the store turns the retry into a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog

from domain.decider import Decider
from domain.errors import ConcurrencyConflict
from events.envelope import AggregateRef, Envelope, deterministic_id, new_envelope
from services.app.ports import AppendResult, Clock, EventStore

log = structlog.get_logger(__name__)
C = TypeVar("C")
S = TypeVar("S")

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class CommandMeta:
    command_id: str
    actor: str
    source: str
    correlation_id: str | None = None
    causation_id: str | None = None
    occurred_at: datetime | None = None
    """When it happened, if before it was recorded (a call made, then reported)."""


@dataclass(frozen=True)
class Outcome:
    events: tuple[Envelope[Any], ...]
    result: AppendResult | None
    duplicate: bool = False

    @property
    def escalation_id(self) -> str | None:
        """The escalation these events belong to, if they do."""
        ids = (getattr(e.data, "escalation_id", None) for e in self.events)
        return next((i for i in ids if i), None)


def _event_ids(meta: CommandMeta, ref: AggregateRef) -> Callable[[int], str]:
    """Ids of the events a command yields, derived from its key *scoped* to who sent it and to
    which aggregate: two systems that happen to use the same key for different escalations
    must not be deduplicated into one (JetStream deduplicates ids across the whole stream)."""
    scope = deterministic_id(meta.command_id, meta.actor, ref.cloudevents_subject)
    return lambda i: deterministic_id(scope, str(i))


def _already_done(
    stored: list[Envelope[Any]], event_id: Callable[[int], str]
) -> tuple[Envelope[Any], ...]:
    """A retried command whose events are in the log already: answer as before, decide nothing."""
    ids = {event_id(i) for i in range(len(stored))}
    if event_id(0) not in {e.id for e in stored}:
        return ()
    return tuple(e for e in stored if e.id in ids)


async def execute(
    store: EventStore,
    clock: Clock,
    ref: AggregateRef,
    decider: Decider[C, S],
    command: C,
    meta: CommandMeta,
) -> Outcome:
    event_id = _event_ids(meta, ref)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        stored, version = await store.load(ref)
        done = _already_done(stored, event_id)
        if done:
            return Outcome(done, None, duplicate=True)
        decided = decider.run((e.data for e in stored), command)
        if not decided:
            return Outcome((), None)
        now = clock.now()
        envelopes = tuple(
            new_envelope(
                event,
                aggregate=ref,
                actor=meta.actor,
                source=meta.source,
                recorded_at=now,
                occurred_at=meta.occurred_at,
                # Events of one incident share its escalation id as correlation id, so an
                # after-action review pulls the whole incident from the log by that id.
                correlation_id=getattr(event, "escalation_id", None)
                or meta.correlation_id
                or meta.command_id,
                causation_id=meta.causation_id or meta.command_id,
                event_id=event_id(i),
            )
            for i, event in enumerate(decided)
        )
        try:
            result = await store.append(envelopes, expected_version=version)
        except ConcurrencyConflict:
            log.debug("command.conflict", aggregate=ref.cloudevents_subject, attempt=attempt)
            continue
        return Outcome(envelopes, result)
    raise ConcurrencyConflict(ref.cloudevents_subject, None)
