"""Signal intake as pure functions: when a submission, given the known facts, then an event or
every problem at once (field, reason, code)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.intake import (
    IntakeContext,
    InvalidInput,
    KnownNetwork,
    decide_signal,
    parse_submission,
)
from events.signals import DEFAULT_THEMES, SignalReceived
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
