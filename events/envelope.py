"""The event envelope: CloudEvents 1.0 attributes plus what event sourcing needs.

CloudEvents mapping (binary content mode, one ``ce-*`` header per attribute on NATS):

====================  ======================  ===============================================
envelope field        CloudEvents attribute   meaning
====================  ======================  ===============================================
``id``                ``id``                  unique event id; also the ``Nats-Msg-Id``
``source``            ``source``              the component that recorded it (URI-reference)
``type``              ``type``                stable name, ``nl.bondgenoten.signal.received``
``subject``           ``subject``             the aggregate, ``<kind>/<area>/<id>``
``occurred_at``       ``time``                when it happened in the world
``recorded_at``       ``recordedat`` (ext.)   when this service learned it (as-of reads use this)
``schema_version``    ``schemaversion`` (ext.) version of ``data``'s schema
``actor``             ``actor`` (ext.)        who caused it, ``<role>:<id>`` (pseudonymous)
``correlation_id``    ``correlationid`` (ext.) the conversation / incident it belongs to
``causation_id``      ``causationid`` (ext.)  the event or command that caused it
``command_hash``      ``commandhash`` (ext.)  fingerprint of the client command that caused it:
                                              an idempotency key reused for another command
                                              is recognised and refused
``data``              body, ``datacontenttype`` ``application/json``
====================  ======================  ===============================================
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Generic, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from events.base import DomainEvent

# Subject tokens must not contain NATS wildcards, dots or whitespace.
# Patterns spell digits [0-9]: \d matches every Unicode digit (Arabic-Indic ٠٣٤, fullwidth ０),
# in Python's re and in pydantic's Rust regex alike. With Python's re, match with fullmatch:
# there "$" also matches before a trailing newline (the Rust regex pydantic uses does not).
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # noqa: S105 - a regex, not a secret
AREA_PATTERN = r"^GM[0-9]{4}(-[a-z0-9]+(?:-[a-z0-9]+)*)?$"

Token = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]
AreaCode = Annotated[str, StringConstraints(pattern=AREA_PATTERN, max_length=64)]
"""An area: a CBS municipality code (``GM0034`` Almere) optionally followed by a district slug
(``GM0034-haven``). The municipality prefix lets consumers filter by municipality."""

ACTOR_PATTERN = (
    r"^(ally|police|municipality|coordinator|crisis|reviewer|admin|service|operator|integration"
    r"|system):[A-Za-z0-9._-]{1,64}$"
)
Actor = Annotated[str, StringConstraints(pattern=ACTOR_PATTERN)]
"""Who caused an event, as ``<role>:<pseudonymous id>``; never a name or phone number."""


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone offset")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC: no datetime holds it
        raise PydanticCustomError(
            "datetime_out_of_range", "timestamp lies outside the years 1 to 9999 in UTC"
        ) from None


AwareDatetime = Annotated[datetime, AfterValidator(_require_aware)]
"""Aware, converted to UTC. Lenient on purpose beyond that: events already in the log use it.
A timestamp from outside is ``domain.input.InputDatetime``, which also keeps clear of the ends
of the calendar."""


def municipality_of(area: str) -> str:
    return area[:6]


class AggregateRef(BaseModel):
    """Identifies one aggregate, i.e. one consistency boundary with its own subject in the log."""

    model_config = ConfigDict(frozen=True)

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z]{1,32}$")]
    area: AreaCode
    id: Token

    @property
    def cloudevents_subject(self) -> str:
        return f"{self.kind}/{self.area}/{self.id}"

    @classmethod
    def parse(cls, ce_subject: str) -> Self:
        kind, area, agg_id = ce_subject.split("/", 2)
        return cls(kind=kind, area=area, id=agg_id)


E = TypeVar("E", bound=DomainEvent)
_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _check_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ValueError("ids are 1-128 characters of A-Z a-z 0-9 . _ : -")
    return value


EventId = Annotated[str, AfterValidator(_check_id)]


class Envelope(BaseModel, Generic[E]):
    """One recorded event. ``position`` is its sequence in the log, set when read back."""

    model_config = ConfigDict(frozen=True)

    id: EventId
    type: str
    schema_version: int = Field(ge=1)
    source: str = Field(min_length=1, max_length=256)
    aggregate: AggregateRef
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    actor: Actor
    correlation_id: EventId
    causation_id: EventId | None = None
    command_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{16,64}$")
    data: E
    position: int | None = None

    @property
    def subject(self) -> str:
        """The CloudEvents ``subject``."""
        return self.aggregate.cloudevents_subject


def new_event_id() -> str:
    return uuid.uuid4().hex


def new_envelope(
    data: E,
    *,
    aggregate: AggregateRef,
    actor: str,
    source: str,
    recorded_at: datetime,
    occurred_at: datetime | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
    command_hash: str | None = None,
) -> Envelope[E]:
    """Wrap a domain event. Pass ``event_id`` when it must be deterministic (idempotent retries)."""
    eid = event_id or new_event_id()
    return Envelope[E](
        id=eid,
        type=type(data).TYPE,
        schema_version=type(data).VERSION,
        source=source,
        aggregate=aggregate,
        occurred_at=occurred_at or recorded_at,
        recorded_at=recorded_at,
        actor=actor,
        correlation_id=correlation_id or eid,
        causation_id=causation_id,
        command_hash=command_hash,
        data=data,
    )


def deterministic_id(*parts: str) -> str:
    """A stable event id derived from its cause, so a retried decision yields the same id and
    JetStream's ``Nats-Msg-Id`` deduplication turns the retry into a no-op."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "bondgenoten:" + "|".join(parts)).hex
