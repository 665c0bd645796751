"""Signal intake, the application service behind HTTP and NATS: validate, append, or keep the
refused input with its reason in the rejected stream. Nothing a reporter sends is lost."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from domain.intake import (
    FieldError,
    IntakeContext,
    InvalidInput,
    KnownNetwork,
    SignalSubmission,
    decide_signal,
    parse_submission,
)
from domain.network import network_decider
from events.envelope import AggregateRef, deterministic_id, new_envelope
from events.signals import SignalReceived, SourceRole
from services.app.ports import Clock, EventStore, RejectedInputs

log = structlog.get_logger(__name__)

NetworkLookup = Callable[[str], KnownNetwork | None]


@dataclass(frozen=True)
class Accepted:
    signal_id: str
    event_id: str
    position: int
    duplicate: bool


class SignalIntake:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        themes: Callable[[], frozenset[str]],
        networks: NetworkLookup,
        rejected: RejectedInputs,
        source: str = "/bondgenoten/intake",
    ) -> None:
        self._store = store
        self._rejected = rejected
        self._clock = clock
        self._themes = themes
        self._networks = networks
        self._source = source

    async def submit(self, raw: bytes | Mapping[str, Any], channel: str) -> Accepted:
        """Raises ``InvalidInput`` after the input was kept in the rejected stream."""
        try:
            submission = parse_submission(raw)
        except InvalidInput as exc:
            await self.reject(raw, channel, exc.errors)
            raise
        return await self.submit_parsed(submission, raw, channel)

    async def submit_parsed(
        self, submission: SignalSubmission, raw: bytes | Mapping[str, Any], channel: str
    ) -> Accepted:
        now = self._clock.now()
        try:
            network = await self._network(submission)
            networks = {network.network_id: network} if network else {}
            event = decide_signal(submission, IntakeContext(networks, self._themes(), now))
            earlier = await self._earlier(event) if submission.idempotency_key else None
        except InvalidInput as exc:
            await self.reject(raw, channel, exc.errors)
            raise
        if earlier is not None:
            return earlier
        envelope = new_envelope(
            event,
            aggregate=AggregateRef(kind="signal", area=event.area, id=event.signal_id),
            actor=f"{event.reporter.role.value}:{event.reporter.id}",
            source=f"{self._source}/{channel}",
            recorded_at=now,
            occurred_at=submission.occurred_at,
            event_id=deterministic_id("signal-received", event.signal_id),
        )
        with structlog.contextvars.bound_contextvars(
            event_id=envelope.id, event_type=envelope.type, correlation_id=envelope.correlation_id
        ):
            result = await self._store.append([envelope], expected_version=0)
            log.debug("signal.accepted", duplicate=result.duplicate)
        return Accepted(event.signal_id, envelope.id, result.version, result.duplicate)

    async def _earlier(self, event: SignalReceived) -> Accepted | None:
        """A resend with a key already used: the same signal is answered as before (also
        after the dedup window); a different one under the same key is refused, not dropped."""
        ref = await self._store.find("signal", event.signal_id)
        if ref is None:
            return None
        stored, version = await self._store.load(ref)
        if stored and stored[0].data == event:
            return Accepted(event.signal_id, stored[0].id, version, duplicate=True)
        raise InvalidInput(
            [
                FieldError(
                    "idempotency_key",
                    "already used for a different signal; use a new key for a new signal",
                    "idempotency_key_reused",
                )
            ]
        )

    async def _network(self, submission: SignalSubmission) -> KnownNetwork | None:
        """The projection answers fast; right after a network change it may lag, so an unknown
        network or reporter is checked once more against the network's own events."""
        network_id = submission.network_id
        known = self._networks(network_id)
        if known is not None and (
            submission.source_role is not SourceRole.ALLY or submission.reporter in known.members
        ):
            return known
        ref = await self._store.find("network", network_id)
        if ref is None:
            return known
        stored, _ = await self._store.load(ref)
        state = network_decider.fold(e.data for e in stored)
        return KnownNetwork(network_id, state.areas, state.members)

    async def reject(
        self, raw: bytes | Mapping[str, Any], channel: str, errors: list[FieldError]
    ) -> None:
        body = raw if isinstance(raw, bytes) else json.dumps(raw, default=str).encode()
        await self._rejected.keep(body, channel, errors)
