"""Escalation and rapid convening (opschalen en snel bijeenroepen).

The aggregate is a *slot*: one per area × theme (``escalation/<area>/<area>_<theme>``). A slot
holds successive escalations; the n-th is ``<area>_<theme>-<n>``, so ids are deterministic and a
retried decision yields the same id. Every event carries its ``escalation_id``.

Privacy: nothing here names a person. Ally ids are pseudonymous, ``communities`` are community
*keys* (which constituencies are affected or covered), never tied to an ally's contact data, and
recipients are functions (piket-rollen) with functional addresses. The situation picture carries
signal ids, roles and levels only, no free text from reporters. The only free text an alert
carries is the opening's ``reason``, written by the police or municipality staff who declared
(or the workflow's summary): it reaches the crisis organisation's recipients.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from events.base import DomainEvent, event
from events.envelope import (
    Actor,
    AggregateRef,
    AreaCode,
    AwareDatetime,
    Token,
    deterministic_id,
)
from events.network import DutyRole
from events.notification import ChannelName
from events.personal import ErasedPersonal
from events.signals import Community, Evidence, SourceRole, TensionLevel, Theme
from events.upcasting import upcaster

# Free text (reasons, notes, a place) is a plain ``str`` here and timestamps the lenient
# ``AwareDatetime``, on purpose: these models decode the events already in the log, and what was
# recorded before input was checked strictly must stay readable. The commands that make these
# events check strictly (``domain.escalation``: ``VisibleText``, ``InputDatetime``).

ESCALATION_KIND = "escalation"

Band = Literal["normal", "elevated", "high", "critical"]
"""Tension bands (normaal, verhoogd, hoog, kritiek), the same codes as the tension map's."""
BANDS: tuple[Band, ...] = ("normal", "elevated", "high", "critical")
Trend = Literal["rising", "steady", "falling"]
Trigger = Literal["band_crossed", "declared", "major_incident", "slow_burn"]
ConveningMode = Literal["in_person", "call", "app_group"]
RsvpAnswer = Literal["attending", "not_attending", "later"]

# Longer than a subject token: "<area>_<theme>-<n>" may exceed 64 characters.
EscalationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
Grip = Annotated[int, Field(ge=0, le=5)]
"""GRIP 0 (routine) … 5 (several regions): the Dutch incident coordination levels."""


_BAND_RANK: dict[str, int] = {b: i for i, b in enumerate(BANDS)}


def band_rank(band: Band) -> int:
    return _BAND_RANK[band]


def slot_id(area: str, theme: str) -> str:
    return f"{area}_{theme}"


def slot_ref(area: str, theme: str) -> AggregateRef:
    """The slot aggregate; raises ``ValidationError`` if area + theme exceed a subject token."""
    return AggregateRef(kind=ESCALATION_KIND, area=area, id=slot_id(area, theme))


def escalation_id_for(area: str, theme: str, n: int) -> str:
    return f"{slot_id(area, theme)}-{n}"


def slot_of_escalation(escalation_id: str) -> tuple[str, str] | None:
    """``GM0034-stad_demonstration-2`` -> (``GM0034-stad``, ``demonstration``); ``None`` if
    the id is not shaped like one."""
    slot = escalation_id.rsplit("-", 1)[0]
    area, _, theme = slot.partition("_")
    return (area, theme) if area and theme else None


# Levels count from 1 since schema v2 of the alert events; before, from 0. The ids of v1 alerts
# and timers are in the log (receipts, scheduled timers) under the old numbering, so the ids of
# the new one are derived in another namespace: level 1 now never yields the id level 1 (the
# second level) had then.


def alert_id_for(escalation_id: str, level: int, round_: int) -> str:
    """The id of the alert of ``level`` (1-based) and ``round_`` of an escalation."""
    return deterministic_id("alert-v2", escalation_id, str(level), str(round_))


def ack_timer_id_for(escalation_id: str, level: int, round_: int) -> str:
    """The id of the acknowledgement timer of ``level`` (1-based) and ``round_``."""
    return deterministic_id("ack-timer-v2", escalation_id, str(level), str(round_))


def rsvp_timer_id_for(convening_id: str, purpose: Literal["reminder", "deadline"]) -> str:
    return deterministic_id("rsvp-timer", purpose, convening_id)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Recipient(_Frozen):
    """A function to alert (piket, e.g. ``oov-piket``), never a person. ``name`` is a token: it
    appears in delivery receipts and idempotency keys. ``channels`` are tried in order
    (fallback). Addresses are contact data: kept out of ``repr`` and never logged."""

    name: Token
    label: str = Field(default="", max_length=120)
    channels: tuple[ChannelName, ...] = Field(min_length=1)
    addresses: dict[ChannelName, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_channel_twice(self) -> Self:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"recipient {self.name!r} lists a channel twice")
        return self

    def address(self, channel: str) -> str | None:
        return self.addresses.get(channel)

    def __repr__(self) -> str:
        return f"Recipient(name={self.name!r}, channels={self.channels!r})"

    __str__ = __repr__


class ContributingSignal(_Frozen):
    signal_id: Token
    role: SourceRole
    evidence: Evidence
    level: int = Field(ge=TensionLevel.MIN, le=TensionLevel.MAX)


class CallListSummary(_Frozen):
    """How many allies can be called now, and how many duty contacts each role has."""

    callable_allies: int = Field(ge=0)
    duty_contacts: dict[DutyRole, int] = Field(default_factory=dict)


class SituationPicture(_Frozen):
    """The picture (beeld) an alert carries so the crisis organisation can act on it at once."""

    area: AreaCode
    area_name: str = Field(min_length=1, max_length=120)
    themes: tuple[Theme, ...] = Field(min_length=1)
    band: Band
    trend: Trend
    score: float = Field(ge=0)
    as_of: AwareDatetime
    contributing: tuple[ContributingSignal, ...] = ()
    call_list_summary: CallListSummary
    coverage_gaps: tuple[Community, ...] = ()
    communities: tuple[Community, ...] = ()
    """Affected communities named in the signals (about the incident, not about a person)."""
    suggested_grip: Grip = 0
    escalation_id: EscalationId | None = None
    """Filled in by the decider: the caller builds the picture before the id exists."""


class _EscalationEvent(DomainEvent):
    escalation_id: EscalationId


@event
class EscalationOpened(_EscalationEvent):
    TYPE = "nl.bondgenoten.escalation.opened"

    area: AreaCode
    theme: Theme
    trigger: Trigger
    band: Band
    reason: str = Field(min_length=1, max_length=500)
    signal_ids: tuple[Token, ...] = ()
    suggested_grip: Grip
    opened_at: AwareDatetime


@event
class SignalJoined(_EscalationEvent):
    TYPE = "nl.bondgenoten.escalation.signal-joined"

    signal_id: Token
    band: Band
    """The band of the slot's cell now, with this signal."""
    communities: tuple[Community, ...] = ()
    """Affected communities this signal names."""
    suggested_grip: Grip | None = None
    """The GRIP suggestion of the situation now (``None``: recorded before joins carried it)."""


@event
class CrisisAlertIssued(_EscalationEvent):
    """Alert the crisis organisation. ``level`` is the policy's level, counted from 1 (level 1
    = the policy's first level), as people count them.

    v2: ``level`` counts from 1 (v1 counted from 0; see the upcaster below)."""

    TYPE = "nl.bondgenoten.escalation.crisis-alert-issued"
    VERSION = 2

    level: int = Field(ge=1)
    round: int = Field(ge=1)
    alert_id: str
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    situation: SituationPicture
    ack_timeout_s: float = Field(gt=0)
    trigger: Trigger | None = None
    """What opened the escalation, on every round and level (``None``: recorded before alerts
    carried it)."""
    reason: str = Field(default="", max_length=500)
    """The opening's reason, on every round and level: why police or municipality declared it
    (``""``: recorded before alerts carried it)."""


@event
class AckTimerSet(_EscalationEvent):
    """v2: ``level`` counts from 1, like :class:`CrisisAlertIssued`'s."""

    TYPE = "nl.bondgenoten.escalation.ack-timer-set"
    VERSION = 2

    timer_id: str
    level: int = Field(ge=1)
    round: int = Field(ge=1)
    due_at: AwareDatetime


@event
class AckTimeoutElapsed(_EscalationEvent):
    """Nobody acknowledged in time. ``exhausted``: no further level, the alert chain ends here.

    v2: ``level`` counts from 1, like :class:`CrisisAlertIssued`'s."""

    TYPE = "nl.bondgenoten.escalation.ack-timeout-elapsed"
    VERSION = 2

    timer_id: str
    level: int = Field(ge=1)
    round: int = Field(ge=1)
    exhausted: bool = False


@upcaster(CrisisAlertIssued.TYPE, from_version=1)
@upcaster(AckTimerSet.TYPE, from_version=1)
@upcaster(AckTimeoutElapsed.TYPE, from_version=1)
def _level_from_one(data: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2 of the alert ladder's events: level 0 (the policy's first) becomes level 1.
    Their ids (``alert_id``, ``timer_id``) stay as recorded: receipts and timers use them.
    A payload without an integer level is left for validation to refuse, naming the field."""
    level = data.get("level")
    if not isinstance(level, int) or isinstance(level, bool):
        return data
    return {**data, "level": level + 1}


@event
class EscalationAcknowledged(_EscalationEvent):
    TYPE = "nl.bondgenoten.escalation.acknowledged"

    by: Actor
    note: str = Field(default="", max_length=500)


@event
class ConveningCalled(_EscalationEvent):
    """The network is called together (bijeenroepen). The timer ids and times let a scheduler
    set the reminder and deadline timers from this event alone."""

    TYPE = "nl.bondgenoten.escalation.convening-called"

    convening_id: Token
    starts_at: AwareDatetime
    mode: ConveningMode
    place: str = Field(default="", max_length=200)
    invited: tuple[Token, ...] = Field(min_length=1)
    required_communities: tuple[Community, ...] = ()
    quorum: int = Field(ge=1)
    rsvp_deadline: AwareDatetime
    remind_at: AwareDatetime | None = None
    reminder_timer_id: str
    deadline_timer_id: str
    supersedes: Token | None = None
    """A pending convening this one replaces (moved): its invitees are told it is off."""


class RsvpPersonal(_Frozen):
    """Personal data of an answer: which of the required communities this ally covers.

    An affiliation can reveal religion or origin (special-category data), so it is kept apart
    like ``AllyPersonal``, sealed under the ally's key, and minimised to what the quorum needs."""

    communities: tuple[Community, ...] = ()


@event
class RsvpRecorded(_EscalationEvent):
    """An ally's answer; a later answer replaces an earlier one. ``personal.communities`` is
    recorded with it so the quorum can be checked on replay without a lookup.

    v2: ``communities`` moved into ``personal`` (see the upcaster below)."""

    TYPE = "nl.bondgenoten.escalation.rsvp-recorded"
    VERSION = 2
    PERSONAL_OWNER: ClassVar[tuple[str, str]] = ("ally", "ally_id")

    convening_id: Token
    ally_id: Token
    answer: RsvpAnswer
    personal: RsvpPersonal | ErasedPersonal = RsvpPersonal()


@upcaster(RsvpRecorded.TYPE, from_version=1)
def _rsvp_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    communities = data.pop("communities", [])
    return {**data, "personal": {"communities": communities}}


@event
class RsvpReminderDue(_EscalationEvent):
    TYPE = "nl.bondgenoten.escalation.rsvp-reminder-due"

    convening_id: Token
    timer_id: str
    not_answered: tuple[Token, ...]
    """Invited allies without a definite answer (none or "later"): whom to remind."""


@event
class RsvpDeadlinePassed(_EscalationEvent):
    TYPE = "nl.bondgenoten.escalation.rsvp-deadline-passed"

    convening_id: Token
    timer_id: str
    quorate: bool
    attending: tuple[Token, ...] = ()
    missing_communities: tuple[Community, ...] = ()


@event
class ConveningQuorate(_EscalationEvent):
    TYPE = "nl.bondgenoten.escalation.convening-quorate"

    convening_id: Token
    attending: tuple[Token, ...]
    covered_communities: tuple[Community, ...]


@event
class Convened(_EscalationEvent):
    """The meeting actually took place (or started), with who was there."""

    TYPE = "nl.bondgenoten.escalation.convened"

    convening_id: Token
    attending: tuple[Token, ...]


class _ByReason(_EscalationEvent):
    by: Actor
    reason: str = Field(default="", max_length=500)


@event
class EscalationDeEscalated(_ByReason):
    """Tension is going down: stop the alert chain, keep the slot open (afschalen)."""

    TYPE = "nl.bondgenoten.escalation.de-escalated"


@event
class EscalationResolved(_ByReason):
    """The incident is over; the slot stays open for after-care (nazorg) until closed."""

    TYPE = "nl.bondgenoten.escalation.resolved"


@event
class EscalationClosed(_ByReason):
    """The escalation is finished; the next signal for the slot opens escalation n + 1."""

    TYPE = "nl.bondgenoten.escalation.closed"

    closed_at: AwareDatetime | None = None
    """Signals recorded before this moment belong to this incident and open no new one."""
    cancelled_convening: Token | None = None
    """A convening still to take place: its invitees are told it is off."""


ESCALATION_EVENTS: tuple[type[DomainEvent], ...] = (
    EscalationOpened,
    SignalJoined,
    CrisisAlertIssued,
    AckTimerSet,
    AckTimeoutElapsed,
    EscalationAcknowledged,
    ConveningCalled,
    RsvpRecorded,
    RsvpReminderDue,
    RsvpDeadlinePassed,
    ConveningQuorate,
    Convened,
    EscalationDeEscalated,
    EscalationResolved,
    EscalationClosed,
)
