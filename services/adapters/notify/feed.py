"""The outbound webhook feed: each outbound escalation event POSTed to a subscriber's URL,
signed as Standard Webhooks (https://www.standardwebhooks.com) specify:

* ``webhook-id``: the event id (the same as ``Nats-Msg-Id`` on NATS): a receiver that sees an
  id again drops it;
* ``webhook-timestamp``: seconds since the epoch, when this attempt was sent;
* ``webhook-signature``: ``v1,<base64 of HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>``,
  the secret being the subscription's ``secret`` as UTF-8 bytes. Receivers reject a wrong
  signature and a timestamp too far from their clock (replays).

The feed is a reactor on the outbound stream (one durable consumer per subscription), so an
event is delivered once per subscription and in order; a receiver that is down or answers 5xx,
408 or 429 is waited for (the reactor retries with backoff for as long as it lasts), another
4xx is tried a few times and then parked in the dead-letter stream with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from services.adapters.notify.channels import USER_AGENT, _post
from services.app.ports import DeliveryError, RawEvent


class ReceiverUnavailable(ConnectionError):
    """The receiver is down or busy: the reactor waits it out (an ``OSError`` is transient)."""


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookFeed:
    def __init__(self, client: httpx.AsyncClient, url: str, secret: str) -> None:
        self._client = client
        self._url = url
        self._secret = secret
        self.delivered = 0

    async def deliver(self, raw: RawEvent) -> None:
        msg_id = raw.headers.get("Nats-Msg-Id") or str(raw.position)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._secret, msg_id, timestamp, raw.body),
        }
        try:
            await _post(self._client, self._url, raw.body, headers)
        except DeliveryError as exc:
            if exc.retryable:
                raise ReceiverUnavailable(str(exc)) from None
            raise
        self.delivered += 1
