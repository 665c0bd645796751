"""The delivery executor: performs the steps the planner (:mod:`domain.delivery`) decides.

:func:`deliver` asks :func:`domain.delivery.next_step`, performs the step (send, skip,
abandon) and passes every receipt to the injected ``record`` callback *before* going on, so a
crash at any point leaves a history from which :func:`deliver` continues.

Crash windows. A :class:`DeliveryAttempted` without a result means the process stopped
during (or just before) a send: whether the receiver got it is unknown. That attempt is
repeated with the same attempt number (its ``DeliveryAttempted`` is not recorded again);
receivers deduplicate on the ``Idempotency-Key`` / CAP identifier / ``Message-ID``, which are
the same for the repeat. This is at-least-once delivery with idempotent receivers; a recorded
success is final.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from domain.delivery import (
    Abandon,
    Done,
    RetryPolicy,
    Send,
    Skip,
    Step,
    _after_failure,
    next_step,
)
from domain.errors import ConcurrencyConflict
from events.base import DomainEvent
from events.envelope import AggregateRef, new_envelope
from events.notification import (
    DeliveryAbandoned,
    DeliveryAttempted,
    DeliveryFailed,
    DeliverySucceeded,
    notification_id,
    receipt_event_id,
)
from services.app.messages import Notice, Recipient
from services.app.ports import Channel, Clock, DeliveryError, EventStore
from services.app.tracing import span

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Record = Callable[[DomainEvent], Awaitable[None]]


async def deliver(
    message: Notice,
    recipient: Recipient,
    channels: Mapping[str, Channel],
    policy: RetryPolicy,
    clock: Clock,
    sleep: Sleep,
    record: Record,
    *,
    history: Sequence[DomainEvent] = (),
) -> bool:
    """Deliver ``message`` to ``recipient``; ``True`` once a channel accepted it.

    Tries the recipient's channels in order, each up to ``policy.max_attempts_per_channel``
    times with backoff (``sleep``), and passes every receipt to ``record`` as it happens:
    ``DeliveryAttempted`` before each try, ``DeliverySucceeded`` or ``DeliveryFailed``
    after it, ``DeliveryAbandoned`` at the end if nothing worked. An exception from
    ``record`` stops delivery and propagates: call again later with the recorded receipts
    as ``history`` to continue where it stopped (never re-sending after a success).
    """
    seen: list[DomainEvent] = list(history)
    alert_id = message.alert_id
    bound = log.bind(alert_id=alert_id)

    async def _record(receipt: DomainEvent) -> None:
        await record(receipt)
        seen.append(receipt)

    while True:
        step = next_step(
            seen,
            recipient,
            policy,
            configured=channels.keys(),
            now=clock.now(),
            alert_id=alert_id,
        )
        if isinstance(step, Done):
            return step.succeeded
        if isinstance(step, Abandon):
            await _record(
                DeliveryAbandoned(
                    alert_id=alert_id, recipient=recipient.name, at=clock.now(), reason=step.reason
                )
            )
            bound.warning("notification.abandoned", reason=step.reason)
            return False
        if isinstance(step, Skip):
            await _record(
                DeliveryFailed(
                    alert_id=alert_id,
                    recipient=recipient.name,
                    channel=step.channel,
                    attempt=0,
                    at=clock.now(),
                    error=step.error,
                    will_retry=False,
                    next_channel=step.next_channel,
                )
            )
            bound.info("notification.channel_skipped", channel=step.channel)
            continue

        if step.delay_s > 0:
            await sleep(step.delay_s)
        if not step.resumed:
            await _record(
                DeliveryAttempted(
                    alert_id=alert_id,
                    recipient=recipient.name,
                    channel=step.channel,
                    attempt=step.attempt,
                    at=clock.now(),
                )
            )
        try:
            detail = await channels[step.channel].send(message, recipient)
        except DeliveryError as exc:
            error, retryable = exc.detail, exc.retryable
        except Exception as exc:  # a bug in a channel must not block the fallback
            error, retryable = f"unexpected {type(exc).__name__}", False
        else:
            await _record(
                DeliverySucceeded(
                    alert_id=alert_id,
                    recipient=recipient.name,
                    channel=step.channel,
                    attempt=step.attempt,
                    at=clock.now(),
                    detail=detail[:200],
                )
            )
            bound.info(
                "notification.delivered", channel=step.channel, attempt=step.attempt, detail=detail
            )
            return True

        will_retry, next_channel = _after_failure(
            seen, recipient, policy, step.channel, step.attempt, retryable, alert_id
        )
        await _record(
            DeliveryFailed(
                alert_id=alert_id,
                recipient=recipient.name,
                channel=step.channel,
                attempt=step.attempt,
                at=clock.now(),
                error=error[:500],
                will_retry=will_retry,
                next_channel=next_channel,
            )
        )
        bound.info(
            "notification.attempt_failed",
            channel=step.channel,
            attempt=step.attempt,
            error=error,
            will_retry=will_retry,
            next_channel=next_channel,
        )


__all__ = [
    "Abandon",
    "Done",
    "Record",
    "RetryPolicy",
    "Send",
    "Skip",
    "Sleep",
    "Step",
    "deliver",
    "next_step",
]


@dataclass(frozen=True)
class Delivery:
    """What a delivery needs besides the message: the channels and their retry policy."""

    store: EventStore
    clock: Clock
    channels: Mapping[str, Channel]
    policy: RetryPolicy
    sleep: Sleep


async def deliver_recorded(
    how: Delivery,
    message: Notice,
    recipient: Recipient,
    *,
    area: str,
    actor: str,
    source: str,
    correlation_id: str,
    causation_id: str | None = None,
    counted: Callable[[DomainEvent], None] | None = None,
) -> bool:
    """:func:`deliver`, with each receipt recorded on the notification aggregate of
    ``message`` × ``recipient`` (continuing from the receipts already there). Optimistic
    concurrency on the receipts: of two deliverers of one message to one recipient, only the
    one that records the attempt first may send. ``counted`` sees each recorded receipt."""
    ref = AggregateRef(
        kind="notification", area=area, id=notification_id(message.alert_id, recipient.name)
    )
    history, version = await how.store.load(ref)

    async def record(receipt: DomainEvent) -> None:
        nonlocal version
        envelope = new_envelope(
            receipt,
            aggregate=ref,
            actor=actor,
            source=source,
            recorded_at=how.clock.now(),
            correlation_id=correlation_id,
            causation_id=causation_id,
            event_id=receipt_event_id(receipt),  # type: ignore[arg-type]
        )
        result = await how.store.append([envelope], expected_version=version)
        if result.duplicate:
            raise ConcurrencyConflict(ref.cloudevents_subject, version)
        version = result.version
        if counted is not None:
            counted(receipt)

    with span("deliver", recipient=recipient.name, alert_id=message.alert_id):
        return await deliver(
            message,
            recipient,
            how.channels,
            how.policy,
            how.clock,
            how.sleep,
            record,
            history=[e.data for e in history],
        )
