"""The commands people and systems send: one input model per command, shared by HTTP and NATS.

Each model names its command (``escalation.acknowledge``: the NATS subject is
``<prefix>.cmd.escalation.acknowledge``, the HTTP route is documented with it) and which fields
an HTTP route takes from its path (``escalation_id`` in ``/escalations/{escalation_id}/…``).
Who sends it and the idempotency key travel beside the command, never inside it: the actor
comes from the channel (credentials), the key from ``Idempotency-Key`` (HTTP) or
``command_id`` (NATS).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.input import InputDatetime, VisibleText, VisibleTextOrEmpty
from domain.intake import SignalSubmission
from events.envelope import AreaCode, Token
from events.escalation import ConveningMode, EscalationId, RsvpAnswer
from events.mobilisation import MobilisationAnswer, MobilisationTask
from events.network import (
    DEFAULT_MEETINGS_PER_YEAR,
    DEFAULT_SIZE_CAP,
    MAX_MEETINGS_PER_YEAR,
    MAX_SIZE_CAP,
    MIN_MEETINGS_PER_YEAR,
    MIN_SIZE_CAP,
    AllyPersonal,
    Availability,
    CallOutcome,
    DutyContactPersonal,
    DutyRole,
    EvaluationOutcome,
)
from events.signals import Community, Theme


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    NAME: ClassVar[str]
    PATH: ClassVar[tuple[str, ...]] = ()
    """Fields an HTTP route takes from its path rather than from the body."""


class SubmitSignal(SignalSubmission, Command):
    """Report a signal (signaal melden)."""

    NAME = "signal.submit"


class SubmitUrgentSignal(SubmitSignal):
    """Report a major incident (melding van een groot incident): a signal with
    ``major_incident`` set, on a subject and workers of its own, so it never waits behind a
    queue of routine signals. (A major-incident signal sent as ``signal.submit`` is recorded
    the same; only its wait at the door differs.)"""

    NAME = "signal.submit-urgent"

    major_incident: Literal[True] = True


# ---------------------------------------------------------------- escalations


class DeclareEscalation(Command):
    """Police, municipality or crisis organisation declare an escalation (opschalen). While
    one is open for the area and theme, the declaration joins it."""

    NAME = "escalation.declare"

    area: AreaCode
    theme: Theme
    reason: VisibleText = Field(max_length=500)
    signal_id: Token | None = None
    communities: tuple[Community, ...] = Field(default=(), max_length=10)
    major_incident: bool = False


class _OnEscalation(Command):
    PATH = ("escalation_id",)

    escalation_id: EscalationId


class AcknowledgeEscalation(_OnEscalation):
    """Acknowledge an alert: someone is on it, the alert ladder stops."""

    NAME = "escalation.acknowledge"

    note: VisibleTextOrEmpty = Field(default="", max_length=500)


class DeEscalate(_OnEscalation):
    """Tension is going down: stop the alert chain, keep the escalation open (afschalen)."""

    NAME = "escalation.de-escalate"

    reason: VisibleTextOrEmpty = Field(default="", max_length=500)


class ResolveEscalation(_OnEscalation):
    """The incident is over; the escalation stays open for aftercare until closed."""

    NAME = "escalation.resolve"

    reason: VisibleTextOrEmpty = Field(default="", max_length=500)


class CloseEscalation(_OnEscalation):
    """Close the escalation; a pending convening is called off."""

    NAME = "escalation.close"

    reason: VisibleTextOrEmpty = Field(default="", max_length=500)


class CallConvening(_OnEscalation):
    """Convene the network (bijeenroepen). What is left out comes from the workflow's
    proposal (``GET /escalations/{id}/convening-proposal``)."""

    NAME = "escalation.call-convening"

    starts_at: InputDatetime | None = None
    mode: ConveningMode | None = None
    place: VisibleTextOrEmpty | None = Field(default=None, max_length=200)
    communities: tuple[Community, ...] | None = Field(
        default=None, description="communities that must be at the table"
    )
    rsvp_deadline: InputDatetime | None = None
    quorum: int | None = Field(default=None, ge=1)
    invited: tuple[Token, ...] | None = None


class RecordRsvp(Command):
    """An ally's answer to a convening, received otherwise than through their own link (by
    phone): entered on their behalf."""

    NAME = "convening.record-rsvp"
    PATH = ("convening_id",)

    convening_id: Token
    ally_id: Token
    answer: RsvpAnswer


class MarkConvened(Command):
    """The meeting took place; ``attending`` defaults to those who said they would come."""

    NAME = "convening.mark-convened"
    PATH = ("convening_id",)

    convening_id: Token
    attending: tuple[Token, ...] | None = None


# ---------------------------------------------------------------- networks


class FormNetwork(Command):
    """Form a network of allies for an area (bondgenotennetwerk)."""

    NAME = "network.form"

    network_id: Token
    name: VisibleText = Field(max_length=120)
    area: AreaCode
    areas: tuple[AreaCode, ...] = Field(min_length=1, max_length=50)
    size_cap: int = Field(default=DEFAULT_SIZE_CAP, ge=MIN_SIZE_CAP, le=MAX_SIZE_CAP)


class _OnNetwork(Command):
    PATH: ClassVar[tuple[str, ...]] = ("network_id",)

    network_id: Token


class EnrollAlly(_OnNetwork):
    """Enrol an ally: personal data and community affiliations only with their consent."""

    NAME = "network.enroll-ally"

    ally_id: Token
    areas: tuple[AreaCode, ...] = Field(min_length=1, max_length=20)
    themes: tuple[Theme, ...] = Field(default=(), max_length=20)
    availability: Availability = Availability.ALWAYS
    consent_to_be_called: bool
    personal: AllyPersonal


class RemoveAlly(_OnNetwork):
    NAME = "network.remove-ally"
    PATH = ("network_id", "ally_id")

    ally_id: Token
    reason: VisibleTextOrEmpty = Field(default="", max_length=200)


class EraseAlly(_OnNetwork):
    """Erase an ally's personal data (their key is destroyed): every past event then reads it
    as erased. Final; the ally's signals stay, attributed to their pseudonymous id."""

    NAME = "network.erase-ally"
    PATH = ("network_id", "ally_id")

    ally_id: Token
    reason: VisibleText = Field(max_length=200)


class ChangeAvailability(_OnNetwork):
    NAME = "network.change-availability"
    PATH = ("network_id", "ally_id")

    ally_id: Token
    availability: Availability


class AssignDutyContact(_OnNetwork):
    """The on-duty police or municipality professional for a network; replaces the previous."""

    NAME = "network.assign-duty-contact"
    PATH = ("network_id", "role")

    role: DutyRole
    contact_id: Token
    function: VisibleText = Field(max_length=80)
    personal: DutyContactPersonal


class RecordCallOutcome(_OnNetwork):
    """Someone called an ally from a call list and records the result."""

    NAME = "network.record-call-outcome"

    ally_id: Token
    outcome: CallOutcome
    caller: Token
    escalation_id: EscalationId | None = None
    note: VisibleTextOrEmpty = Field(default="", max_length=500)
    occurred_at: InputDatetime | None = None


# ---------------------------------------------------------------- pulse checks, questions,
# mobilisation requests (commands an ally may send only for themselves set ``OWN_ANSWER``)


class StartPulseCheck(Command):
    """Ask a selection of allies how tense it is (thermometeren): by community, theme, area
    or by name (the allies found are recorded as the invited); answers are due by
    ``deadline``, later ones are recorded as late."""

    NAME = "pulse.start"

    pulse_id: Token
    area: AreaCode
    theme: Theme
    question: VisibleText = Field(max_length=500)
    deadline: InputDatetime
    asked_by: DutyRole | None = Field(
        default=None, description="police or municipality; defaults to the sender's role"
    )
    escalation_id: EscalationId | None = None
    communities: tuple[Community, ...] = Field(default=(), max_length=10)
    themes: tuple[Theme, ...] = Field(default=(), max_length=10)
    areas: tuple[AreaCode, ...] = Field(default=(), max_length=20)
    allies: tuple[Token, ...] = Field(default=(), max_length=60)


class RecordPulseAnswer(Command):
    """An ally's answer to a pulse check: tension level 1-5, a note, optional advice (their
    own through their link, or entered on their behalf)."""

    NAME = "pulse.record-answer"
    PATH = ("pulse_id",)
    OWN_ANSWER: ClassVar[bool] = True

    pulse_id: Token
    ally_id: Token
    level: int = Field(ge=1, le=5)
    note: VisibleTextOrEmpty = Field(default="", max_length=1000)
    advice: VisibleTextOrEmpty = Field(default="", max_length=1000)


class CompileFramework(Command):
    """Draw up the framework for action (handelingskader) from a pulse: the advice adopted
    (by ally id) and the measures; attached to the pulse's escalation and area."""

    NAME = "pulse.compile-framework"
    PATH = ("pulse_id",)

    pulse_id: Token
    title: VisibleText = Field(max_length=200)
    adopted: tuple[Token, ...] = Field(default=(), max_length=60)
    measures: tuple[VisibleText, ...] = Field(default=(), max_length=20)
    escalation_id: EscalationId | None = None


class RaiseQuestion(Command):
    """An ally raises a question of their constituency (through their link, or the call taker
    on their behalf); routed to police or municipality."""

    NAME = "question.raise"
    OWN_ANSWER: ClassVar[bool] = True

    question_id: Token
    network_id: Token
    ally_id: Token
    text: VisibleText = Field(max_length=1000)
    routed_to: DutyRole
    area: AreaCode | None = Field(default=None, description="defaults to the network's area")
    escalation_id: EscalationId | None = None


class AnswerQuestion(Command):
    NAME = "question.answer"
    PATH = ("question_id",)

    question_id: Token
    answer: VisibleText = Field(max_length=2000)


class RelayAnswer(Command):
    """The answer was brought back to the constituency: to whom (a description, no contact
    details) and when (default: now)."""

    NAME = "question.relay-answer"
    PATH = ("question_id",)

    question_id: Token
    to: VisibleText = Field(max_length=200)
    relayed_at: InputDatetime | None = None


class RequestMobilisation(Command):
    """Ask allies to start de-escalating conversations in the street or to relay an
    explanation (inzetverzoek): by community, theme or by name, among the callable allies of
    the area."""

    NAME = "mobilisation.request"

    request_id: Token
    area: AreaCode
    task: MobilisationTask
    message: VisibleText = Field(max_length=1000)
    respond_by: InputDatetime
    escalation_id: EscalationId | None = None
    communities: tuple[Community, ...] = Field(default=(), max_length=10)
    themes: tuple[Theme, ...] = Field(default=(), max_length=10)
    allies: tuple[Token, ...] = Field(default=(), max_length=60)


class AnswerMobilisation(Command):
    NAME = "mobilisation.answer"
    PATH = ("request_id",)
    OWN_ANSWER: ClassVar[bool] = True

    request_id: Token
    ally_id: Token
    answer: MobilisationAnswer


class ReportMobilisation(Command):
    """The ally's short report back after doing what was asked."""

    NAME = "mobilisation.report"
    PATH = ("request_id",)
    OWN_ANSWER: ClassVar[bool] = True

    request_id: Token
    ally_id: Token
    report: VisibleText = Field(max_length=1000)


# ---------------------------------------------------------------- network lifecycle


class ChangeNetworkSettings(_OnNetwork):
    """Per-network settings: size cap (10-15), meetings aimed for per year (4-6) and the
    communities of the area the network should represent."""

    NAME = "network.change-settings"

    size_cap: int = Field(ge=MIN_SIZE_CAP, le=MAX_SIZE_CAP)
    meetings_per_year: int = Field(
        default=DEFAULT_MEETINGS_PER_YEAR, ge=MIN_MEETINGS_PER_YEAR, le=MAX_MEETINGS_PER_YEAR
    )
    communities: tuple[Community, ...] = Field(default=(), max_length=30)


class NextMeeting(BaseModel):
    """The next meeting, planned right after one is held."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    meeting_id: Token
    starts_at: InputDatetime
    place: VisibleText = Field(max_length=200)
    chair: Token = Field(
        description="id of the independent chair (rotates; never police or "
        "municipality staff of the network)"
    )


class PlanMeeting(_OnNetwork):
    """Plan a network meeting: date, place (neutral ground) and the independent chair."""

    NAME = "network.plan-meeting"

    meeting_id: Token
    starts_at: InputDatetime
    place: VisibleText = Field(max_length=200)
    chair: Token


class AssignChair(_OnNetwork):
    """Another chair for a planned meeting (the chair rotates)."""

    NAME = "network.assign-chair"
    PATH = ("network_id", "meeting_id")

    meeting_id: Token
    chair: Token


Topic = Annotated[VisibleText, Field(max_length=120)]


class RecordMeeting(_OnNetwork):
    """A meeting took place: attendance (ids), topics, and the next one planned right after."""

    NAME = "network.record-meeting"
    PATH = ("network_id", "meeting_id")

    meeting_id: Token
    held_at: InputDatetime | None = Field(default=None, description="default: now")
    attendance: tuple[Token, ...] = Field(default=(), max_length=40)
    topics: tuple[Topic, ...] = Field(default=(), max_length=20)
    next_meeting: NextMeeting | None = None


class RecordEvaluation(_OnNetwork):
    """The half-yearly evaluation of who sits at the table, with its outcome."""

    NAME = "network.record-evaluation"

    outcome: EvaluationOutcome
    evaluated_at: InputDatetime | None = Field(default=None, description="default: now")
    recruit_communities: tuple[Community, ...] = Field(default=(), max_length=30)
    note: VisibleTextOrEmpty = Field(default="", max_length=500)


class AddCoreMember(_OnNetwork):
    """A police or municipality staff member joins the core group (kerngroep)."""

    NAME = "network.add-core-member"
    PATH = ("network_id", "member_id")

    member_id: Token
    role: DutyRole
    function: VisibleText = Field(max_length=80)


class RemoveCoreMember(_OnNetwork):
    NAME = "network.remove-core-member"
    PATH = ("network_id", "member_id")

    member_id: Token


class AnnounceHandover(_OnNetwork):
    """The police or municipality professional of the network changes jobs: the handover of
    the seat is pending until the successor is introduced."""

    NAME = "network.announce-handover"
    PATH = ("network_id", "role")

    role: DutyRole
    contact_id: Token
    leaves_on: InputDatetime


class IntroduceSuccessor(_OnNetwork):
    """The successor in a professional seat is introduced to the network (and becomes its
    duty contact): ends a pending handover or a vacancy."""

    NAME = "network.introduce-successor"
    PATH = ("network_id", "role")

    role: DutyRole
    contact_id: Token
    function: VisibleText = Field(max_length=80)
    personal: DutyContactPersonal


class VacateSeat(_OnNetwork):
    """The professional left without a successor: the seat is vacant until one is introduced."""

    NAME = "network.vacate-seat"
    PATH = ("network_id", "role")

    role: DutyRole
    reason: VisibleTextOrEmpty = Field(default="", max_length=200)


LIFECYCLE_COMMANDS: tuple[type[Command], ...] = (
    ChangeNetworkSettings,
    PlanMeeting,
    AssignChair,
    RecordMeeting,
    RecordEvaluation,
    AddCoreMember,
    RemoveCoreMember,
    AnnounceHandover,
    IntroduceSuccessor,
    VacateSeat,
)


COMMANDS: tuple[type[Command], ...] = (
    SubmitSignal,
    SubmitUrgentSignal,
    DeclareEscalation,
    AcknowledgeEscalation,
    DeEscalate,
    ResolveEscalation,
    CloseEscalation,
    CallConvening,
    RecordRsvp,
    MarkConvened,
    FormNetwork,
    EnrollAlly,
    RemoveAlly,
    EraseAlly,
    ChangeAvailability,
    AssignDutyContact,
    RecordCallOutcome,
    StartPulseCheck,
    RecordPulseAnswer,
    CompileFramework,
    RaiseQuestion,
    AnswerQuestion,
    RelayAnswer,
    RequestMobilisation,
    AnswerMobilisation,
    ReportMobilisation,
    *LIFECYCLE_COMMANDS,
)
"""Every command this service accepts, in the order the API documents them."""


def from_request(model: type[Command], path: dict[str, Any], body: Any) -> Command:
    """The command of an HTTP request: its path fields plus its body (which must not repeat
    them). Raises ``pydantic.ValidationError`` naming the fields the client sent."""
    data = dict(body) if isinstance(body, dict) else body
    if isinstance(data, dict):
        data.update(path)
    return model.model_validate(data)
