"""Untrusted input as pure functions: given bytes, a header or a value from outside, then the
value or a refusal that names the field and a stable code. Nothing else may escape: anything
else answers 5xx ("unavailable, retry") for input that will never work."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from domain.policy import PolicyError, parse_policies
from events.envelope import AggregateRef, AreaCode, AwareDatetime, EventId, new_envelope
from tests.factories import T0, signal

# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_that_overflows_in_utc_is_a_validation_error(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(AwareDatetime).validate_python(value)
    [error] = info.value.errors()
    assert error["type"] == "datetime_out_of_range" and "UTC" in error["msg"]


def test_an_envelope_names_the_timestamp_that_overflows() -> None:
    year_one = datetime.fromisoformat("0001-01-01T00:00:00+01:00")
    with pytest.raises(ValidationError) as info:
        new_envelope(
            signal(),
            aggregate=AggregateRef(kind="signal", area="GM0034-haven", id="s1"),
            actor="ally:a1",
            source="/test",
            recorded_at=T0,
            occurred_at=year_one,
        )
    assert [e["loc"] for e in info.value.errors()] == [("occurred_at",)]


# ---------------------------------------------------------------- digits are ASCII digits


@pytest.mark.parametrize(
    "area",
    [
        "GM٠٠٣٤",  # Arabic-Indic digits
        "GM٠٠٣٤-stad",
        "GM۰۰۳۴",  # Extended Arabic-Indic (Persian) digits
        "GM००३४",  # Devanagari digits
        "GM００３４",  # fullwidth digits
        "GM0034\n",
    ],
)
def test_an_area_code_has_ascii_digits_only(area: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(AreaCode).validate_python(area)
    assert TypeAdapter(AreaCode).validate_python("GM0034-stad") == "GM0034-stad"


def test_a_policy_key_has_ascii_digits_only() -> None:
    level = (
        '[[default.levels]]\nname = "OOV"\nack_timeout_s = 300\n'
        '[[default.levels.recipients]]\nname = "OOV-piket"\nchannels = ["webhook"]\n'
        'addresses = { webhook = "https://h.example" }\n'
    )
    assert "GM0034" in parse_policies("[default]\n" + level + "\n[GM0034]\n")
    with pytest.raises(PolicyError, match="CBS municipality code"):
        parse_policies("[default]\n" + level + '\n["GM٠٠٣٤"]\n')


def test_an_event_id_is_matched_to_its_end() -> None:
    assert TypeAdapter(EventId).validate_python("abc-1") == "abc-1"
    with pytest.raises(ValidationError):
        TypeAdapter(EventId).validate_python("abc-1\n")
