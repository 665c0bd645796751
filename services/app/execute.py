"""Run one command against one aggregate: load, decide, append; on a conflict, reload and
re-decide. Every command of the service, from people, systems or the workflow, ends here.

Idempotency: event ids derive from the command's key, scoped to who sent it and to the
aggregate, so a retried command produces the same ids; finding them stored, it is answered as
before and decides nothing. A client command also records its fingerprint (``command_hash``):
the same key with a different command is refused, never mistaken for a retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog

from domain.decider import Decider
from domain.errors import ConcurrencyConflict, Conflict
from events.envelope import AggregateRef, Envelope, deterministic_id, new_envelope
from services.app.ports import AppendResult, Clock, EventStore

log = structlog.get_logger(__name__)
C = TypeVar("C")
S = TypeVar("S")

MAX_ATTEMPTS = 5


class KeyReused(Conflict):
    """An idempotency key already used for a different command."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class CommandMeta:
    command_id: str
    actor: str
    source: str
    correlation_id: str | None = None
    causation_id: str | None = None
    occurred_at: datetime | None = None
    """When it happened, if before it was recorded (a call made, then reported)."""
    command_hash: str | None = None
    """Fingerprint of a client command (see the module docstring)."""
    event_ids: Callable[[int], str] | None = None
    """Override of the event id derivation (signals keep their historical ids)."""


@dataclass(frozen=True)
class Outcome:
    events: tuple[Envelope[Any], ...]
    result: AppendResult | None
    duplicate: bool = False
    state: Any = None
    """The aggregate's state the decision was made on (after the events, if any)."""
    version: int = 0
    """The aggregate's version after this command: the log position that reflects it."""

    @property
    def escalation_id(self) -> str | None:
        """The escalation these events belong to, if they do."""
        ids = (getattr(e.data, "escalation_id", None) for e in self.events)
        return next((i for i in ids if i), None)


def _event_ids(meta: CommandMeta, ref: AggregateRef) -> Callable[[int], str]:
    """Ids of the events a command yields, derived from its key *scoped* to who sent it and to
    which aggregate: two systems that happen to use the same key for different escalations
    must not be deduplicated into one (JetStream deduplicates ids across the whole stream)."""
    if meta.event_ids is not None:
        return meta.event_ids
    scope = deterministic_id(meta.command_id, meta.actor, ref.cloudevents_subject)
    return lambda i: deterministic_id(scope, str(i))


def _already_done(
    stored: list[Envelope[Any]], event_id: Callable[[int], str], command_hash: str | None
) -> tuple[Envelope[Any], ...]:
    """A retried command whose events are in the log already: answer as before, decide
    nothing. The same key for another command is refused (events recorded before command
    fingerprints existed are taken as the same command)."""
    by_id = {e.id: e for e in stored}
    first = by_id.get(event_id(0))
    if first is None:
        return ()
    if command_hash and first.command_hash and first.command_hash != command_hash:
        raise KeyReused(
            "this key was already used for a different command; use a new key",
            field="idempotency_key",
        )
    done = []
    for i in range(len(stored)):
        found = by_id.get(event_id(i))
        if found is None:
            break
        done.append(found)
    return tuple(done)


async def execute(
    store: EventStore,
    clock: Clock,
    ref: AggregateRef,
    decider: Decider[C, S],
    command: C,
    meta: CommandMeta,
    *,
    expected_new: bool = False,
) -> Outcome:
    """``expected_new``: the aggregate is usually new (a signal, recorded once)."""
    event_id = _event_ids(meta, ref)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if expected_new and attempt == 1:
            # An aggregate recorded once (a signal) is almost always new: decide on the empty
            # state and let the store's expected-version check catch the rare retry, instead
            # of a load on every append (the ingest hot path).
            stored: list[Envelope[Any]] = []
            version = 0
        else:
            stored, version = await store.load(ref)
        done = _already_done(stored, event_id, meta.command_hash)
        if done:
            return Outcome(done, None, duplicate=True, version=version)
        state = decider.fold(e.data for e in stored)
        decided = decider.decide(command, state)
        if not decided:
            return Outcome((), None, state=state, version=version)
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
                command_hash=meta.command_hash,
            )
            for i, event in enumerate(decided)
        )
        try:
            result = await store.append(envelopes, expected_version=version)
        except ConcurrencyConflict:
            log.debug("command.conflict", aggregate=ref.cloudevents_subject, attempt=attempt)
            continue
        if result.duplicate and expected_new and attempt == 1:
            continue  # the store deduplicated it: answer from what is stored, as any retry
        after = state
        for event in decided:
            after = decider.evolve(after, event)
        return Outcome(envelopes, result, state=after, version=result.version)
    raise ConcurrencyConflict(ref.cloudevents_subject, None)
