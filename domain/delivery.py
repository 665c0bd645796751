"""The delivery planner: what to do next for one notice and one recipient, from the receipts
already recorded (pure; the executor :func:`services.app.delivery.deliver` performs the steps).

:func:`next_step` decides: send (which channel, which attempt, after which delay), skip an
unconfigured channel, abandon, or nothing (:class:`Done`). Once a ``DeliverySucceeded`` is in
the history it always answers ``Done``: nothing is sent twice for one decision.

A ``DeliveryAttempted`` without a result means the process stopped during (or just before) a
send: that attempt is repeated with the same attempt number (``Send.resumed``), and receivers
deduplicate on the identifiers the channels derive from the notice.

It needs only the receipts (:mod:`events.notification`) and the recipient model
(:class:`events.escalation.Recipient`); no I/O and no clock (``now`` is passed in). The only
randomness is :class:`RetryPolicy`'s jitter, which tests switch off.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from events.base import DomainEvent
from events.escalation import Recipient
from events.notification import (
    DeliveryAbandoned,
    DeliveryAttempted,
    DeliveryFailed,
    DeliverySucceeded,
)

_MAX_EXPONENT = 62


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``max_attempts_per_channel`` tries per channel with exponential backoff:
    after failed attempt ``n`` wait ``base_delay_s * 2**(n-1)``, capped at ``max_delay_s``.

    With ``jitter`` the wait is drawn uniformly from ``[d/2, d]`` ("equal jitter"), so many
    notifiers retrying the same receiver do not hit it in lockstep; tests use
    ``jitter=False`` for deterministic delays.
    """

    max_attempts_per_channel: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    # Defaults: 1 + 2 + 4 s per channel before the fallback, so a receiver's short hiccup (a
    # restart, a failover) does not abandon an alert; the reactor keeps the message alive.
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts_per_channel < 1:
            raise ValueError("max_attempts_per_channel must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        if attempt < 1:
            return 0.0
        exponent = min(attempt - 1, _MAX_EXPONENT)
        capped = min(self.max_delay_s, self.base_delay_s * 2.0**exponent)
        if not self.jitter:
            return capped
        return random.uniform(capped / 2, capped)  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class Send:
    """Try ``channel`` with attempt number ``attempt`` after waiting ``delay_s``.
    ``resumed``: this attempt's ``DeliveryAttempted`` is already recorded (in doubt after a
    crash) and is not recorded again."""

    channel: str
    attempt: int
    delay_s: float = 0.0
    resumed: bool = False


@dataclass(frozen=True)
class Skip:
    """``channel`` is not configured (no adapter, or no address for this recipient):
    record a ``DeliveryFailed`` with attempt 0 and move on to ``next_channel``."""

    channel: str
    next_channel: str | None
    error: str


@dataclass(frozen=True)
class Abandon:
    """Every channel is exhausted: record ``DeliveryAbandoned``."""

    reason: str


@dataclass(frozen=True)
class Done:
    """Nothing left to do: delivered (``succeeded``) or already abandoned."""

    succeeded: bool


Step = Send | Skip | Abandon | Done


@dataclass
class _ChannelProgress:
    attempts: int = 0
    closed: bool = False
    pending: int | None = None
    last_failed_attempt: int = 0
    last_failed_at: datetime | None = None
    outcome: str = "untried"


@dataclass
class _Progress:
    order: tuple[str, ...]
    succeeded: bool = False
    abandoned: bool = False
    channels: dict[str, _ChannelProgress] = field(default_factory=dict)

    def of(self, channel: str) -> _ChannelProgress:
        return self.channels.setdefault(channel, _ChannelProgress())

    def next_open_after(self, channel: str) -> str | None:
        later = self.order[self.order.index(channel) + 1 :] if channel in self.order else ()
        return next((c for c in later if not self.of(c).closed), None)

    def summary(self) -> str:
        return "exhausted: " + ", ".join(f"{c} ({self.of(c).outcome})" for c in self.order)


def _fold(history: Sequence[DomainEvent], recipient: Recipient, alert_id: str | None) -> _Progress:
    progress = _Progress(order=tuple(dict.fromkeys(recipient.channels)))
    for receipt in history:
        if not isinstance(
            receipt, DeliveryAttempted | DeliverySucceeded | DeliveryFailed | DeliveryAbandoned
        ):
            continue
        if receipt.recipient != recipient.name:
            continue
        if alert_id is not None and receipt.alert_id != alert_id:
            continue
        if isinstance(receipt, DeliverySucceeded):
            progress.succeeded = True
        elif isinstance(receipt, DeliveryAbandoned):
            progress.abandoned = True
        elif isinstance(receipt, DeliveryAttempted):
            state = progress.of(receipt.channel)
            state.attempts = max(state.attempts, receipt.attempt)
            state.pending = receipt.attempt
        else:
            state = progress.of(receipt.channel)
            state.attempts = max(state.attempts, receipt.attempt)
            if state.pending == receipt.attempt:
                state.pending = None
            if receipt.attempt > 0:
                state.last_failed_attempt = receipt.attempt
                state.last_failed_at = receipt.at
                state.outcome = f"failed at attempt {receipt.attempt}"
            else:
                state.outcome = "not configured"
            if not receipt.will_retry:
                state.closed = True
    return progress


def next_step(
    history: Sequence[DomainEvent],
    recipient: Recipient,
    policy: RetryPolicy | None = None,
    *,
    configured: Collection[str] | None = None,
    now: datetime | None = None,
    alert_id: str | None = None,
) -> Step:
    """What to do next for ``recipient``, given the receipts recorded so far (pure).

    ``history`` may hold other events; receipts for other recipients (or, with ``alert_id``,
    other alerts) are ignored. ``configured``: channel keys that can be used (``None``: all);
    a channel is also unconfigured when the recipient has no address for it. ``now`` lets the
    backoff after a recorded failure count the time already passed (``None``: full delay).
    """
    policy = policy or RetryPolicy()
    progress = _fold(history, recipient, alert_id)
    if progress.succeeded:
        return Done(succeeded=True)
    if progress.abandoned:
        return Done(succeeded=False)
    for channel in progress.order:
        state = progress.of(channel)
        if state.closed:
            continue
        usable = (configured is None or channel in configured) and bool(recipient.address(channel))
        if not usable:
            return Skip(channel, progress.next_open_after(channel), f"{channel} not configured")
        if state.pending is not None:
            return Send(channel, state.pending, resumed=True)
        if state.attempts >= policy.max_attempts_per_channel:
            continue  # exhausted under a stricter policy than the one that recorded it
        delay = policy.delay(state.last_failed_attempt)
        if now is not None and state.last_failed_at is not None and delay > 0:
            delay = max(0.0, delay - (now - state.last_failed_at).total_seconds())
        return Send(channel, state.attempts + 1, delay_s=delay)
    return Abandon(progress.summary())


def _after_failure(
    history: Sequence[DomainEvent],
    recipient: Recipient,
    policy: RetryPolicy,
    channel: str,
    attempt: int,
    retryable: bool,
    alert_id: str,
) -> tuple[bool, str | None]:
    """``(will_retry, next_channel)`` for a failed ``attempt`` on ``channel``."""
    if retryable and attempt < policy.max_attempts_per_channel:
        return True, None
    progress = _fold(history, recipient, alert_id)
    progress.of(channel).closed = True
    return False, progress.next_open_after(channel)


__all__ = [
    "Abandon",
    "Done",
    "RetryPolicy",
    "Send",
    "Skip",
    "Step",
    "next_step",
]
