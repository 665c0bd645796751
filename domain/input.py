"""Untrusted input: bytes, headers and text from outside, turned into values or precise refusals.

Whatever a client sends, the answer is a value or ``InvalidInput`` naming the field (``$`` for
the whole body) and a stable ``code``; never another exception, which an entry point can only
answer with "unavailable, try again" for input that will never work. Pure: no I/O, no clock.

Codes of :func:`load_json` (an HTTP entry point answers 415 for the first, 400 for the rest):

=========================  =====================================================================
``unsupported_media_type``  the Content-Type is not ``application/json`` (``charset=utf-8`` only)
``too_large``               the body is larger than ``max_bytes``
``invalid_encoding``        the body is not UTF-8 (e.g. UTF-16)
``invalid_json``            not JSON (also ``NaN``/``Infinity``, which JSON does not have)
``too_deep``                arrays and objects nested deeper than ``max_depth``
``number_too_long``         an integer (part) of more than ``MAX_INT_DIGITS`` digits
``number_out_of_range``     a number too large for a float (``1e999``)
``duplicate_key``           an object names a key twice (parsers disagree which one counts)
=========================  =====================================================================

Free text people type is :data:`VisibleText` (codes ``control_character``, ``no_visible_text``);
a timestamp from outside is :data:`InputDatetime` (code ``datetime_out_of_range``).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from events.envelope import AwareDatetime

JSON_MEDIA_TYPE = "application/json"
MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32
"""Our schemas nest three levels; 32 leaves room and stays far below the recursion limit."""
MAX_INT_DIGITS = 20
"""Digits of an integer (or of a number's integer part): 20 holds every 64-bit integer. Python
refuses more than 4,300 with a bare ``ValueError``; far fewer can never be a valid value here."""
MAX_MESSAGE_CHARS = 300
MAX_FIELD_CHARS = 120
MAX_ERRORS = 20

UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
UNREADABLE_BODY_CODES = frozenset(
    {
        "too_large",
        "invalid_encoding",
        "invalid_json",
        "too_deep",
        "number_too_long",
        "number_out_of_range",
        "duplicate_key",
    }
)
"""Codes meaning the body could not be read as JSON at all (HTTP 400)."""


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class FieldError:
    """One refusal: the field the client sent (``$`` for the whole input), a message for
    humans, a stable code for programs. Message and field are capped, so a refusal never echoes
    a huge input back (``unknown theme(s) [...]`` with a 50 KB list)."""

    field: str
    message: str
    code: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _capped(self.field, MAX_FIELD_CHARS))
        object.__setattr__(self, "message", _capped(self.message, MAX_MESSAGE_CHARS))

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


def capped_errors(errors: Sequence[FieldError]) -> list[FieldError]:
    """At most ``MAX_ERRORS``: 3,000 unknown keys need not be answered one by one."""
    if len(errors) <= MAX_ERRORS:
        return list(errors)
    kept = list(errors[: MAX_ERRORS - 1])
    more = len(errors) - len(kept)
    return [*kept, FieldError("$", f"and {more} more problems not listed", "too_many_errors")]


class InvalidInput(ValueError):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        errors = capped_errors(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def _refuse(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput([FieldError(field, message, code)])


# ---------------------------------------------------------------- JSON bodies


def load_json(
    body: bytes,
    content_type: str | None,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """The JSON value in ``body``, or ``InvalidInput`` (and nothing else).

    ``content_type`` is the Content-Type header as sent; ``None`` means the transport carried
    none (a NATS message without headers; FastAPI too reads a body without one as JSON). Pass
    ``""`` to refuse a missing header. Checks run cheapest first: media type, size, encoding,
    then nesting and number lengths on the text without recursion, and only then ``json.loads``.
    """
    _check_media_type(content_type)
    if len(body) > max_bytes:
        raise _refuse("$", f"body is {len(body)} bytes, at most {max_bytes}", "too_large")
    text = _utf8(body)
    _check_structure(text, max_depth)
    try:
        return json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except InvalidInput:
        raise
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise _refuse("$", f"invalid JSON: {exc.msg} at {where}", "invalid_json") from None
    except RecursionError:  # _check_structure prevents it; kept so nothing else escapes
        raise _refuse("$", "nested too deeply", "too_deep") from None
    except ValueError:  # e.g. Python's 4,300-digit limit; _check_structure prevents it too
        raise _refuse("$", "a number is too long", "number_too_long") from None


def parse_json_object(
    body: bytes,
    content_type: str | None,
    *,
    max_bytes: int = MAX_BODY_BYTES,
    max_depth: int = MAX_DEPTH,
) -> dict[str, Any]:
    """Like :func:`load_json`, and the value must be a JSON object (code ``invalid_type``)."""
    value = load_json(body, content_type, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        raise _refuse("$", "expected a JSON object", "invalid_type")
    return value


def _check_media_type(content_type: str | None) -> None:
    if content_type is None:
        return
    media_type, *parameters = content_type.split(";")
    ok = media_type.strip().lower() == JSON_MEDIA_TYPE
    for parameter in parameters:
        if not parameter.strip():
            continue  # "application/json;"
        name, _, value = parameter.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        # application/json defines no parameters; a charset other than UTF-8 is not JSON.
        ok = ok and name.strip().lower() == "charset" and value.lower() == "utf-8"
    if not ok:
        shown = _capped(content_type, 60)
        raise _refuse(
            "Content-Type",
            f"send application/json (optionally with charset=utf-8), not {shown!r}",
            UNSUPPORTED_MEDIA_TYPE,
        )


def _utf8(body: bytes) -> str:
    # NUL is valid UTF-8 but never occurs raw in a JSON text: it marks UTF-16 or UTF-32.
    if b"\x00" in body:
        raise _refuse("$", "body is not UTF-8 (UTF-16 or UTF-32?)", "invalid_encoding")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            "$", f"body is not UTF-8 (invalid byte at offset {exc.start})", "invalid_encoding"
        ) from None
    return text.removeprefix("\ufeff")  # a BOM may be ignored (RFC 8259 section 8.1)


# A string, escapes included; an unterminated one runs to the end of the text.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_NUMBER = re.compile(r"-?([0-9]+)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]*)?")  # group 1: integer part


def _check_structure(text: str, max_depth: int) -> None:
    """Nesting depth and integer lengths, by scanning the text outside strings (no recursion,
    linear time): ``json.loads`` itself recurses per level and converts every digit."""
    skeleton = _STRING.sub('""', text)
    depth = 0
    for match in _BRACKETS.finditer(skeleton):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise _refuse(
                    "$", f"arrays and objects nest deeper than {max_depth} levels", "too_deep"
                )
        else:
            depth -= 1
    for match in _NUMBER.finditer(skeleton):
        digits = len(match.group(1))
        if digits > MAX_INT_DIGITS:
            raise _refuse(
                "$",
                f"a number has {digits} digits before its decimal point, at most {MAX_INT_DIGITS}",
                "number_too_long",
            )


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = _capped(key, 60)
                raise _refuse("$", f"key {shown!r} appears twice in one object", "duplicate_key")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise _refuse("$", f"invalid JSON: {name} is not a JSON number", "invalid_json")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _refuse("$", "a number is too large", "number_out_of_range")
    return value


# ---------------------------------------------------------------- free text


_ALLOWED_CONTROLS = frozenset("\n\t")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides and isolates: they reorder what a reader sees ("Trojan Source").
The marks (LRM, RLM, ALM) stay allowed: right-to-left text needs them."""
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
"""Control characters (NUL, ESC of ANSI sequences, C1), lone surrogates, line and paragraph
separators (a line break in logs and JavaScript that is not a newline)."""
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
"""Whitespace, zero-width and format characters, and marks that only attach to a letter."""
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Hangul fillers and the blank Braille pattern: letters that show nothing."""


def _control_in(text: str) -> tuple[int, str] | None:
    for i, char in enumerate(text):
        if char in _ALLOWED_CONTROLS:
            continue
        if char == "\r" and text[i + 1 : i + 2] == "\n":
            continue  # CRLF is a newline too; a lone CR overwrites a terminal line
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
            return i, char
    return None


def _visible(char: str) -> bool:
    return not (char in _BLANK_LETTERS or unicodedata.category(char) in _INVISIBLE_CATEGORIES)


def _check_visible_or_empty(value: str) -> str:
    found = _control_in(value)
    if found is not None:
        position, char = found
        raise PydanticCustomError(
            "control_character",
            "must not contain control characters: U+{code_point} at position {position} "
            "(newline and tab are allowed)",
            {"code_point": f"{ord(char):04X}", "position": position},
        )
    if value and not any(_visible(char) for char in value):
        raise PydanticCustomError(
            "no_visible_text",
            "has no visible character, only spaces, zero-width or format characters",
        )
    return value


def _check_visible(value: str) -> str:
    if not value:
        raise PydanticCustomError("no_visible_text", "must not be empty")
    return _check_visible_or_empty(value)


VisibleText = Annotated[str, AfterValidator(_check_visible)]
"""Text a person typed (a summary, reason, note, name): no control characters except newline
(LF or CRLF) and tab, no bidi embeddings/overrides/isolates, and at least one visible character
once whitespace, zero-width and format characters are left out. Length limits stay with each
field (``Field(max_length=...)``), so a huge string is refused before this looks at it."""

VisibleTextOrEmpty = Annotated[str, AfterValidator(_check_visible_or_empty)]
"""Optional text (default ``""``): empty, or :data:`VisibleText`."""


# ---------------------------------------------------------------- timestamps


EARLIEST_INPUT = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST_INPUT = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def _check_safe_range(value: datetime) -> datetime:
    if not EARLIEST_INPUT <= value <= LATEST_INPUT:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "timestamp must lie between {earliest} and {latest} in UTC",
            {"earliest": EARLIEST_INPUT.isoformat(), "latest": LATEST_INPUT.isoformat()},
        )
    return value


InputDatetime = Annotated[AwareDatetime, AfterValidator(_check_safe_range)]
"""A timestamp from outside: aware, in UTC, and a day away from the ends of the calendar, so
showing it in Dutch time or adding a day to it cannot overflow. Event models keep the lenient
:data:`events.envelope.AwareDatetime`, so events already in the log stay readable."""
