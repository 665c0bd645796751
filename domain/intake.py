"""Signal intake (signaalinname): turn untrusted input into a ``SignalReceived`` or precise errors.

Three layers of checks, all pure: the body (``domain.input.load_json``: media type, size,
encoding, JSON, nesting, number lengths), the shape (pydantic, per field) and the facts the
input must agree with (known network and area, the reporter is a member, the theme vocabulary,
a time that is not in the future). Every refusal names the field and the reason.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.input import (
    JSON_MEDIA_TYPE,
    MAX_BODY_BYTES,
    InputDatetime,
    VisibleText,
    capped_errors,
    parse_json_object,
)
from domain.input import FieldError as FieldError  # re-exported: the adapters import it here
from domain.input import InvalidInput as InvalidInput
from events.envelope import AreaCode, Token, deterministic_id, municipality_of
from events.signals import (
    MAX_SUMMARY_CHARS,
    Community,
    Evidence,
    Location,
    Reporter,
    SignalReceived,
    SourceRole,
    TensionLevel,
    Theme,
)

MAX_INPUT_BYTES = MAX_BODY_BYTES
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_AGE = timedelta(days=366)


class LocationInput(Location):
    """A location as sent: its description is text a person typed."""

    description: VisibleText | None = Field(default=None, max_length=200)


class SignalSubmission(BaseModel):
    """What a reporter sends (HTTP JSON body or NATS request payload).

    Stricter than ``SignalReceived``: free text must be visible text, timestamps keep clear of
    the ends of the calendar. The event stays lenient so signals already in the log stay
    readable; what is new passes through here first."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    reporter: Token = Field(
        description="ally id, or a police/municipality role such as 'wijkagent'"
    )
    source_role: SourceRole
    network_id: Token
    area: AreaCode
    themes: list[Theme] = Field(min_length=1, max_length=5)
    communities: list[Community] = Field(default_factory=list, max_length=10)
    level: int = Field(
        ge=TensionLevel.MIN,
        le=TensionLevel.MAX,
        description="1 calm, 2 unrest, 3 tension, 4 high, 5 acute",
    )
    evidence: Evidence
    occurred_at: InputDatetime
    summary: VisibleText = Field(min_length=1, max_length=MAX_SUMMARY_CHARS)
    location: LocationInput | None = None
    major_incident: bool = False
    idempotency_key: VisibleText | None = Field(default=None, min_length=1, max_length=128)


CONCURRENT_CHANGE = FieldError(
    "$", "changed by someone else at the same moment; try again", "concurrent_change"
)
"""The answer to a command that lost its optimistic-concurrency retries, on every API."""


@dataclass(frozen=True)
class KnownNetwork:
    network_id: str
    areas: frozenset[str]
    members: frozenset[str]

    def covers(self, area: str) -> bool:
        return area in self.areas or municipality_of(area) in self.areas


@dataclass(frozen=True)
class IntakeContext:
    """The facts a signal is checked against, read from projections by the caller."""

    networks: Mapping[str, KnownNetwork]
    themes: frozenset[str]
    now: datetime
    future_tolerance: timedelta = FUTURE_TOLERANCE
    max_age: timedelta = MAX_AGE
    extra: dict[str, Any] = field(default_factory=dict)


def parse_submission(
    raw: bytes | str | Mapping[str, Any], content_type: str | None = JSON_MEDIA_TYPE
) -> SignalSubmission:
    """Body and shape checks: media type, size, encoding, JSON, types, ranges, text.
    Raises ``InvalidInput`` (and nothing else).

    ``content_type``: the Content-Type (HTTP) or content-type header (NATS) as sent, ``None``
    where the message has none; see ``domain.input.load_json``."""
    if isinstance(raw, str):
        # surrogatepass: a str holding a lone surrogate becomes bytes that are not UTF-8 (and
        # is refused as such) instead of raising UnicodeEncodeError here.
        raw = raw.encode("utf-8", "surrogatepass")
    if isinstance(raw, bytes):
        data: Mapping[str, Any] = parse_json_object(raw, content_type)
    elif isinstance(raw, Mapping):
        data = raw
    else:
        raise InvalidInput([FieldError("$", "expected a JSON object", "invalid_type")])
    try:
        return SignalSubmission.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(pydantic_errors(exc)) from None


_LOCATIONS = {"body", "query", "path", "header"}


def field_of(loc: Sequence[Any]) -> str:
    """A pydantic/FastAPI error location as the field name a client sent (``personal.phone``)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "$"


def pydantic_errors(exc: ValidationError) -> list[FieldError]:
    """Every problem pydantic found, as field errors (at most ``MAX_ERRORS``, each capped)."""
    return capped_errors(
        [
            FieldError(field_of(err["loc"]), err["msg"], err["type"])
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
    )


UNKNOWN_FIELD = "<unknown>"
_OWN_FIELD_NAMES = frozenset({"$", "Content-Type", "X-Actor", "Idempotency-Key"})
_LIST_INDEX = re.compile(r"\.[0-9]+(?=\.|\Z)")
_SCHEMA_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,40}(?:\.[a-z0-9_]{1,40})*")


def loggable_field(field: str) -> str:
    """``field`` as it may be written to a log: list indices left out (``themes.3`` ->
    ``themes``), and only if it then has the shape of a schema field name, else ``<unknown>``.

    A field in an error is whatever key the client sent (``extra_forbidden``): an e-mail
    address or a name must never reach the logs. Our own names (``$``, header names) pass."""
    if field in _OWN_FIELD_NAMES:
        return field
    name = _LIST_INDEX.sub("", field)
    return name if _SCHEMA_FIELD.fullmatch(name) else UNKNOWN_FIELD


def decide_signal(submission: SignalSubmission, context: IntakeContext) -> SignalReceived:
    """Fact checks; returns the event to append. Raises ``InvalidInput`` listing every problem."""
    errors: list[FieldError] = []
    network = context.networks.get(submission.network_id)
    if network is None:
        errors.append(FieldError("network_id", "unknown network", "unknown_network"))
    elif not network.covers(submission.area):
        errors.append(FieldError("area", "area is not covered by this network", "unknown_area"))
    if (
        network is not None
        and submission.source_role is SourceRole.ALLY
        and submission.reporter not in network.members
    ):
        errors.append(FieldError("reporter", "not an ally of this network", "unknown_reporter"))
    unknown = [t for t in submission.themes if t not in context.themes]
    if unknown:
        shown = f"{unknown[:5]}" + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        errors.append(
            FieldError(
                "themes", f"unknown theme(s) {shown}; see GET /api/v1/themes", "unknown_theme"
            )
        )
    if submission.occurred_at > context.now + context.future_tolerance:
        errors.append(
            FieldError(
                "occurred_at",
                f"lies more than {int(context.future_tolerance.total_seconds())} s in the future",
                "in_future",
            )
        )
    elif submission.occurred_at < context.now - context.max_age:
        errors.append(FieldError("occurred_at", "lies more than a year in the past", "too_old"))
    if errors:
        raise InvalidInput(errors)
    return SignalReceived(
        signal_id=signal_id_for(submission),
        reporter=Reporter(role=submission.source_role, id=submission.reporter),
        network_id=submission.network_id,
        area=submission.area,
        themes=tuple(dict.fromkeys(submission.themes)),
        communities=tuple(dict.fromkeys(submission.communities)),
        level=submission.level,
        evidence=submission.evidence,
        summary=submission.summary,
        # The event's own Location: a resend must compare equal to the stored event.
        location=_location(submission.location),
        major_incident=submission.major_incident,
        idempotency_key=submission.idempotency_key,
    )


def _location(given: LocationInput | None) -> Location | None:
    return None if given is None else Location(**given.model_dump())


def signal_id_for(submission: SignalSubmission) -> str:
    """With an idempotency key the id is derived from it, so the same key yields the same signal."""
    if submission.idempotency_key is None:
        return uuid.uuid4().hex
    return deterministic_id(
        "signal", submission.source_role.value, submission.reporter, submission.idempotency_key
    )
