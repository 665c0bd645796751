"""Notifier channel layer: channels, retry/fallback policy, receipts and resumption (no NATS).

Real sockets where it matters: a tiny asyncio HTTP server for the webhook and CAP channels and
an aiosmtpd server for e-mail, both on free local ports. ``httpx.MockTransport`` covers the
status classification. ``sleep`` is a fake that records the backoff delays.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from lxml import etree

from domain.delivery import Abandon, Done, RetryPolicy, Send, Skip, next_step
from events.base import DomainEvent, registry
from events.envelope import TOKEN_PATTERN
from events.notification import (
    DeliveryAbandoned,
    DeliveryAttempted,
    DeliveryFailed,
    DeliverySucceeded,
    notification_id,
    receipt_event_id,
)
from services.adapters.clock import FixedClock
from services.adapters.notify.cap import CAP_NAMESPACE, validate_cap
from services.adapters.notify.channels import (
    CAP_BAND_MAPPING,
    CapChannel,
    Channel,
    ConsoleChannel,
    DeliveryError,
    EmailChannel,
    WebhookChannel,
    idempotency_key,
)
from services.app.delivery import deliver
from services.app.invitation import InvitationMessage
from services.app.messages import AlertMessage, CallListSummary, Recipient
from services.texts_nl import alerts
from tests.receivers import HttpReceiver, serve_receiver

T0 = datetime(2025, 3, 14, 20, 5, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts_per_channel=3, base_delay_s=0.2, max_delay_s=30, jitter=False)
CAP_NS = {"cap": CAP_NAMESPACE}


def make_message(**overrides: Any) -> AlertMessage:
    fields: dict[str, Any] = {
        "alert_id": "alert-7f3a",
        "escalation_id": "esc-42",
        "level_name": "opschaling crisisorganisatie",
        "round": 2,
        "area": "GM0034-haven",
        "area_name": "Almere Haven",
        "themes": ("demonstration", "polarisation"),
        "band": "high",
        "trend": "rising",
        "score": 3.4,
        "suggested_grip": 1,
        "signal_count": 5,
        "signal_roles": ("ally", "police"),
        "call_list": CallListSummary(allies=8, unreachable=2, duty_contacts=2),
        "coverage_gaps": ("turkish", "jewish"),
        "sent_at": T0,
    }
    fields.update(overrides)
    return AlertMessage(**fields)


@dataclass
class Recorder:
    events: list[DomainEvent] = field(default_factory=list)
    fail_on: type[DomainEvent] | None = None

    async def __call__(self, event: DomainEvent) -> None:
        if self.fail_on is not None and isinstance(event, self.fail_on):
            self.fail_on = None
            raise RuntimeError("event store unavailable")
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [type(e).__name__.removeprefix("Delivery") for e in self.events]


@dataclass
class FakeSleep:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


# --- local servers -------------------------------------------------------------------------


@pytest.fixture
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    async for receiver in serve_receiver():
        yield receiver


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@dataclass
class SmtpHandler:
    """aiosmtpd handler: answers DATA with scripted replies, keeps accepted messages."""

    replies: list[str] = field(default_factory=list)
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    data_commands: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        reply = self.replies.pop(0) if self.replies else "250 OK"
        if reply.startswith("250"):
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(parsed, email.message.EmailMessage)
            self.messages.append(parsed)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return reply


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpHandler, int]]:
    handler = SmtpHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def email_channel(port: int) -> EmailChannel:
    return EmailChannel("127.0.0.1", port, "bondgenoten@almere.nl", timeout_s=5)


def counting_client(statuses: Sequence[int]) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    remaining = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(remaining.pop(0) if remaining else 200)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


# --- webhook: retry with backoff against a real socket ------------------------------------


async def test_webhook_500_twice_then_success_is_retried_with_backoff(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient
) -> None:
    http_receiver.statuses = [500, 500, 200]
    message = make_message()
    recipient = Recipient(
        name="crisisteam-almere",
        channels=("webhook",),
        addresses={"webhook": http_receiver.url()},
    )
    record, sleep = Recorder(), FakeSleep()

    ok = await deliver(
        message,
        recipient,
        {"webhook": WebhookChannel(http_client)},
        POLICY,
        FixedClock(T0),
        sleep,
        record,
    )

    assert ok is True
    assert record.kinds() == [
        "Attempted",
        "Failed",
        "Attempted",
        "Failed",
        "Attempted",
        "Succeeded",
    ]
    attempted = [e for e in record.events if isinstance(e, DeliveryAttempted)]
    failed = [e for e in record.events if isinstance(e, DeliveryFailed)]
    succeeded = [e for e in record.events if isinstance(e, DeliverySucceeded)]
    assert [e.attempt for e in attempted] == [1, 2, 3]
    assert [(e.error, e.will_retry, e.next_channel) for e in failed] == [
        ("HTTP 500", True, None),
        ("HTTP 500", True, None),
    ]
    assert succeeded[0].detail == "HTTP 200"
    assert succeeded[0].attempt == 3
    assert sleep.delays == [0.2, 0.4]

    assert len(http_receiver.requests) == 3
    keys = {r.headers["idempotency-key"] for r in http_receiver.requests}
    assert keys == {"alert-7f3a:crisisteam-almere"}
    first = http_receiver.requests[0]
    assert first.method == "POST"
    assert first.headers["content-type"].startswith("application/json")
    body = json.loads(first.body)
    assert body["alert_id"] == "alert-7f3a"
    assert body["headline_nl"] == "Spanning hoog in Almere Haven: demonstratie en polarisatie"
    assert "GRIP-advies: GRIP 1" in body["body_nl"]
    assert "Dekkingsgaten:" in body["body_nl"]


async def test_webhook_4xx_is_not_retried_and_falls_back_to_email(
    http_receiver: HttpReceiver,
    http_client: httpx.AsyncClient,
    smtp: tuple[SmtpHandler, int],
) -> None:
    handler, port = smtp
    http_receiver.statuses = [404]
    message = make_message(area="GM1900", area_name="Súdwest-Fryslân", band="critical")
    recipient = Recipient(
        name="crisisteam-sudwest",
        channels=("webhook", "email"),
        addresses={"webhook": http_receiver.url(), "email": "crisis@sudwestfryslan.example"},
    )
    record, sleep = Recorder(), FakeSleep()
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(http_client),
        "email": email_channel(port),
    }

    ok = await deliver(message, recipient, channels, POLICY, FixedClock(T0), sleep, record)

    assert ok is True
    assert record.kinds() == ["Attempted", "Failed", "Attempted", "Succeeded"]
    failed = record.events[1]
    assert isinstance(failed, DeliveryFailed)
    assert (failed.channel, failed.error, failed.will_retry, failed.next_channel) == (
        "webhook",
        "HTTP 404",
        False,
        "email",
    )
    success = record.events[3]
    assert isinstance(success, DeliverySucceeded)
    assert (success.channel, success.attempt, success.detail) == ("email", 1, "SMTP 250")
    assert sleep.delays == []  # falling back needs no backoff
    assert len(http_receiver.requests) == 1

    assert len(handler.messages) == 1
    received = handler.messages[0]
    assert received["Subject"] == (
        "Spanning kritiek in Súdwest-Fryslân: demonstratie en polarisatie"
    )
    assert received["To"] == "crisis@sudwestfryslan.example"
    assert received["Message-ID"] == "<alert-7f3a.crisisteam-sudwest@almere.nl>"
    part = received.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert "Súdwest-Fryslân" in text
    assert "Dekkingsgaten: Turkse gemeenschap en joodse gemeenschap" in text
    assert "Bevestig ontvangst via" in text
    assert handler.envelopes == [("bondgenoten@almere.nl", ["crisis@sudwestfryslan.example"])]


# --- replay safety and resumption ----------------------------------------------------------


async def test_history_with_success_sends_nothing() -> None:
    client, seen = counting_client([200])
    message = make_message()
    recipient = Recipient(
        name="crisisteam-almere", channels=("webhook",), addresses={"webhook": "http://h/x"}
    )
    history: list[DomainEvent] = [
        DeliveryAttempted(
            alert_id=message.alert_id, recipient=recipient.name, channel="webhook", attempt=1, at=T0
        ),
        DeliverySucceeded(
            alert_id=message.alert_id,
            recipient=recipient.name,
            channel="webhook",
            attempt=1,
            at=T0,
            detail="HTTP 200",
        ),
    ]
    record, sleep = Recorder(), FakeSleep()

    assert next_step(history, recipient, POLICY) == Done(succeeded=True)
    ok = await deliver(
        message,
        recipient,
        {"webhook": WebhookChannel(client)},
        POLICY,
        FixedClock(T0),
        sleep,
        record,
        history=history,
    )
    await client.aclose()

    assert ok is True
    assert seen == []
    assert record.events == []
    assert sleep.delays == []


async def test_resume_after_two_recorded_failures_does_only_the_remaining_attempt() -> None:
    client, seen = counting_client([200])
    message = make_message()
    recipient = Recipient(
        name="crisisteam-almere", channels=("webhook",), addresses={"webhook": "http://h/x"}
    )
    common = {"alert_id": message.alert_id, "recipient": recipient.name, "channel": "webhook"}
    history: list[DomainEvent] = []
    for attempt in (1, 2):
        history.append(DeliveryAttempted(**common, attempt=attempt, at=T0))
        history.append(
            DeliveryFailed(**common, attempt=attempt, at=T0, error="HTTP 503", will_retry=True)
        )
    record, sleep = Recorder(), FakeSleep()

    assert next_step(history, recipient, POLICY) == Send("webhook", 3, delay_s=0.4)
    ok = await deliver(
        message,
        recipient,
        {"webhook": WebhookChannel(client)},
        POLICY,
        FixedClock(T0),
        sleep,
        record,
        history=history,
    )
    await client.aclose()

    assert ok is True
    assert len(seen) == 1
    assert record.kinds() == ["Attempted", "Succeeded"]
    assert [getattr(e, "attempt", None) for e in record.events] == [3, 3]
    assert sleep.delays == [0.4]


async def test_backoff_on_resume_counts_time_already_passed() -> None:
    recipient = Recipient(name="r1", channels=("webhook",), addresses={"webhook": "http://h/x"})
    common = {"alert_id": "a1", "recipient": "r1", "channel": "webhook"}
    history: list[DomainEvent] = [
        DeliveryAttempted(**common, attempt=1, at=T0),
        DeliveryFailed(**common, attempt=1, at=T0, error="timeout", will_retry=True),
    ]
    clock = FixedClock(T0)
    clock.advance(seconds=0.15)
    step = next_step(history, recipient, POLICY, now=clock.now())
    assert isinstance(step, Send)
    assert step.attempt == 2
    assert step.delay_s == pytest.approx(0.05)
    clock.advance(seconds=10)
    assert next_step(history, recipient, POLICY, now=clock.now()) == Send("webhook", 2)


async def test_record_failure_propagates_and_in_doubt_attempt_is_resent_once() -> None:
    """The store fails while recording the success: delivery stops; the retry re-sends the
    in-doubt attempt with the same Idempotency-Key, without recording a second Attempted."""
    client, seen = counting_client([200, 200])
    message = make_message()
    recipient = Recipient(
        name="crisisteam-almere", channels=("webhook",), addresses={"webhook": "http://h/x"}
    )
    channels: dict[str, Channel] = {"webhook": WebhookChannel(client)}
    record = Recorder(fail_on=DeliverySucceeded)

    with pytest.raises(RuntimeError, match="event store unavailable"):
        await deliver(message, recipient, channels, POLICY, FixedClock(T0), FakeSleep(), record)
    assert record.kinds() == ["Attempted"]
    assert next_step(record.events, recipient, POLICY) == Send("webhook", 1, resumed=True)

    ok = await deliver(
        message,
        recipient,
        channels,
        POLICY,
        FixedClock(T0),
        FakeSleep(),
        record,
        history=list(record.events),
    )
    await client.aclose()

    assert ok is True
    assert record.kinds() == ["Attempted", "Succeeded"]
    assert len(seen) == 2
    assert {r.headers["Idempotency-Key"] for r in seen} == {"alert-7f3a:crisisteam-almere"}


async def test_unconfigured_channel_is_skipped_with_next_channel() -> None:
    message = make_message()
    recipient = Recipient(
        name="wachtdienst",
        channels=("sms", "email", "console"),
        addresses={"sms": "+31600000000", "console": "-"},  # email: no address
    )
    stream = io.StringIO()
    record = Recorder()
    channels: dict[str, Channel] = {
        "email": email_channel(1),  # never used: the recipient has no e-mail address
        "console": ConsoleChannel(stream),
    }

    ok = await deliver(message, recipient, channels, POLICY, FixedClock(T0), FakeSleep(), record)

    assert ok is True
    assert record.kinds() == ["Failed", "Failed", "Attempted", "Succeeded"]
    skipped = [e for e in record.events if isinstance(e, DeliveryFailed)]
    assert [(e.channel, e.attempt, e.will_retry, e.next_channel) for e in skipped] == [
        ("sms", 0, False, "email"),
        ("email", 0, False, "console"),
    ]
    assert "+316" not in repr(record.events)


async def test_everything_exhausted_is_abandoned() -> None:
    client, seen = counting_client([503, 503, 503, 400])
    message = make_message()
    recipient = Recipient(
        name="r1",
        channels=("webhook", "cap"),
        addresses={"webhook": "http://h/x", "cap": "http://h/cap"},
    )
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(client),
        "cap": CapChannel(client, sender="bondgenoten@almere.nl"),
    }
    record, sleep = Recorder(), FakeSleep()

    ok = await deliver(message, recipient, channels, POLICY, FixedClock(T0), sleep, record)
    await client.aclose()

    assert ok is False
    assert record.kinds() == [
        *("Attempted", "Failed") * 4,
        "Abandoned",
    ]
    failed = [e for e in record.events if isinstance(e, DeliveryFailed)]
    assert [(e.channel, e.will_retry, e.next_channel) for e in failed] == [
        ("webhook", True, None),
        ("webhook", True, None),
        ("webhook", False, "cap"),
        ("cap", False, None),
    ]
    assert sleep.delays == [0.2, 0.4]
    assert len(seen) == 4
    abandoned = record.events[-1]
    assert isinstance(abandoned, DeliveryAbandoned)
    assert "webhook" in abandoned.reason
    assert "cap" in abandoned.reason
    assert next_step(record.events, recipient, POLICY) == Done(succeeded=False)


def test_next_step_ignores_other_recipients_and_alerts() -> None:
    recipient = Recipient(name="r1", channels=("console",), addresses={"console": "-"})
    other = DeliverySucceeded(
        alert_id="a1", recipient="r2", channel="console", attempt=1, at=T0, detail="console"
    )
    other_alert = DeliverySucceeded(
        alert_id="a2", recipient="r1", channel="console", attempt=1, at=T0, detail="console"
    )
    assert next_step([other], recipient, POLICY) == Send("console", 1)
    assert next_step([other_alert], recipient, POLICY, alert_id="a1") == Send("console", 1)
    assert next_step([], recipient, POLICY, configured=()) == Skip(
        "console", None, "console not configured"
    )
    exhausted = [
        DeliveryFailed(
            alert_id="a1",
            recipient="r1",
            channel="console",
            attempt=1,
            at=T0,
            error="x",
            will_retry=False,
        )
    ]
    step = next_step(exhausted, recipient, POLICY)
    assert isinstance(step, Abandon)


# --- CAP -----------------------------------------------------------------------------------


async def test_cap_channel_posts_valid_restricted_cap() -> None:
    client, seen = counting_client([201])
    message = make_message()
    recipient = Recipient(
        name="lcms-flevoland", channels=("cap",), addresses={"cap": "http://lcms/cap"}
    )
    channel = CapChannel(client, sender="bondgenoten@almere.nl", status="Exercise")

    detail = await channel.send(message, recipient)
    await client.aclose()

    assert detail == "HTTP 201"
    request = seen[0]
    assert request.headers["content-type"].startswith("application/cap+xml")
    assert request.headers["idempotency-key"] == "alert-7f3a:lcms-flevoland"
    document = request.content
    validate_cap(document)
    root = etree.fromstring(document)
    assert root.findtext("cap:identifier", namespaces=CAP_NS) == "alert-7f3a"
    assert root.findtext("cap:sender", namespaces=CAP_NS) == "bondgenoten@almere.nl"
    assert root.findtext("cap:scope", namespaces=CAP_NS) == "Restricted"
    assert root.findtext("cap:restriction", namespaces=CAP_NS) == alerts.CAP_RESTRICTION
    assert root.findtext("cap:status", namespaces=CAP_NS) == "Exercise"
    assert root.findtext("cap:msgType", namespaces=CAP_NS) == "Alert"
    info = root.find("cap:info", namespaces=CAP_NS)
    assert info is not None
    assert info.findtext("cap:language", namespaces=CAP_NS) == "nl-NL"
    assert info.findtext("cap:urgency", namespaces=CAP_NS) == "Expected"
    assert info.findtext("cap:severity", namespaces=CAP_NS) == "Severe"
    assert info.findtext("cap:certainty", namespaces=CAP_NS) == "Likely"
    assert info.findtext("cap:headline", namespaces=CAP_NS) == message.headline_nl
    geocodes = [
        (g.findtext("cap:valueName", namespaces=CAP_NS), g.findtext("cap:value", namespaces=CAP_NS))
        for g in info.iterfind("cap:area/cap:geocode", namespaces=CAP_NS)
    ]
    assert ("CBS-gemeentecode", "GM0034") in geocodes


async def test_cap_over_real_socket(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient
) -> None:
    http_receiver.statuses = [200]
    recipient = Recipient(
        name="lcms-flevoland", channels=("cap",), addresses={"cap": http_receiver.url("/cap")}
    )
    channel = CapChannel(http_client, sender="bondgenoten@almere.nl")
    assert await channel.send(make_message(area="GM0034"), recipient) == "HTTP 200"
    validate_cap(http_receiver.requests[0].body)
    assert b"<scope>Restricted</scope>" in http_receiver.requests[0].body


@pytest.mark.parametrize("band", sorted(CAP_BAND_MAPPING))
def test_every_band_maps_to_a_valid_cap_alert(band: str) -> None:
    channel = CapChannel(httpx.AsyncClient(), sender="bondgenoten@almere.nl")
    document = channel.build(make_message(band=band, suggested_grip=None, coverage_gaps=()))
    validate_cap(document)
    urgency, severity, certainty = CAP_BAND_MAPPING[band]
    assert f"<urgency>{urgency}</urgency>".encode() in document
    assert f"<severity>{severity}</severity>".encode() in document
    assert f"<certainty>{certainty}</certainty>".encode() in document


DECLARED_REASON = "Oproep via\nsociale media: <Pegida> & tegendemonstranten\x07 bij het azc"


def test_a_declared_alert_is_valid_cap_that_says_why() -> None:
    """The reason is free text: line breaks, control characters, < and & must neither break
    the XSD nor leave the headline."""
    channel = CapChannel(httpx.AsyncClient(), sender="bondgenoten@almere.nl")
    message = make_message(trigger="declared", reason=DECLARED_REASON, band="normal")
    document = channel.build(message)
    validate_cap(document)
    info = etree.fromstring(document).find("cap:info", namespaces=CAP_NS)
    assert info is not None
    headline = info.findtext("cap:headline", namespaces=CAP_NS)
    assert headline == (
        "Opgeschaald door politie/gemeente in Almere Haven: demonstratie en polarisatie"
        " – Oproep via sociale media: <Pegida> & tegendemonstranten bij het azc"
    )
    description = info.findtext("cap:description", namespaces=CAP_NS) or ""
    assert "Reden: Oproep via sociale media: <Pegida> & tegendemonstranten bij het azc\n" in (
        description
    )
    parameters = {
        p.findtext("cap:valueName", namespaces=CAP_NS): p.findtext("cap:value", namespaces=CAP_NS)
        for p in info.iterfind("cap:parameter", namespaces=CAP_NS)
    }
    assert parameters["aanleiding"] == "declared"


def test_a_long_reason_is_shortened_in_the_headline_only() -> None:
    reason = "Melding van de meldkamer: " + "groepen jongeren trekken door de wijk " * 12
    message = make_message(trigger="declared", reason=reason.strip())
    headline = message.headline_nl
    assert headline.endswith("…") and len(headline.split(" – ", 1)[1]) <= 80
    assert f"Reden: {reason.strip()}\n" in message.body_nl


async def test_a_declared_alert_by_e_mail_has_a_one_line_subject(
    smtp: tuple[SmtpHandler, int],
) -> None:
    handler, port = smtp
    recipient = Recipient(
        name="oov", channels=("email",), addresses={"email": "oov@almere.example"}
    )
    message = make_message(trigger="declared", reason=DECLARED_REASON)
    assert await email_channel(port).send(message, recipient) == "SMTP 250"
    [received] = handler.messages
    assert received["Subject"] == message.headline_nl and "\n" not in message.headline_nl


async def test_identifiers_receivers_see_are_scoped_to_the_deployment(
    http_receiver: HttpReceiver, http_client: httpx.AsyncClient, smtp: tuple[SmtpHandler, int]
) -> None:
    """The same alert id from another store (a reset, an exercise) must not be deduplicated
    away: CAP identifier, Idempotency-Key and Message-ID carry the deployment."""
    handler, port = smtp
    recipient = Recipient(
        name="oov",
        channels=("webhook", "cap", "email"),
        addresses={"webhook": http_receiver.url("/w"), "cap": http_receiver.url("/cap"),
                   "email": "oov@almere.example"},
    )  # fmt: skip
    message = make_message(deployment="almere-oefening-2")
    assert message.external_id == "almere-oefening-2-alert-7f3a"
    await WebhookChannel(http_client).send(message, recipient)
    await CapChannel(http_client, sender="bondgenoten@almere.nl").send(message, recipient)
    await email_channel(port).send(message, recipient)
    webhook, cap = http_receiver.requests
    assert webhook.headers["idempotency-key"] == "almere-oefening-2-alert-7f3a:oov"
    assert json.loads(webhook.body)["alert_id"] == "alert-7f3a"
    assert cap.headers["idempotency-key"] == "almere-oefening-2-alert-7f3a:oov"
    validate_cap(cap.body)
    root = etree.fromstring(cap.body)
    assert root.findtext("cap:identifier", namespaces=CAP_NS) == "almere-oefening-2-alert-7f3a"
    assert handler.messages[0]["Message-ID"] == "<almere-oefening-2-alert-7f3a.oov@almere.nl>"
    invitation = make_invitation().model_copy(update={"deployment": "almere-oefening-2"})
    assert idempotency_key(invitation, recipient) == "almere-oefening-2-inv-c1:oov"


@pytest.mark.parametrize("deployment", ["", "a b", "a,b", "<a>", "a&b", "a.b", "x" * 65])
def test_a_deployment_must_keep_identifiers_cap_tokens(deployment: str) -> None:
    with pytest.raises(ValueError, match="deployment"):
        make_message(deployment=deployment)


async def test_invalid_cap_is_a_non_retryable_failure() -> None:
    client, seen = counting_client([200])
    channel = CapChannel(client, sender="bad sender with spaces")
    recipient = Recipient(name="r1", channels=("cap",), addresses={"cap": "http://h/cap"})
    with pytest.raises(DeliveryError) as info:
        await channel.send(make_message(), recipient)
    await client.aclose()
    assert info.value.retryable is False
    assert seen == []


# --- webhook status classification ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (408, True), (429, True), (400, False), (404, False), (410, False)],
)
async def test_webhook_status_classification(status: int, retryable: bool) -> None:
    client, _ = counting_client([status])
    recipient = Recipient(name="r1", channels=("webhook",), addresses={"webhook": "http://h/x"})
    with pytest.raises(DeliveryError) as info:
        await WebhookChannel(client).send(make_message(), recipient)
    await client.aclose()
    assert info.value.retryable is retryable
    assert info.value.detail == f"HTTP {status}"


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("eof"), True),
        (httpx.UnsupportedProtocol("ftp"), False),
    ],
)
async def test_webhook_transport_errors(exc: Exception, retryable: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    recipient = Recipient(name="r1", channels=("webhook",), addresses={"webhook": "http://h/x"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(DeliveryError) as info:
            await WebhookChannel(client).send(make_message(), recipient)
    assert info.value.retryable is retryable
    assert "http://h" not in info.value.detail


async def test_webhook_against_closed_port_is_retryable(http_client: httpx.AsyncClient) -> None:
    recipient = Recipient(
        name="r1", channels=("webhook",), addresses={"webhook": f"http://127.0.0.1:{_free_port()}/"}
    )
    with pytest.raises(DeliveryError) as info:
        await WebhookChannel(http_client).send(make_message(), recipient)
    assert info.value.retryable is True


# --- e-mail --------------------------------------------------------------------------------


async def test_email_5xx_is_not_retried(smtp: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp
    handler.replies = ["554 5.7.1 Rejected for <crisis@almere.example>"]
    recipient = Recipient(
        name="crisisteam-almere", channels=("email",), addresses={"email": "crisis@almere.example"}
    )
    record, sleep = Recorder(), FakeSleep()

    ok = await deliver(
        make_message(),
        recipient,
        {"email": email_channel(port)},
        POLICY,
        FixedClock(T0),
        sleep,
        record,
    )

    assert ok is False
    assert record.kinds() == ["Attempted", "Failed", "Abandoned"]
    failed = record.events[1]
    assert isinstance(failed, DeliveryFailed)
    assert (failed.error, failed.will_retry, failed.next_channel) == ("SMTP 554", False, None)
    assert "almere.example" not in repr(record.events)  # the server's text is not recorded
    assert handler.data_commands == 1
    assert sleep.delays == []


async def test_email_4xx_is_retried(smtp: tuple[SmtpHandler, int]) -> None:
    handler, port = smtp
    handler.replies = ["451 4.3.0 Try again later"]
    recipient = Recipient(
        name="crisisteam-almere", channels=("email",), addresses={"email": "crisis@almere.example"}
    )
    record, sleep = Recorder(), FakeSleep()

    ok = await deliver(
        make_message(),
        recipient,
        {"email": email_channel(port)},
        POLICY,
        FixedClock(T0),
        sleep,
        record,
    )

    assert ok is True
    assert record.kinds() == ["Attempted", "Failed", "Attempted", "Succeeded"]
    failed = record.events[1]
    assert isinstance(failed, DeliveryFailed)
    assert (failed.error, failed.will_retry) == ("SMTP 451", True)
    assert sleep.delays == [0.2]
    assert handler.data_commands == 2
    assert len(handler.messages) == 1


async def test_email_connection_refused_is_retryable() -> None:
    recipient = Recipient(name="r1", channels=("email",), addresses={"email": "c@almere.example"})
    with pytest.raises(DeliveryError) as info:
        await email_channel(_free_port()).send(make_message(), recipient)
    assert info.value.retryable is True


# --- console, texts, events, policy --------------------------------------------------------


async def test_console_prints_dutch() -> None:
    stream = io.StringIO()
    recipient = Recipient(name="demo", channels=("console",), addresses={"console": "-"})
    detail = await ConsoleChannel(stream).send(make_message(), recipient)
    out = stream.getvalue()
    assert detail == "console"
    assert "[ALARM alert-7f3a] Spanning hoog in Almere Haven: demonstratie en polarisatie" in out
    assert "Aan: opschaling crisisorganisatie (ronde 2) | escalatie esc-42" in out
    assert "GRIP-advies: GRIP 1" in out
    assert "trend stijgend" in out
    assert "Turkse gemeenschap" in out


def test_dutch_texts() -> None:
    message = make_message(
        band="elevated",
        trend="falling",
        themes=("some_new_theme",),
        coverage_gaps=(),
        suggested_grip=None,
        score=2.25,
    )
    assert message.headline_nl == "Spanning verhoogd in Almere Haven: some_new_theme"
    body = message.body_nl
    assert "Spanningsniveau: verhoogd (score 2,2), trend dalend." in body
    assert "GRIP-advies: geen GRIP (reguliere afhandeling)." in body
    assert "Dekkingsgaten: geen." in body
    assert "Signalen: 5 (bondgenoten en politie)." in body
    assert "Bellijst: 8 bondgenoten te bellen, 2 niet bereikbaar" in body
    assert "Verzonden: 14-03-2025 21:05 (Nederlandse tijd)." in body  # Europe/Amsterdam
    assert body.endswith("Bevestig ontvangst via het dashboard van de crisisorganisatie.")
    assert alerts.community_nl("unknown_group") == "unknown_group"


def test_tension_map_enums_are_accepted() -> None:
    tension_map = pytest.importorskip("projections.tension_map")
    message = make_message(band=tension_map.Band.CRITICAL, trend=tension_map.Trend.STEADY)
    assert message.band == "critical"
    assert message.model_dump(mode="json")["trend"] == "steady"


def test_recipient_repr_hides_addresses() -> None:
    recipient = Recipient(
        name="r1", channels=("email",), addresses={"email": "jan.jansen@example.nl"}
    )
    assert "jan.jansen" not in repr(recipient)
    assert "jan.jansen" not in str(recipient)


def test_receipt_events_are_registered_and_ids_are_deterministic() -> None:
    for name in ("attempted", "succeeded", "failed", "abandoned"):
        assert f"nl.bondgenoten.notification.delivery-{name}" in registry.types()
    agg_id = notification_id("alert-7f3a", "crisisteam-almere")
    assert agg_id == notification_id("alert-7f3a", "crisisteam-almere")
    assert re.match(TOKEN_PATTERN, agg_id)
    a = DeliveryAttempted(alert_id="a1", recipient="r1", channel="webhook", attempt=1, at=T0)
    b = DeliveryAttempted(alert_id="a1", recipient="r1", channel="webhook", attempt=1, at=T0)
    c = DeliveryAttempted(alert_id="a1", recipient="r1", channel="webhook", attempt=2, at=T0)
    assert receipt_event_id(a) == receipt_event_id(b) != receipt_event_id(c)


def test_retry_policy_delays() -> None:
    assert [POLICY.delay(n) for n in range(0, 5)] == [0.0, 0.2, 0.4, 0.8, 1.6]
    capped = RetryPolicy(base_delay_s=1, max_delay_s=5, jitter=False)
    assert capped.delay(10) == 5
    assert capped.delay(10_000) == 5
    jittered = RetryPolicy(base_delay_s=1, max_delay_s=30, jitter=True)
    for _ in range(50):
        assert 2.0 <= jittered.delay(3) <= 4.0
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts_per_channel=0)


def make_invitation(kind: str = "invitation") -> InvitationMessage:
    return InvitationMessage(
        alert_id="inv-c1",
        kind=kind,  # type: ignore[arg-type]
        ally_id="a-stad-3",
        escalation_id="GM0034-stad_demonstration-1",
        convening_id="c1",
        area="GM0034-stad",
        area_name="Almere Stad",
        theme="demonstration",
        mode="in_person",
        place="Buurthuis De Schakel",
        starts_at=T0,
        rsvp_deadline=T0,
        sent_at=T0,
        rsvp_url="https://bg.example/api/v1/convenings/c1/rsvps",
    )


async def test_invitations_and_reminders_read_as_dutch_and_carry_no_names() -> None:
    invitation = make_invitation()
    assert invitation.headline_nl == (
        "Uitnodiging: bijeenkomst ter plaatse over demonstratie in Almere Stad"
    )
    assert "(Buurthuis De Schakel), 14-03-2025 21:05 (Nederlandse tijd)." in invitation.body_nl
    assert invitation.body_nl.endswith("via https://bg.example/api/v1/convenings/c1/rsvps.")
    assert invitation.console_nl.startswith("[UITNODIGING aan a-stad-3]")
    reminder = make_invitation("reminder")
    assert reminder.headline_nl.startswith("Herinnering: reageer op de uitnodiging")
    assert set(invitation.payload()) >= {"ally_id", "convening_id", "headline_nl", "body_nl"}


async def test_cap_refuses_an_invitation() -> None:
    client, seen = counting_client([])
    channel = CapChannel(client, sender="bondgenoten@almere.nl")
    recipient = Recipient(name="a1", channels=("cap",), addresses={"cap": "https://cap.example"})
    with pytest.raises(DeliveryError) as refused:
        await channel.send(make_invitation(), recipient)
    assert not refused.value.retryable and seen == []
