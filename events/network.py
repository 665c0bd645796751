"""Networks of allies (bondgenotennetwerken) and their membership.

Contact details and community affiliations are personal data; affiliations can reveal religion
or origin (special category, GDPR art. 9). They live only in the ``personal`` parts below,
which are stored sealed under a key per ally (per duty contact) and read as
:class:`events.personal.ErasedPersonal` once that key is destroyed (:class:`AllyErased`); see
:mod:`events.personal`. The rest of each event holds pseudonymous ids only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from events.base import DomainEvent, event
from events.envelope import AreaCode, AwareDatetime, Token
from events.personal import ErasedPersonal
from events.signals import Community, Theme

# Free text here (names, a function, reasons, notes) is a plain ``str`` with a length limit, on
# purpose. These models also decode the events already in the log, and text recorded before
# input was checked for control and invisible characters must stay readable: a stricter type
# would turn such an event into a poison message and its aggregate into one that cannot load.
# New text is checked strictly before an event is made: ``domain.input.VisibleText`` on the
# commands, and ``domain.network`` for the events the HTTP API reads as request bodies.

DEFAULT_SIZE_CAP = 15
MIN_SIZE_CAP = 10
MAX_SIZE_CAP = 15


class Availability(StrEnum):
    ALWAYS = "always"  # altijd bereikbaar
    OFFICE_HOURS = "office_hours"  # kantooruren
    EVENINGS = "evenings"  # avonden en weekend
    UNAVAILABLE = "unavailable"  # tijdelijk niet beschikbaar


class AllyPersonal(BaseModel):
    """Personal data of an ally: name, contact details and community affiliations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    phone: str = Field(pattern=r"^\+?[0-9 ()-]{8,20}$")
    email: EmailStr | None = None
    communities: tuple[Community, ...] = Field(default=(), max_length=10)


class DutyContactPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    phone: str = Field(pattern=r"^\+?[0-9 ()-]{8,20}$")
    email: EmailStr | None = None


class DutyRole(StrEnum):
    POLICE = "police"
    MUNICIPALITY = "municipality"


@event
class NetworkFormed(DomainEvent):
    TYPE = "nl.bondgenoten.network.formed"

    network_id: Token
    name: str = Field(min_length=1, max_length=120)
    area: AreaCode
    areas: tuple[AreaCode, ...] = Field(min_length=1)
    size_cap: int = Field(default=DEFAULT_SIZE_CAP, ge=MIN_SIZE_CAP, le=MAX_SIZE_CAP)


@event
class AllyEnrolled(DomainEvent):
    TYPE = "nl.bondgenoten.network.ally-enrolled"
    PERSONAL_OWNER: ClassVar[tuple[str, str]] = ("ally", "ally_id")

    network_id: Token
    ally_id: Token
    areas: tuple[AreaCode, ...] = Field(min_length=1)
    themes: tuple[Theme, ...] = ()
    availability: Availability = Availability.ALWAYS
    consent_to_be_called: bool
    personal: AllyPersonal | ErasedPersonal


@event
class AllyLeft(DomainEvent):
    TYPE = "nl.bondgenoten.network.ally-left"

    network_id: Token
    ally_id: Token
    reason: str = Field(default="", max_length=200)


@event
class AllyErased(DomainEvent):
    """The ally's personal data was erased (their key destroyed) at their request or by the
    coordinator: every earlier event now reads their personal part as erased. They are no
    longer a member; their id (a pseudonymous token) stays, so their signals stay theirs.
    ``reason`` is the coordinator's short note (never the ally's data)."""

    TYPE = "nl.bondgenoten.network.ally-erased"

    network_id: Token
    ally_id: Token
    reason: str = Field(min_length=1, max_length=200)


@event
class AllyAvailabilityChanged(DomainEvent):
    TYPE = "nl.bondgenoten.network.ally-availability-changed"

    network_id: Token
    ally_id: Token
    availability: Availability


@event
class DutyContactAssigned(DomainEvent):
    """The on-duty police or municipality professional for a network (e.g. wijkagent, OOV-adviseur).
    Assigning a new one replaces the previous holder of that role."""

    TYPE = "nl.bondgenoten.network.duty-contact-assigned"
    PERSONAL_OWNER: ClassVar[tuple[str, str]] = ("contact", "contact_id")

    network_id: Token
    role: DutyRole
    contact_id: Token
    function: str = Field(min_length=1, max_length=80)
    personal: DutyContactPersonal | ErasedPersonal


class CallOutcome(StrEnum):
    REACHED = "reached"  # bereikt
    NO_ANSWER = "no_answer"  # geen gehoor
    CALL_BACK_LATER = "call_back_later"  # later terugbellen


@event
class CallOutcomeRecorded(DomainEvent):
    """Someone called an ally from a call list (belt een bondgenoot) and recorded the result."""

    TYPE = "nl.bondgenoten.contact.call-outcome-recorded"

    network_id: Token
    ally_id: Token
    outcome: CallOutcome
    caller: Token
    escalation_id: Token | None = None
    note: str = Field(default="", max_length=500)


# ---------------------------------------------------------------- network lifecycle
# A network lives in peacetime: it meets 4-6 times a year under a rotating independent chair,
# evaluates every half year who sits at the table, is steered by a core group of police and
# municipality staff, and its professional seats are handed over when their holders change
# jobs. None of these events carries personal data: people are named by their ids only (the
# duty contact's details travel in ``DutyContactAssigned``, sealed), topics and notes are the
# coordinator's words about the meeting, not about people.

MIN_MEETINGS_PER_YEAR = 4
MAX_MEETINGS_PER_YEAR = 6
DEFAULT_MEETINGS_PER_YEAR = 4


class EvaluationOutcome(StrEnum):
    COMPOSITION_RIGHT = "composition_right"  # de juiste mensen zitten aan tafel
    CHANGES_NEEDED = "changes_needed"  # samenstelling aanpassen (werven, afscheid nemen)


@event
class NetworkSettingsChanged(DomainEvent):
    """Per-network settings: the size cap (10-15), the meetings aimed for per year (4-6) and
    the communities of the area the network should represent (its composition mirrors the
    local population)."""

    TYPE = "nl.bondgenoten.network.settings-changed"

    network_id: Token
    size_cap: int = Field(ge=MIN_SIZE_CAP, le=MAX_SIZE_CAP)
    meetings_per_year: int = Field(ge=MIN_MEETINGS_PER_YEAR, le=MAX_MEETINGS_PER_YEAR)
    communities: tuple[Community, ...] = Field(default=(), max_length=30)


@event
class MeetingPlanned(DomainEvent):
    """A network meeting planned: when, where (neutral ground) and who chairs it (an id)."""

    TYPE = "nl.bondgenoten.network.meeting-planned"

    network_id: Token
    meeting_id: Token
    starts_at: AwareDatetime
    place: str = Field(min_length=1, max_length=200)
    chair: Token


@event
class MeetingChairAssigned(DomainEvent):
    """The chair of a planned meeting changed (the chair rotates)."""

    TYPE = "nl.bondgenoten.network.meeting-chair-assigned"

    network_id: Token
    meeting_id: Token
    chair: Token


@event
class MeetingHeld(DomainEvent):
    """A meeting took place: who attended (ids) and the topics discussed."""

    TYPE = "nl.bondgenoten.network.meeting-held"

    network_id: Token
    meeting_id: Token
    held_at: AwareDatetime
    attendance: tuple[Token, ...] = Field(default=(), max_length=40)
    topics: tuple[str, ...] = Field(default=(), max_length=20)


@event
class EvaluationRecorded(DomainEvent):
    """The half-yearly evaluation of who sits at the table, with its outcome."""

    TYPE = "nl.bondgenoten.network.evaluation-recorded"

    network_id: Token
    evaluated_at: AwareDatetime
    outcome: EvaluationOutcome
    recruit_communities: tuple[Community, ...] = Field(default=(), max_length=30)
    note: str = Field(default="", max_length=500)


@event
class CoreGroupMemberAdded(DomainEvent):
    """A police or municipality staff member joins the core group (kerngroep) that steers the
    network; ``function`` is their job title, never a name."""

    TYPE = "nl.bondgenoten.network.core-member-added"

    network_id: Token
    member_id: Token
    role: DutyRole
    function: str = Field(min_length=1, max_length=80)


@event
class CoreGroupMemberRemoved(DomainEvent):
    TYPE = "nl.bondgenoten.network.core-member-removed"

    network_id: Token
    member_id: Token


@event
class HandoverAnnounced(DomainEvent):
    """The holder of a professional seat (police, municipality) changes jobs and leaves on
    ``leaves_on``: the seat's handover is pending until a successor is introduced."""

    TYPE = "nl.bondgenoten.network.handover-announced"

    network_id: Token
    role: DutyRole
    contact_id: Token
    leaves_on: AwareDatetime


@event
class SuccessorIntroduced(DomainEvent):
    """The successor in a professional seat was introduced to the network. Recorded with the
    successor's ``DutyContactAssigned`` (their details, sealed) in one decision."""

    TYPE = "nl.bondgenoten.network.successor-introduced"

    network_id: Token
    role: DutyRole
    previous_contact_id: Token | None = None
    contact_id: Token


@event
class SeatVacated(DomainEvent):
    """The holder left without a successor: the seat is vacant until someone is assigned or
    introduced (never silently empty)."""

    TYPE = "nl.bondgenoten.network.seat-vacated"

    network_id: Token
    role: DutyRole
    contact_id: Token
    reason: str = Field(default="", max_length=200)


__all__ = [
    "AllyAvailabilityChanged",
    "AllyEnrolled",
    "AllyErased",
    "AllyLeft",
    "AllyPersonal",
    "Availability",
    "CallOutcome",
    "CallOutcomeRecorded",
    "CoreGroupMemberAdded",
    "CoreGroupMemberRemoved",
    "DutyContactAssigned",
    "DutyContactPersonal",
    "DutyRole",
    "ErasedPersonal",
    "EvaluationOutcome",
    "EvaluationRecorded",
    "HandoverAnnounced",
    "MeetingChairAssigned",
    "MeetingHeld",
    "MeetingPlanned",
    "NetworkFormed",
    "NetworkSettingsChanged",
    "SeatVacated",
    "SuccessorIntroduced",
    "Theme",
]
