"""The Dutch text: every code users can meet has a Dutch label, in one package."""

from __future__ import annotations

import tokenize
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.access import Principal, Role
from domain.errors import NotFound
from events.escalation import RsvpAnswer, Trigger
from events.signals import DEFAULT_THEMES
from projections.base import fold
from projections.escalations import escalation
from projections.tension_map import Band, Trend
from services.app.invitation import InvitationMessage
from services.app.links import LinkExpired, ack_links
from services.app.links import rsvp_links as RsvpLinks
from services.texts_nl import alerts
from services.texts_nl.alerts import when_nl
from services.texts_nl.console import (
    RSVP_LABELS,
    SENTENCES,
    TIMELINE_LABELS,
    TRIGGER_LABELS,
    timeline_label,
)
from services.texts_nl.labels import BAND_LABELS, THEME_LABELS, TREND_LABELS, band_label
from tests.test_escalations_projection import EID, P, incident

ROOT = Path(__file__).resolve().parents[1]


def test_every_default_theme_band_trend_trigger_and_answer_has_a_label() -> None:
    assert set(DEFAULT_THEMES) <= set(THEME_LABELS)
    assert set(Band) == set(BAND_LABELS) and set(Trend) == set(TREND_LABELS)
    assert set(Trigger.__args__) == set(TRIGGER_LABELS)  # type: ignore[attr-defined]
    assert set(RsvpAnswer.__args__) == set(RSVP_LABELS)  # type: ignore[attr-defined]
    assert set(Trigger.__args__) == set(alerts.HEADLINES) == set(alerts.TRIGGER_NL)  # type: ignore[attr-defined]
    assert band_label("critical") == "kritiek" and band_label("unheard_of") == "unheard_of"


def test_every_timeline_entry_of_an_incident_reads_as_dutch() -> None:
    record = escalation(fold(P, incident().envelopes), EID)
    assert record is not None
    for entry in record.timeline:
        text = timeline_label(entry.summary_key, entry.params)
        assert entry.summary_key.removeprefix("escalation.") in TIMELINE_LABELS, text
        assert "{" not in text
    opened = timeline_label("opened", {"trigger": "declared"})
    assert opened == "escalatie geopend (afgekondigd)"
    assert timeline_label("alert_issued", {"level": "1", "round": "1"}) == (
        "gealarmeerd: niveau 1, ronde 1"
    )
    labels = [timeline_label(t.summary_key, t.params) for t in record.timeline]
    assert "gealarmeerd: niveau 1, ronde 2" in labels  # the policy's first level, again


def test_sentences_format_without_missing_fields() -> None:
    assert SENTENCES["step_no_ack"].format(seconds="10").startswith("Niemand bevestigt")


def test_no_dutch_sentences_outside_the_texts_package() -> None:
    """User-facing Dutch lives in services/texts_nl; demo content in services/demo/data.py. String
    literals are read with tokenize (docstrings, bare string statements, are documentation)."""
    markers = (" de ", " het ", " een ", " niet ", " wordt ")
    allowed = {"texts_nl", "config"}
    offenders = []
    for path in (ROOT / "services").rglob("*.py"):
        if allowed & set(path.relative_to(ROOT).parts) or path == ROOT / "services/demo/data.py":
            continue
        with path.open("rb") as source:
            tokens = list(tokenize.tokenize(source.readline))
        statement_start = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT}
        previous = tokenize.ENCODING
        for token in tokens:
            if token.type == tokenize.STRING and previous not in statement_start | {
                tokenize.ENCODING
            }:
                literal = token.string.lstrip("rbufRBUF").strip("\"'")
                text = f" {literal.lower()} "
                if any(m in text for m in markers):
                    offenders.append(
                        f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string[:60]}"
                    )
            if token.type not in (tokenize.COMMENT,):
                previous = token.type
    assert offenders == []


def test_answer_links_are_personal_and_cannot_be_forged() -> None:
    links = RsvpLinks(b"0123456789abcdef0123456789abcdef", "https://bg.example/")
    now = datetime(2026, 3, 14, 20, 5, tzinfo=UTC)
    expires = now + timedelta(hours=6)
    url = links.url("c1", "a-stad-1", expires)
    assert url.startswith("https://bg.example/rsvp/c1.a-stad-1.")
    token = url.rsplit("/", 1)[1]
    assert links.parse(token, now) == ("c1", Principal(Role.ALLY, "a-stad-1"))
    flipped = token[:-1] + ("1" if token.endswith("0") else "0")
    later = str(int(expires.timestamp()) + 86_400)
    extended = token.replace(str(int(expires.timestamp())), later)  # a longer life: forged
    for forged in (token.replace("a-stad-1", "a-stad-2"), flipped, extended, "c1.a1", ""):
        with pytest.raises(NotFound):
            links.parse(forged, now)
    other_key = RsvpLinks(b"fedcba9876543210fedcba9876543210", "https://bg.example")
    with pytest.raises(NotFound):
        other_key.parse(token, now)
    with pytest.raises(LinkExpired):  # the very link, once its time is up
        links.parse(token, expires)


def test_no_link_is_issued_for_an_id_that_cannot_be_its_principal() -> None:
    """An event token (``A-17``) is not always a principal id: such a link could never act."""
    secret = b"0123456789abcdef0123456789abcdef"
    expires = datetime(2026, 3, 14, 23, 0, tzinfo=UTC)
    for links in (RsvpLinks(secret, "https://bg.example"), ack_links(secret, "https://bg.example")):
        with pytest.raises(ValueError):
            links.url("c1", "A-17", expires)
        assert links.issue("c1", "A-17", expires) is None
        assert links.issue("c1", "a-17", expires) == links.url("c1", "a-17", expires)


def test_times_shown_to_people_are_dutch_local_time_and_say_so() -> None:
    winter = datetime(2025, 3, 14, 20, 5, tzinfo=UTC)
    summer = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert when_nl(winter) == "14-03-2025 21:05 (Nederlandse tijd)"
    assert when_nl(summer, "%H:%M") == "14:00 (Nederlandse tijd)"
    invitation = InvitationMessage(
        alert_id="inv-c1",
        kind="invitation",
        ally_id="a-stad-1",
        escalation_id="GM0034-stad_demonstration-1",
        convening_id="c1",
        area="GM0034-stad",
        area_name="Almere Stad",
        theme="demonstration",
        mode="call",
        starts_at=summer,
        rsvp_deadline=summer - timedelta(minutes=15),
        sent_at=summer - timedelta(minutes=30),
    )
    assert "reageren vóór 13:45 (Nederlandse tijd)" in invitation.console_nl
    assert "01-07-2025 14:00 (Nederlandse tijd)" in invitation.body_nl
