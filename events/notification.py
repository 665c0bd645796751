"""Delivery receipts of the notifier (meldingen aan de crisisorganisatie).

One ``notification`` aggregate per alert and recipient (``AggregateRef(kind="notification",
area=<alert area>, id=notification_id(alert_id, recipient))``). Its events record every
delivery attempt and its result, so that a restarted notifier continues from what was already
done (see :func:`domain.delivery.next_step`) and never sends again after a success.

No personal data: ``recipient`` is a functional or pseudonymous id (``crisisteam-almere``),
never an address; ``detail`` and ``error`` hold status codes and exception class names only
(``HTTP 503``, ``SMTP 451``, ``timeout``), never server responses, which may echo addresses.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from events.base import DomainEvent, event
from events.envelope import AwareDatetime, Token, deterministic_id

CHANNEL_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
ChannelName = Annotated[str, StringConstraints(pattern=CHANNEL_PATTERN)]
"""A delivery channel key such as ``webhook``, ``cap``, ``email`` or ``console``."""


def notification_id(alert_id: str, recipient: str) -> str:
    """The aggregate id of the notification for ``alert_id`` x ``recipient`` (a valid ``Token``;
    ``alert_id:recipient`` itself is not, because of the colon)."""
    return deterministic_id("notification", alert_id, recipient)


@event
class DeliveryAttempted(DomainEvent):
    """The notifier is about to send ``attempt`` (1-based, per channel) over ``channel``."""

    TYPE = "nl.bondgenoten.notification.delivery-attempted"
    VERSION = 1

    alert_id: Token
    recipient: Token
    channel: ChannelName
    attempt: int = Field(ge=1)
    at: AwareDatetime


@event
class DeliverySucceeded(DomainEvent):
    """The channel accepted the alert; ``detail`` is e.g. ``HTTP 200`` or ``SMTP 250``."""

    TYPE = "nl.bondgenoten.notification.delivery-succeeded"
    VERSION = 1

    alert_id: Token
    recipient: Token
    channel: ChannelName
    attempt: int = Field(ge=1)
    at: AwareDatetime
    detail: str = Field(max_length=200)


@event
class DeliveryFailed(DomainEvent):
    """An attempt failed, or a channel was skipped because it is not configured
    (``attempt`` 0, no preceding :class:`DeliveryAttempted`).

    ``will_retry``: the same channel is tried again after a backoff. Otherwise the channel is
    done and ``next_channel`` names the fallback, or is ``None`` when nothing is left (a
    :class:`DeliveryAbandoned` follows).
    """

    TYPE = "nl.bondgenoten.notification.delivery-failed"
    VERSION = 1

    alert_id: Token
    recipient: Token
    channel: ChannelName
    attempt: int = Field(ge=0)
    at: AwareDatetime
    error: str = Field(max_length=500)
    will_retry: bool
    next_channel: ChannelName | None = None


@event
class DeliveryAbandoned(DomainEvent):
    """All channels and retries are exhausted; the alert did not reach this recipient."""

    TYPE = "nl.bondgenoten.notification.delivery-abandoned"
    VERSION = 1

    alert_id: Token
    recipient: Token
    at: AwareDatetime
    reason: str = Field(max_length=500)


DeliveryEvent = DeliveryAttempted | DeliverySucceeded | DeliveryFailed | DeliveryAbandoned
DELIVERY_EVENTS: tuple[type[DomainEvent], ...] = (
    DeliveryAttempted,
    DeliverySucceeded,
    DeliveryFailed,
    DeliveryAbandoned,
)


def receipt_event_id(receipt: DeliveryEvent) -> str:
    """A deterministic envelope id for a receipt: recording the same fact twice (a retried
    append after a crash) yields the same id, which JetStream deduplicates."""
    if isinstance(receipt, DeliveryAbandoned):
        return deterministic_id(receipt.TYPE, receipt.alert_id, receipt.recipient)
    return deterministic_id(
        receipt.TYPE, receipt.alert_id, receipt.recipient, receipt.channel, str(receipt.attempt)
    )


__all__ = [
    "CHANNEL_PATTERN",
    "DELIVERY_EVENTS",
    "ChannelName",
    "DeliveryAbandoned",
    "DeliveryAttempted",
    "DeliveryEvent",
    "DeliveryFailed",
    "DeliverySucceeded",
    "notification_id",
    "receipt_event_id",
]
