"""Untrusted input as pure functions: given bytes, a header or a value from outside, then the
value or a refusal that names the field and a stable code. Nothing else may escape: anything
else answers 5xx ("unavailable, retry") for input that will never work."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from domain.escalation import Acknowledge, CallConvening, Close, Declare
from domain.input import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_ERRORS,
    MAX_MESSAGE_CHARS,
    FieldError,
    InputDatetime,
    InvalidInput,
    VisibleText,
    VisibleTextOrEmpty,
    load_json,
    parse_json_object,
)
from domain.network import (
    AssignDutyContact,
    EnrollAlly,
    FormNetwork,
    RemoveAlly,
    contact_decider,
    network_decider,
)
from domain.policy import PolicyError, parse_policies
from events.codec import decode, encode
from events.envelope import AggregateRef, AreaCode, AwareDatetime, EventId, new_envelope
from events.network import CallOutcome, CallOutcomeRecorded, DutyRole
from tests.builders_network import ally_enrolled, duty_contact, network_formed
from tests.factories import T0, signal
from tests.test_escalation_domain import AREA, POLICY, THEME, situation

JSON = "application/json"


def refused(body: bytes, content_type: str | None = JSON, **limits: int) -> FieldError:
    with pytest.raises(InvalidInput) as info:
        load_json(body, content_type, **limits)
    [error] = info.value.errors
    assert len(error.message) <= MAX_MESSAGE_CHARS
    return error


def field_code(body: bytes, content_type: str | None = JSON, **limits: int) -> tuple[str, str]:
    error = refused(body, content_type, **limits)
    return error.field, error.code


# ---------------------------------------------------------------- load_json: the body


def test_a_json_body_is_read() -> None:
    body = json.dumps({"summary": "Groep jongeren", "level": 4, "n": [1.5, None, True]}).encode()
    assert load_json(body, JSON) == {
        "summary": "Groep jongeren",
        "level": 4,
        "n": [1.5, None, True],
    }
    assert load_json(b"[1, 2]", JSON) == [1, 2]
    assert load_json(b"\xef\xbb\xbf{}", JSON) == {}  # a UTF-8 BOM may be ignored (RFC 8259 8.1)
    assert load_json('{"s": "café ☕"}'.encode(), JSON) == {"s": "café ☕"}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
        None,  # no header at all (a NATS message): JSON, as FastAPI assumes too
    ],
)
def test_json_with_or_without_charset_utf8_is_accepted(content_type: str | None) -> None:
    assert load_json(b'{"a": 1}', content_type) == {"a": 1}


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "application/json; charset=iso-8859-1",
        "application/json; charset=utf-8; charset=latin1",
        "application/json; version=2",
        "application/jsonx",
        "",
    ],
)
def test_a_body_that_is_not_declared_json_is_refused(content_type: str) -> None:
    assert field_code(b'{"a": 1}', content_type) == ("Content-Type", "unsupported_media_type")


def test_the_content_type_refusal_does_not_echo_a_huge_header() -> None:
    error = refused(b"{}", "text/plain; x=" + "y" * 10_000)
    assert len(error.message) < 200


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"summary": "Groep jongeren"}).encode("utf-16"),  # with BOM
        json.dumps({"summary": "Groep jongeren"}).encode("utf-16-le"),  # without BOM
        json.dumps({"summary": "Groep jongeren"}).encode("utf-32"),
        '{"summary": "café"}'.encode("latin-1"),
        b'{"a": "\xff"}',
    ],
    ids=["utf-16", "utf-16-le", "utf-32", "latin-1", "invalid-byte"],
)
def test_a_body_that_is_not_utf8_is_refused(body: bytes) -> None:
    assert field_code(body) == ("$", "invalid_encoding")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{not json",
        b'{"reporter": "a1",',
        b'{"a": 1} trailing',
        b"NaN",
        b'{"level": Infinity}',
        b'{"level": -Infinity}',
        b'{"a": "raw\ncontrol"}',
    ],
)
def test_what_is_not_json_is_refused(body: bytes) -> None:
    assert field_code(body) == ("$", "invalid_json")


def test_nesting_of_a_thousand_levels_is_refused_without_recursion() -> None:
    deep = b"[" * 1000 + b"]" * 1000
    assert field_code(deep) == ("$", "too_deep")
    assert field_code(b'{"a":' * 1000 + b"1" + b"}" * 1000) == ("$", "too_deep")
    assert field_code(b"[" * 60_000) == ("$", "too_deep")  # unbalanced: deep before invalid


def test_nesting_up_to_the_limit_is_read() -> None:
    at_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert load_json(at_limit, JSON) is not None
    one_more = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    assert field_code(one_more) == ("$", "too_deep")
    assert field_code(b"[[[]]]", max_depth=2) == ("$", "too_deep")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"summary": "[" * 1000 + '"{' * 500 + "\\"})
    assert load_json(text.encode(), JSON) == json.loads(text)


def test_an_integer_of_4301_digits_is_refused_not_a_value_error() -> None:
    assert field_code(b'{"level": ' + b"1" * 4301 + b"}") == ("$", "number_too_long")
    assert field_code(b"-" + b"9" * 5000) == ("$", "number_too_long")


def test_integers_longer_than_20_digits_are_refused() -> None:
    assert load_json(b"[18446744073709551615, -12345678901234567890]", JSON) == [
        18446744073709551615,
        -12345678901234567890,
    ]
    assert field_code(b"[123456789012345678901]") == ("$", "number_too_long")
    assert field_code(b"[123456789012345678901.5]") == ("$", "number_too_long")
    assert load_json(b"[0.30000000000000000000004, 1.5e-10]", JSON) == [0.3, 1.5e-10]
    assert load_json(b'["123456789012345678901234567890"]', JSON) == [
        "123456789012345678901234567890"
    ]  # digits in a string are text


def test_a_number_that_overflows_a_float_is_refused() -> None:
    assert field_code(b'{"lat": 1e999}') == ("$", "number_out_of_range")
    assert load_json(b"[1e-999, 1.5e3]", JSON) == [0.0, 1500.0]


def test_a_key_given_twice_is_refused() -> None:
    error = refused(b'{"level": 1, "level": 5}')
    assert (error.field, error.code) == ("$", "duplicate_key") and "level" in error.message


def test_a_body_over_the_limit_is_refused() -> None:
    assert field_code(b" " * (MAX_BODY_BYTES + 1)) == ("$", "too_large")
    assert field_code(b"[1, 2, 3]", max_bytes=4) == ("$", "too_large")


def test_parse_json_object_requires_an_object() -> None:
    assert parse_json_object(b'{"a": 1}', JSON) == {"a": 1}
    for body in (b"[1, 2]", b'"text"', b"1", b"null"):
        with pytest.raises(InvalidInput) as info:
            parse_json_object(body, JSON)
        assert [(e.field, e.code) for e in info.value.errors] == [("$", "invalid_type")]


def test_nothing_but_invalid_input_escapes_for_any_mutated_body() -> None:
    rng = random.Random(20261102)
    seeds = [
        json.dumps({"summary": "Groep jongeren", "level": 4, "themes": ["a", "b"], "x": 1.5e3}),
        "[" * 40 + "1" * 30 + "]" * 40,
        '{"a": "\\ud800", "b": "\\u0000"}',
    ]
    alphabet = b'{}[]",:\\-+.eE0123456789 \x00\xff\xfe\xc3tfnu'
    for _ in range(3000):
        body = bytearray(rng.choice(seeds).encode())
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(body) + 1)
            op = rng.random()
            if op < 0.4:
                body[i:i] = bytes([rng.choice(alphabet)]) * rng.randint(1, 50)
            elif op < 0.7 and i < len(body):
                del body[i : i + rng.randint(1, 5)]
            elif i < len(body):
                body[i] = rng.choice(alphabet)
        content_type = rng.choice([JSON, None, "text/plain", "application/json; charset=x"])
        try:
            load_json(bytes(body), content_type)
        except InvalidInput as exc:
            assert exc.errors and all(len(e.message) <= MAX_MESSAGE_CHARS for e in exc.errors)


# ---------------------------------------------------------------- errors stay small


def test_field_error_messages_and_fields_are_capped() -> None:
    error = FieldError("themes", f"unknown theme(s) {['x' * 40] * 1200}", "unknown_theme")
    assert len(error.message) == MAX_MESSAGE_CHARS and error.message.endswith("…")
    assert error.message.startswith("unknown theme(s) ['xxx")
    long_key = FieldError("k" * 50_000, "Extra inputs are not permitted", "extra_forbidden")
    assert len(long_key.field) <= 120 and long_key.field.endswith("…")
    short = FieldError("level", "Input should be a valid integer", "int_type")
    assert short.message == "Input should be a valid integer"


def test_invalid_input_lists_at_most_a_bounded_number_of_problems() -> None:
    many = [
        FieldError(f"k{i}", "Extra inputs are not permitted", "extra_forbidden")
        for i in range(5000)
    ]
    errors = InvalidInput(many).errors
    assert len(errors) == MAX_ERRORS
    assert errors[-1].code == "too_many_errors" and str(5000 - MAX_ERRORS + 1) in errors[-1].message
    assert len(str(InvalidInput(many))) < 5000


# ---------------------------------------------------------------- free text people type


class _Note(BaseModel):
    text: VisibleText = Field(max_length=500)
    optional: VisibleTextOrEmpty = ""


def text_error(**fields: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        _Note(**{"text": "Groep jongeren", **fields})
    [error] = info.value.errors()
    assert "\x1b" not in error["msg"] and "\x00" not in error["msg"]
    return ".".join(str(p) for p in error["loc"]), error["type"]


@pytest.mark.parametrize(
    "text",
    [
        "Groep jongeren op scooters",
        "regel 1\nregel 2\n\tingesprongen",
        "Windows\r\nregels",
        "👨‍👩‍👧 familie (met zero-width joiners)",
        "مجموعة من الشباب\u200f",  # Arabic with a right-to-left mark
        "x",
        "  spaties rondom  ",
    ],
)
def test_visible_text_accepts_what_people_type(text: str) -> None:
    assert _Note(text=text).text == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("\u200b\u200b\u200b", "no_visible_text"),  # zero-width spaces only
        ("\u200b \ufeff\u2060\u00ad", "no_visible_text"),
        ("   \t\n ", "no_visible_text"),
        ("\u3000\u00a0", "no_visible_text"),  # ideographic and no-break space
        ("\u3164\u115f", "no_visible_text"),  # Hangul fillers: letters that show nothing
        ("\u0301\u0308", "no_visible_text"),  # combining marks without a base
        ("\x00", "control_character"),
        ("Groep\x00jongeren", "control_character"),
        ("\x1b[31mrood\x1b[0m", "control_character"),  # ANSI escape sequence
        ("\x1b]8;;https://evil.example\x07klik\x1b]8;;\x07", "control_character"),
        ("abc\x85def", "control_character"),  # C1 control (NEL)
        ("abc\x9bdef", "control_character"),  # C1 CSI
        ("admin\u202egnp.exe", "control_character"),  # bidi override
        ("a\u2066b\u2069", "control_character"),  # bidi isolate
        ("regel\rover", "control_character"),  # a lone CR overwrites a terminal line
        ("regel\u2028twee", "control_character"),  # line separator
        ("\ud800", "string_unicode"),  # a lone surrogate: pydantic refuses it first
    ],
)
def test_visible_text_refuses_control_and_invisible_text(text: str, code: str) -> None:
    assert text_error(text=text) == ("text", code)


def test_optional_text_may_be_empty_but_not_invisible() -> None:
    assert _Note(text="x", optional="").optional == ""
    assert text_error(optional="\u200b") == ("optional", "no_visible_text")
    assert text_error(optional="\x1b[2J") == ("optional", "control_character")


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


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T12:00:00+00:00",
        "9999-12-31T23:59:59+00:00",
        "9999-12-31T12:00:00Z",
    ],
)
def test_input_timestamps_keep_a_day_from_the_ends_of_the_calendar(value: str) -> None:
    """Valid in UTC, but shown in Dutch time (+01:00) or moved by a day it overflows."""
    TypeAdapter(AwareDatetime).validate_python(value)  # stored events stay readable
    with pytest.raises(ValidationError) as info:
        TypeAdapter(InputDatetime).validate_python(value)
    assert info.value.errors()[0]["type"] == "datetime_out_of_range"


def test_an_input_timestamp_is_kept_in_utc() -> None:
    assert TypeAdapter(InputDatetime).validate_python("2026-11-02T10:00:00+01:00") == T0
    assert TypeAdapter(InputDatetime).validate_python("2026-11-02T10:00:00+01:00").tzinfo is UTC


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


# ---------------------------------------------------------------- commands refuse bad text


NOW = T0


def test_escalation_commands_refuse_invisible_or_control_text() -> None:
    with pytest.raises(ValidationError) as info:
        Acknowledge(now=NOW, by="police:teamchef", note="\x1b[31mOK")
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [
        (("note",), "control_character")
    ]
    with pytest.raises(ValidationError) as info:
        Close(now=NOW, by="police:teamchef", reason="\u200b\u200b")
    assert info.value.errors()[0]["loc"] == ("reason",)
    assert Close(now=NOW, by="police:teamchef").reason == ""
    assert Acknowledge(now=NOW, by="police:teamchef", note="Ik ga erheen").note


def test_declare_needs_a_visible_reason() -> None:
    declare = {"now": NOW, "area": AREA, "theme": THEME, "situation": situation(), "by": "police:x"}
    assert Declare(**declare, reason="Demonstratie loopt uit de hand", policy=POLICY).reason
    for reason, code in (("\x00", "control_character"), ("\u200b", "no_visible_text")):
        with pytest.raises(ValidationError) as info:
            Declare(**declare, reason=reason, policy=POLICY)
        assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(("reason",), code)]


def test_a_convening_place_and_times_are_checked() -> None:
    base: dict[str, Any] = {
        "now": NOW,
        "convening_id": "c1",
        "starts_at": NOW + timedelta(hours=1),
        "mode": "in_person",
        "invited": ("a1",),
        "quorum": 1,
        "rsvp_deadline": NOW + timedelta(minutes=30),
    }
    assert CallConvening(**base, place="Buurthuis De Schakel").place
    with pytest.raises(ValidationError) as info:
        CallConvening(**base, place="\u202eloohcs")
    assert info.value.errors()[0]["loc"] == ("place",)
    with pytest.raises(ValidationError) as info:
        CallConvening(**{**base, "starts_at": "9999-12-31T23:30:00Z"})
    assert info.value.errors()[0]["loc"] == ("starts_at",)


def test_network_commands_refuse_invisible_names_naming_the_field_sent() -> None:
    formed = network_formed()
    with pytest.raises(ValidationError) as info:
        network_decider.run([], FormNetwork(event=network_formed(name="\u200b\u200b")))
    assert [e["loc"] for e in info.value.errors()] == [("name",)]
    with pytest.raises(ValidationError) as info:
        network_decider.run([formed], EnrollAlly(event=ally_enrolled(name="\x1b[2J")))
    assert [e["loc"] for e in info.value.errors()] == [("personal", "name")]
    duty = duty_contact(DutyRole.POLICE, "wijk-1")
    bad_duty = duty.model_copy(update={"function": "\u3164"})
    with pytest.raises(ValidationError) as info:
        network_decider.run([formed], AssignDutyContact(event=bad_duty))
    assert [e["loc"] for e in info.value.errors()] == [("function",)]
    with pytest.raises(ValidationError) as info:
        RemoveAlly(network_id="nw-haven", ally_id="ally-1", reason="\x00")
    assert info.value.errors()[0]["loc"] == ("reason",)
    assert network_decider.run([], FormNetwork(event=formed)) == [formed]


def test_a_call_note_is_checked_but_may_be_empty() -> None:
    def call(note: str) -> CallOutcomeRecorded:
        return CallOutcomeRecorded(
            network_id="nw-haven",
            ally_id="ally-1",
            outcome=CallOutcome.REACHED,
            caller="oov-1",
            note=note,
        )

    assert contact_decider.run([], call("")) and contact_decider.run([], call("Komt eraan"))
    with pytest.raises(ValidationError) as info:
        contact_decider.run([], call("\x1b[31m"))
    assert info.value.errors()[0]["loc"] == ("note",)


def test_stored_events_with_such_text_still_decode() -> None:
    """Events are facts already in the log: their models stay lenient about free text, so an
    event recorded before these checks existed is still read (and folded) as it was."""
    for data in (
        network_formed(name="\u200b"),
        ally_enrolled(name="\x1b[31mX"),
        signal().model_copy(update={"summary": "\x00"}),
    ):
        envelope = new_envelope(
            data,
            aggregate=AggregateRef(kind="network", area="GM0034-haven", id="nw-haven"),
            actor="ally:a1",
            source="/test",
            recorded_at=T0,
        )
        assert decode(*encode(envelope)).data == data
