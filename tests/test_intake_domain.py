"""Signal intake as pure functions: when a submission, given the known facts, then an event or
every problem at once (field, reason, code)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from domain.input import MAX_ERRORS, MAX_MESSAGE_CHARS
from domain.intake import (
    MAX_INPUT_BYTES,
    IntakeContext,
    InvalidInput,
    KnownNetwork,
    SignalSubmission,
    decide_signal,
    loggable_field,
    parse_submission,
)
from events.signals import DEFAULT_THEMES, Location, SignalReceived
from tests.factories import T0

NETWORK = KnownNetwork("nw-stad", frozenset({"GM0034-stad"}), frozenset({"a1"}))
CONTEXT = IntakeContext({"nw-stad": NETWORK}, frozenset(DEFAULT_THEMES), now=T0)


def submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reporter": "a1",
        "source_role": "ally",
        "network_id": "nw-stad",
        "area": "GM0034-stad",
        "themes": ["demonstration", "demonstration"],
        "communities": ["youth"],
        "level": 4,
        "evidence": "observed",
        "occurred_at": (T0 - timedelta(minutes=5)).isoformat(),
        "summary": "Groep jongeren op scooters",
    }
    body.update(overrides)
    return body


def codes(**overrides: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        decide_signal(parse_submission(submission(**overrides)), CONTEXT)
    return {e.field: e.code for e in refused.value.errors}


def test_a_valid_submission_becomes_one_signal() -> None:
    event = decide_signal(parse_submission(submission()), CONTEXT)
    assert isinstance(event, SignalReceived)
    assert event.themes == ("demonstration",) and event.reporter.id == "a1"


def test_the_same_idempotency_key_yields_the_same_signal_id() -> None:
    first = decide_signal(parse_submission(submission(idempotency_key="k1")), CONTEXT)
    again = decide_signal(parse_submission(submission(idempotency_key="k1")), CONTEXT)
    other = decide_signal(parse_submission(submission(idempotency_key="k2")), CONTEXT)
    assert first.signal_id == again.signal_id != other.signal_id


def test_facts_are_checked_and_every_problem_reported_at_once() -> None:
    assert codes(network_id="nw-elders") == {"network_id": "unknown_network"}
    assert codes(area="GM0034-haven", reporter="x") == {
        "area": "unknown_area",
        "reporter": "unknown_reporter",
    }
    assert codes(themes=["hail"]) == {"themes": "unknown_theme"}
    future = (T0 + timedelta(minutes=30)).isoformat()
    assert codes(occurred_at=future) == {"occurred_at": "in_future"}
    assert codes(occurred_at=(T0 - timedelta(days=400)).isoformat()) == {"occurred_at": "too_old"}


def test_police_and_municipality_need_not_be_network_members() -> None:
    event = decide_signal(
        parse_submission(submission(source_role="police", reporter="wijkagent-7")), CONTEXT
    )
    assert event.reporter.role.value == "police"


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        (b"{not json", "$", "invalid_json"),
        (b"[1, 2]", "$", "invalid_type"),
        (b"x" * 70_000, "$", "too_large"),
    ],
)
def test_shape_errors_name_the_problem(raw: bytes, field: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_submission(raw)
    assert (refused.value.errors[0].field, refused.value.errors[0].code) == (field, code)


# ---------------------------------------------------------------- input from outside


def refusal(raw: bytes, content_type: str | None = "application/json") -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as refused:
        parse_submission(raw, content_type)
    assert all(len(e.message) <= MAX_MESSAGE_CHARS for e in refused.value.errors)
    return [(e.field, e.code) for e in refused.value.errors]


def as_json(**overrides: Any) -> bytes:
    return json.dumps(submission(**overrides), ensure_ascii=False).encode()


def test_a_body_nested_a_thousand_levels_deep_is_refused() -> None:
    deep = b'{"summary": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert refusal(deep) == [("$", "too_deep")]


def test_an_integer_of_4301_digits_is_refused() -> None:
    raw = as_json().replace(b'"level": 4', b'"level": ' + b"4" * 4301)
    assert refusal(raw) == [("$", "number_too_long")]


def test_a_utf16_body_is_refused() -> None:
    assert refusal(json.dumps(submission()).encode("utf-16")) == [("$", "invalid_encoding")]


def test_a_text_plain_body_is_refused_as_unsupported_media() -> None:
    assert refusal(as_json(), "text/plain") == [("Content-Type", "unsupported_media_type")]
    assert refusal(as_json(), "application/json; charset=latin-1") == [
        ("Content-Type", "unsupported_media_type")
    ]


@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8"])
def test_json_is_accepted_with_charset_or_without_a_header(content_type: str | None) -> None:
    assert parse_submission(as_json(), content_type).summary == "Groep jongeren op scooters"
    assert parse_submission(as_json()).level == 4  # the default is JSON (NATS without headers)


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_that_overflows_in_utc_names_the_field(occurred_at: str) -> None:
    assert refusal(as_json(occurred_at=occurred_at)) == [("occurred_at", "datetime_out_of_range")]


def test_an_area_with_arabic_indic_digits_is_refused() -> None:
    assert refusal(as_json(area="GM٠٠٣٤-stad")) == [("area", "string_pattern_mismatch")]
    assert refusal(as_json(area="GM٠٠٣٤")) == [("area", "string_pattern_mismatch")]


@pytest.mark.parametrize(
    ("summary", "code"),
    [
        ("\u200b\u200b\u200b", "no_visible_text"),
        ("\u200b \u2060 \ufeff", "no_visible_text"),
        ("\x00", "control_character"),
        ("Groep jongeren\x00", "control_character"),
        ("\x1b[2J\x1b[HAlles rustig", "control_character"),
        ("Alles \u202erustig", "control_character"),
    ],
)
def test_a_summary_must_be_visible_text(summary: str, code: str) -> None:
    assert refusal(as_json(summary=summary)) == [("summary", code)]


def test_other_free_text_in_a_submission_is_checked_too() -> None:
    raw = as_json(location={"description": "\x1b[31m"}, idempotency_key="\u200b")
    assert sorted(refusal(raw)) == [
        ("idempotency_key", "no_visible_text"),
        ("location.description", "control_character"),
    ]
    ok = parse_submission(as_json(location={"lat": 52.37, "description": "Bij het station"}))
    event = decide_signal(ok, CONTEXT)
    # The event holds the event's own Location: a resend compares equal to what was stored.
    assert type(event.location) is Location and event.location.description == "Bij het station"
    assert event == decide_signal(ok, CONTEXT).model_copy(update={"signal_id": event.signal_id})


def test_a_50kb_theme_list_is_refused_without_echoing_it() -> None:
    themes = [f"theme_{i:05d}" for i in range(3500)]
    raw = as_json(themes=themes)
    assert 50_000 < len(raw) <= MAX_INPUT_BYTES
    refused = refusal(raw)
    assert refused == [("themes", "too_long")]
    # Even where a long list reaches a message, the message is capped.
    huge = SignalSubmission.model_construct(
        **{**parse_submission(as_json()).__dict__, "themes": themes}
    )
    with pytest.raises(InvalidInput) as info:
        decide_signal(huge, CONTEXT)
    [error] = info.value.errors
    assert error.code == "unknown_theme" and len(error.message) <= MAX_MESSAGE_CHARS
    assert "theme_00000" in error.message and "theme_03499" not in error.message


def test_many_unknown_keys_give_a_bounded_list_of_errors() -> None:
    body = {**submission(), **{f"key_{i}": i for i in range(3000)}}
    with pytest.raises(InvalidInput) as info:
        parse_submission(json.dumps(body).encode())
    assert len(info.value.errors) == MAX_ERRORS
    assert info.value.errors[-1].code == "too_many_errors"


@pytest.mark.parametrize(
    ("field", "logged"),
    [
        ("$", "$"),
        ("summary", "summary"),
        ("themes.3", "themes"),
        ("personal.name", "personal.name"),
        ("location.description", "location.description"),
        ("Content-Type", "Content-Type"),
        ("jan.jansen@example.nl", "<unknown>"),
        ("personal.jan@example.nl", "<unknown>"),
        ("Jan Jansen", "<unknown>"),
        ("06-12345678", "<unknown>"),
        ("personal.0612345678", "personal"),
        ("x" * 42, "<unknown>"),
        ("summary\n", "<unknown>"),
        ("", "<unknown>"),
    ],
)
def test_only_schema_shaped_field_names_reach_the_logs(field: str, logged: str) -> None:
    assert loggable_field(field) == logged
