"""Delivery channels: webhook, CAP 1.2 over HTTP, e-mail and console.

A channel sends one :class:`Notice` (an alert, or an invitation or reminder to an ally) to one
:class:`Recipient` and returns a short detail
(``HTTP 200``, ``SMTP 250``) or raises :class:`DeliveryError`, saying whether trying the same
channel again may help. Channels know nothing of NATS or the log; the retry and fallback
policy lives in :mod:`domain.delivery` (planner) and :mod:`services.app.delivery`.

Details and errors are recorded in the log and may be logged, so they hold status codes and
exception class names only: never an address, a URL or a server's response text (an SMTP
server's "550 <jan@example.nl>: unknown user" would put an address in the log).
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import sys
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final, Literal, TextIO

import httpx

from events.envelope import municipality_of
from services.adapters.notify.cap import (
    CapAlertInput,
    Certainty,
    Severity,
    Urgency,
    build_cap_alert,
    validate_cap,
)
from services.app.messages import AlertMessage, Notice, Recipient
from services.app.ports import Channel, DeliveryError
from services.texts_nl import alerts

USER_AGENT: Final = "bondgenoten-notifier/1"
RETRYABLE_4XX: Final = frozenset({408, 429})

# Band -> CAP (urgency, severity, certainty). The band is a forecast built from reporters'
# judgements (the "thermometer"), so certainty is never "Observed". Urgency: how soon the
# crisis organisation should act; severity: how serious escalation would be.
CAP_BAND_MAPPING: Final[Mapping[str, tuple[Urgency, Severity, Certainty]]] = {
    "normal": ("Future", "Minor", "Unlikely"),
    "elevated": ("Expected", "Moderate", "Possible"),
    "high": ("Expected", "Severe", "Likely"),
    "critical": ("Immediate", "Extreme", "Likely"),
}
CBS_GEOCODE: Final = "CBS-gemeentecode"
AREA_GEOCODE: Final = "bondgenoten-gebied"


def idempotency_key(message: Notice, recipient: Recipient) -> str:
    """``<deployment>-<alert_id>:<recipient>``: a receiver drops a repeated delivery of the
    same alert, and only that (another deployment's alert with the same id is another alert)."""
    return f"{message.external_id}:{recipient.name}"


def _address(recipient: Recipient, channel: str) -> str:
    address = recipient.address(channel)
    if not address:
        raise DeliveryError(False, f"no {channel} address configured")
    return address


async def _post(
    client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str]
) -> str:
    """POST and classify the outcome: 2xx ok; 408, 429, 5xx, timeouts and connection errors
    retryable; other statuses (4xx, unfollowed 3xx) and unusable URLs not."""
    try:
        response = await client.post(url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(True, f"timeout ({type(exc).__name__})") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise DeliveryError(False, f"unusable URL ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise DeliveryError(True, f"connection error ({type(exc).__name__})") from None
    status = response.status_code
    if 200 <= status < 300:
        return f"HTTP {status}"
    retryable = status >= 500 or status in RETRYABLE_4XX
    raise DeliveryError(retryable, f"HTTP {status}")


class WebhookChannel:
    """POSTs the message as JSON (its fields plus ``headline_nl``/``body_nl``) with an
    ``Idempotency-Key`` header. Timeouts are the client's: configure them on it."""

    def __init__(self, client: httpx.AsyncClient, *, channel_key: str = "webhook") -> None:
        self._client = client
        self._channel_key = channel_key

    async def send(self, message: Notice, recipient: Recipient) -> str:
        url = _address(recipient, self._channel_key)
        body = json.dumps(message.payload(), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": idempotency_key(message, recipient),
            "User-Agent": USER_AGENT,
        }
        return await _post(self._client, url, body, headers)


class CapChannel:
    """POSTs a CAP 1.2 ``<alert>`` (``application/cap+xml``, scope ``Restricted``).

    ``identifier`` is the notice's external id (``<deployment>-<alert id>``), so a repeated
    delivery is recognisably the same alert and another deployment's alert is not;
    ``sender`` is e.g. ``bondgenoten@almere.nl``; ``status`` ``Exercise`` for demos.
    The document is validated against the OASIS XSD before it is sent; an invalid one is a
    non-retryable failure (sending it again would not make it valid).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        sender: str,
        status: Literal["Actual", "Exercise", "Test"] = "Actual",
        sender_name: str = alerts.CAP_SENDER_NAME,
        channel_key: str = "cap",
    ) -> None:
        self._client = client
        self._sender = sender
        self._status: Literal["Actual", "Exercise", "Test"] = status
        self._sender_name = sender_name
        self._channel_key = channel_key

    def build(self, message: AlertMessage) -> bytes:
        """The validated CAP document for ``message``; raises :class:`DeliveryError`."""
        urgency, severity, certainty = CAP_BAND_MAPPING[message.band]
        geocodes = [(CBS_GEOCODE, municipality_of(message.area))]
        if message.area != municipality_of(message.area):
            geocodes.append((AREA_GEOCODE, message.area))
        parameters = [
            ("spanningsband", message.band),
            ("trend", message.trend),
            ("score", f"{message.score:.2f}"),
            ("escalatie", message.escalation_id),
            ("aanleiding", message.trigger),
            ("ronde", str(message.round)),
            ("signalen", str(message.signal_count)),
        ]
        if message.suggested_grip:
            parameters.append(("GRIP-advies", str(message.suggested_grip)))
        if message.coverage_gaps:
            parameters.append(("dekkingsgaten", " ".join(message.coverage_gaps)))
        try:
            alert = CapAlertInput(
                identifier=message.external_id,
                sender=self._sender,
                sent=message.sent_at,
                status=self._status,
                msg_type="Alert",
                restriction=alerts.CAP_RESTRICTION,
                event=alerts.CAP_EVENT,
                urgency=urgency,
                severity=severity,
                certainty=certainty,
                headline=message.headline_nl,
                description=message.body_nl,
                instruction=message.cap_instruction_nl,
                area_desc=message.area_name,
                geocodes=tuple(geocodes),
                parameters=tuple(parameters),
                sender_name=self._sender_name,
            )
            document = build_cap_alert(alert)
            validate_cap(document)
        except ValueError as exc:  # pydantic ValidationError, CapValidationError
            raise DeliveryError(False, f"invalid CAP alert ({type(exc).__name__})") from None
        return document

    async def send(self, message: Notice, recipient: Recipient) -> str:
        if not isinstance(message, AlertMessage):
            raise DeliveryError(False, "CAP carries alerts to the crisis organisation only")
        url = _address(recipient, self._channel_key)
        document = self.build(message)
        headers = {
            "Content-Type": "application/cap+xml; charset=utf-8",
            "Idempotency-Key": idempotency_key(message, recipient),
            "User-Agent": USER_AGENT,
        }
        return await _post(self._client, url, document, headers)


class EmailChannel:
    """Sends a plain-text UTF-8 e-mail with stdlib :mod:`smtplib` in a worker thread.

    SMTP 4xx replies and connection problems are retryable; 5xx replies (and a failed
    certificate check or a server without STARTTLS when it is required) are not. The
    ``Message-ID`` is derived from the notice's external id and the recipient, so a repeated
    delivery is recognisable as a duplicate.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        channel_key: str = "email",
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout_s = timeout_s
        self._channel_key = channel_key

    def compose(self, message: Notice, recipient: Recipient, to: str) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.headline_nl
        mail["From"] = self._sender
        mail["To"] = to
        mail["Date"] = format_datetime(message.sent_at)
        domain = self._sender.rpartition("@")[2] or "bondgenoten.invalid"
        mail["Message-ID"] = f"<{message.external_id}.{recipient.name}@{domain}>"
        mail["Content-Language"] = "nl"
        mail.set_content(message.body_nl, charset="utf-8")
        return mail

    def _send_blocking(self, mail: EmailMessage, to: str) -> str:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username is not None:
                smtp.login(self._username, self._password or "")
            # send_message returns only when the DATA reply was 250 (otherwise it raises)
            smtp.send_message(mail, from_addr=self._sender, to_addrs=[to])
        return "SMTP 250"

    async def send(self, message: Notice, recipient: Recipient) -> str:
        to = _address(recipient, self._channel_key)
        try:
            mail = self.compose(message, recipient, to)
        except ValueError as exc:  # e.g. a line break in the configured address
            raise DeliveryError(False, f"invalid e-mail header ({type(exc).__name__})") from None
        try:
            return await asyncio.to_thread(self._send_blocking, mail, to)
        except smtplib.SMTPResponseException as exc:
            code = int(exc.smtp_code)
            raise DeliveryError(400 <= code < 500, f"SMTP {code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({int(code) for code, _ in exc.recipients.values()})
            retryable = bool(codes) and all(400 <= code < 500 for code in codes)
            joined = ",".join(str(code) for code in codes)
            raise DeliveryError(retryable, f"SMTP {joined} (recipient refused)") from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(False, "SMTP extension not supported (STARTTLS/AUTH)") from None
        except smtplib.SMTPServerDisconnected:
            raise DeliveryError(True, "SMTP server disconnected") from None
        except ssl.SSLCertVerificationError:
            raise DeliveryError(False, "TLS certificate verification failed") from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(False, f"SMTP error ({type(exc).__name__})") from None
        except TimeoutError:
            raise DeliveryError(True, "timeout") from None
        except OSError as exc:
            raise DeliveryError(True, f"connection error ({type(exc).__name__})") from None


class ConsoleChannel:
    """Prints a compact Dutch alert to a text stream (``sys.stdout`` by default): the demo."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def send(self, message: Notice, recipient: Recipient) -> str:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(message.console_nl)
            stream.flush()
        except (OSError, ValueError) as exc:  # closed stream, broken pipe
            raise DeliveryError(False, f"console unavailable ({type(exc).__name__})") from None
        return "console"


__all__ = [
    "CAP_BAND_MAPPING",
    "CapChannel",
    "Channel",
    "ConsoleChannel",
    "DeliveryError",
    "EmailChannel",
    "WebhookChannel",
    "idempotency_key",
]
