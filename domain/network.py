"""Network membership decider (bondgenotennetwerk): the consistency boundary for the size cap.

``decide(command, state) -> events`` refuses what the network's rules forbid; ``evolve`` folds
the network's own events into the small state those rules need (members, cap), nothing more.

Reported calls to allies (the contact log) have their own rules in :func:`decide_call_outcome`:
the ally is a member of the network and the call did not happen in the future.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

from domain.decider import Decider
from domain.errors import Conflict, DomainError, NotFound
from domain.input import VisibleText, VisibleTextOrEmpty
from domain.intake import FUTURE_TOLERANCE, FieldError, InvalidInput
from events.base import DomainEvent
from events.envelope import AwareDatetime
from events.network import (
    DEFAULT_MEETINGS_PER_YEAR,
    AllyAvailabilityChanged,
    AllyEnrolled,
    AllyErased,
    AllyLeft,
    CallOutcomeRecorded,
    CoreGroupMemberAdded,
    CoreGroupMemberRemoved,
    DutyContactAssigned,
    DutyRole,
    EvaluationRecorded,
    HandoverAnnounced,
    MeetingChairAssigned,
    MeetingHeld,
    MeetingPlanned,
    NetworkFormed,
    NetworkSettingsChanged,
    SeatVacated,
    SuccessorIntroduced,
)


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FormNetwork(_Command):
    event: NetworkFormed


class EnrollAlly(_Command):
    event: AllyEnrolled


class RemoveAlly(_Command):
    network_id: str
    ally_id: str
    reason: VisibleTextOrEmpty = Field(default="", max_length=200)


class EraseAlly(_Command):
    """Erase a member's or former member's personal data; once is enough (idempotent)."""

    network_id: str
    ally_id: str
    reason: VisibleText = Field(max_length=200)


class ChangeAvailability(_Command):
    event: AllyAvailabilityChanged


class AssignDutyContact(_Command):
    event: DutyContactAssigned


# ---------------------------------------------------------------- lifecycle commands
# ``now`` is the clock when the command is decided: meetings are planned in the future,
# what happened (a meeting held, an evaluation) is not recorded in the future.


class ChangeSettings(_Command):
    event: NetworkSettingsChanged


class PlanMeeting(_Command):
    event: MeetingPlanned
    now: AwareDatetime


class AssignChair(_Command):
    event: MeetingChairAssigned


class RecordMeeting(_Command):
    """A meeting took place; ``next_meeting``: the next one, planned right after."""

    event: MeetingHeld
    next_meeting: MeetingPlanned | None = None
    now: AwareDatetime


class RecordEvaluation(_Command):
    event: EvaluationRecorded
    now: AwareDatetime


class AddCoreMember(_Command):
    event: CoreGroupMemberAdded


class RemoveCoreMember(_Command):
    event: CoreGroupMemberRemoved


class AnnounceHandover(_Command):
    event: HandoverAnnounced


class IntroduceSuccessor(_Command):
    """The successor takes the seat: their ``DutyContactAssigned`` and a
    ``SuccessorIntroduced`` naming whom they follow (from the state)."""

    assigned: DutyContactAssigned


class VacateSeat(_Command):
    network_id: str
    role: DutyRole
    reason: VisibleTextOrEmpty = Field(default="", max_length=200)


LifecycleCommand = (
    ChangeSettings
    | PlanMeeting
    | AssignChair
    | RecordMeeting
    | RecordEvaluation
    | AddCoreMember
    | RemoveCoreMember
    | AnnounceHandover
    | IntroduceSuccessor
    | VacateSeat
)

NetworkCommand = (
    FormNetwork
    | EnrollAlly
    | RemoveAlly
    | EraseAlly
    | ChangeAvailability
    | AssignDutyContact
    | LifecycleCommand
)


# ---------------------------------------------------------------- text people typed
# The commands above carry events, and the HTTP API reads those events' own models as request
# bodies. The event models keep free text lenient (events in the log must stay readable, see
# events/network.py), so the text of a *new* event is checked here, strictly, against a model
# of just its typed fields. The error locations are the event's field paths, which are the
# fields the client sent ("name", "personal.name", "function", "note").


class _TypedText(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _PersonalText(_TypedText):
    name: VisibleText


class _FormedText(_TypedText):
    name: VisibleText


class _EnrolledText(_TypedText):
    personal: _PersonalText


class _DutyContactText(_TypedText):
    function: VisibleText
    personal: _PersonalText


class _CallText(_TypedText):
    note: VisibleTextOrEmpty


def _check_text(shape: type[_TypedText], event: DomainEvent) -> None:
    """Raises pydantic's ``ValidationError`` naming the field, like a request model would."""
    shape.model_validate(event.model_dump())


@dataclass(frozen=True)
class NetworkState:
    network_id: str | None = None
    area: str | None = None
    areas: frozenset[str] = field(default_factory=frozenset)
    size_cap: int = 0
    members: frozenset[str] = field(default_factory=frozenset)
    enrolled: frozenset[str] = field(default_factory=frozenset)
    """Everyone ever enrolled here (members and former members): whose data the log holds."""
    erased: frozenset[str] = field(default_factory=frozenset)
    meetings_per_year: int = DEFAULT_MEETINGS_PER_YEAR
    planned: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Meetings planned and not yet held: meeting id -> chair."""
    held: frozenset[str] = field(default_factory=frozenset)
    last_chair: str | None = None
    """Who chaired the last meeting held: the next one is chaired by someone else."""
    core_group: frozenset[str] = field(default_factory=frozenset)
    seats: Mapping[DutyRole, str] = field(default_factory=lambda: MappingProxyType({}))
    """Professional seats held: role -> contact id (absent: vacant)."""
    leaving: frozenset[DutyRole] = field(default_factory=frozenset)
    """Seats whose holder announced leaving (handover pending)."""

    @property
    def exists(self) -> bool:
        return self.network_id is not None

    @property
    def professionals(self) -> frozenset[str]:
        return self.core_group | frozenset(self.seats.values())


INITIAL = NetworkState()


def decide(command: NetworkCommand, state: NetworkState) -> Sequence[DomainEvent]:
    if isinstance(command, FormNetwork):
        _check_text(_FormedText, command.event)
        if state.exists:
            raise Conflict(f"network {state.network_id} already exists", field="network_id")
        return [command.event]
    if not state.exists:
        raise NotFound("unknown network", field="network_id")
    if isinstance(command, EnrollAlly):
        _check_text(_EnrolledText, command.event)
        ally = command.event.ally_id
        if ally in state.erased:
            # Their key is destroyed for good: a new enrolment needs a new id.
            raise Conflict(f"ally {ally} was erased; enrol with a new id", field="ally_id")
        if ally in state.members:
            raise Conflict(f"ally {ally} is already a member", field="ally_id")
        if len(state.members) >= state.size_cap:
            raise DomainError(
                f"network is full: {len(state.members)} of at most {state.size_cap} allies",
                field="network_id",
            )
        return [command.event]
    if isinstance(command, EraseAlly):
        return decide_erasure(command, state)
    if isinstance(
        command,
        ChangeSettings
        | PlanMeeting
        | AssignChair
        | RecordMeeting
        | RecordEvaluation
        | AddCoreMember
        | RemoveCoreMember
        | AnnounceHandover
        | IntroduceSuccessor
        | VacateSeat,
    ):
        return decide_lifecycle(command, state)
    if isinstance(command, RemoveAlly | ChangeAvailability):
        ally = command.ally_id if isinstance(command, RemoveAlly) else command.event.ally_id
        if ally not in state.members:
            raise NotFound(f"ally {ally} is not a member", field="ally_id")
        if isinstance(command, RemoveAlly):
            return [AllyLeft(network_id=command.network_id, ally_id=ally, reason=command.reason)]
        return [command.event]
    _check_text(_DutyContactText, command.event)
    return [command.event]  # AssignDutyContact: a new holder replaces the previous one


def decide_erasure(command: EraseAlly, state: NetworkState) -> Sequence[DomainEvent]:
    """An ally of this network (now or before) is erased once; asking again changes nothing."""
    ally = command.ally_id
    if ally in state.erased:
        return []
    if ally not in state.enrolled:
        raise NotFound(f"ally {ally} was never a member", field="ally_id")
    return [AllyErased(network_id=command.network_id, ally_id=ally, reason=command.reason)]


# ---------------------------------------------------------------- lifecycle rules

TIME_TOLERANCE = FUTURE_TOLERANCE
"""Clock skew allowed on times people give (a meeting "now", an evaluation "just now")."""


def _in_future(name: str, at: datetime, now: datetime) -> None:
    if at > now + TIME_TOLERANCE:
        raise InvalidInput([FieldError(name, "lies in the future", "in_future")])


def _check_plan(planned: MeetingPlanned, state: NetworkState, now: datetime, name: str) -> None:
    if planned.meeting_id in state.planned or planned.meeting_id in state.held:
        raise Conflict(f"meeting {planned.meeting_id} already exists", field=f"{name}meeting_id")
    if planned.starts_at < now - TIME_TOLERANCE:
        field_ = f"{name}starts_at"
        raise InvalidInput([FieldError(field_, "a meeting is planned ahead", "in_past")])
    _check_chair(planned.chair, state, f"{name}chair")


def _check_chair(chair: str, state: NetworkState, name: str = "chair") -> None:
    """The chair is independent (not police or municipality staff of this network) and
    rotates (not who chaired the last meeting)."""
    if chair in state.professionals:
        raise DomainError("the chair is independent: not police or municipality", field=name)
    if chair == state.last_chair:
        raise DomainError(f"the chair rotates: {chair} chaired the last meeting", field=name)


def decide_lifecycle(command: LifecycleCommand, state: NetworkState) -> Sequence[DomainEvent]:
    """Meetings, chair, evaluation, core group, professional seats and settings."""
    if isinstance(command, ChangeSettings):
        cap = command.event.size_cap
        if cap < len(state.members):
            raise Conflict(
                f"the network has {len(state.members)} allies, more than a cap of {cap}",
                field="size_cap",
            )
        return [command.event]
    if isinstance(command, PlanMeeting):
        _check_plan(command.event, state, command.now, "")
        return [command.event]
    if isinstance(command, AssignChair):
        meeting = command.event.meeting_id
        if meeting in state.held:
            raise Conflict(f"meeting {meeting} was already held", field="meeting_id")
        if meeting not in state.planned:
            raise NotFound(f"unknown meeting {meeting}", field="meeting_id")
        if state.planned[meeting] == command.event.chair:
            return []  # already chairs it
        _check_chair(command.event.chair, state)
        return [command.event]
    if isinstance(command, RecordMeeting):
        return _decide_held(command, state)
    if isinstance(command, RecordEvaluation):
        _in_future("evaluated_at", command.event.evaluated_at, command.now)
        return [command.event]
    if isinstance(command, AddCoreMember):
        if command.event.member_id in state.core_group:
            raise Conflict(f"{command.event.member_id} is in the core group", field="member_id")
        return [command.event]
    if isinstance(command, RemoveCoreMember):
        if command.event.member_id not in state.core_group:
            raise NotFound(f"{command.event.member_id} is not in the core group", field="member_id")
        return [command.event]
    if isinstance(command, AnnounceHandover):
        e = command.event
        if state.seats.get(e.role) != e.contact_id:
            raise NotFound(f"{e.contact_id} does not hold the {e.role} seat", field="contact_id")
        if e.role in state.leaving:
            raise Conflict(f"the handover of the {e.role} seat is already pending", field="role")
        return [e]
    if isinstance(command, IntroduceSuccessor):
        a = command.assigned
        previous = state.seats.get(a.role)
        if previous == a.contact_id:
            raise Conflict(f"{a.contact_id} already holds the {a.role} seat", field="contact_id")
        introduced = SuccessorIntroduced(
            network_id=a.network_id,
            role=a.role,
            previous_contact_id=previous,
            contact_id=a.contact_id,
        )
        return [a, introduced]
    holder = state.seats.get(command.role)
    if holder is None:
        raise NotFound(f"the {command.role} seat is already vacant", field="role")
    return [
        SeatVacated(
            network_id=command.network_id,
            role=command.role,
            contact_id=holder,
            reason=command.reason,
        )
    ]


def _decide_held(command: RecordMeeting, state: NetworkState) -> Sequence[DomainEvent]:
    held = command.event
    if held.meeting_id in state.held:
        raise Conflict(f"meeting {held.meeting_id} was already recorded", field="meeting_id")
    if held.meeting_id not in state.planned:
        raise NotFound(f"unknown meeting {held.meeting_id}; plan it first", field="meeting_id")
    _in_future("held_at", held.held_at, command.now)
    known = state.members | state.professionals | {state.planned[held.meeting_id]}
    strangers = sorted(set(held.attendance) - known)
    if strangers:
        raise DomainError(f"not of this network: {strangers}", field="attendance")
    events: list[DomainEvent] = [held]
    if command.next_meeting is not None:
        after = evolve(state, held)
        nxt = command.next_meeting
        if nxt.starts_at <= held.held_at:
            raise InvalidInput(
                [FieldError("next_meeting.starts_at", "after the meeting held", "not_after")]
            )
        _check_plan(nxt, after, command.now, "next_meeting.")
        events.append(nxt)
    return events


def _without(mapping: Mapping[str, str], key: str) -> Mapping[str, str]:
    return MappingProxyType({k: v for k, v in mapping.items() if k != key})


def _lifecycle(state: NetworkState, event: DomainEvent) -> NetworkState:
    match event:
        case NetworkSettingsChanged():
            return replace(
                state, size_cap=event.size_cap, meetings_per_year=event.meetings_per_year
            )
        case MeetingPlanned() | MeetingChairAssigned():
            planned = {**state.planned, event.meeting_id: event.chair}
            return replace(state, planned=MappingProxyType(planned))
        case MeetingHeld():
            chair = state.planned.get(event.meeting_id, state.last_chair)
            return replace(
                state,
                planned=_without(state.planned, event.meeting_id),
                held=state.held | {event.meeting_id},
                last_chair=chair,
            )
        case CoreGroupMemberAdded():
            return replace(state, core_group=state.core_group | {event.member_id})
        case CoreGroupMemberRemoved():
            return replace(state, core_group=state.core_group - {event.member_id})
        case DutyContactAssigned():
            seats = {**state.seats, event.role: event.contact_id}
            return replace(
                state, seats=MappingProxyType(seats), leaving=state.leaving - {event.role}
            )
        case HandoverAnnounced():
            return replace(state, leaving=state.leaving | {event.role})
        case SeatVacated():
            seats = {r: c for r, c in state.seats.items() if r is not event.role}
            return replace(
                state, seats=MappingProxyType(seats), leaving=state.leaving - {event.role}
            )
        case _:
            return state


def evolve(state: NetworkState, event: DomainEvent) -> NetworkState:
    match event:
        case NetworkFormed():
            return NetworkState(
                event.network_id, event.area, frozenset(event.areas), event.size_cap, frozenset()
            )
        case AllyEnrolled():
            return replace(
                state,
                members=state.members | {event.ally_id},
                enrolled=state.enrolled | {event.ally_id},
            )
        case AllyErased():
            return replace(
                state,
                members=state.members - {event.ally_id},
                erased=state.erased | {event.ally_id},
            )
        case AllyLeft():
            return replace(state, members=state.members - {event.ally_id})
        case _:
            return _lifecycle(state, event)


network_decider: Decider[NetworkCommand, NetworkState] = Decider(decide, evolve, INITIAL)


class RecordCallOutcome(_Command):
    """Someone called an ally from a call list and reports the outcome; ``occurred_at`` when
    the call was made earlier than it is reported."""

    event: CallOutcomeRecorded
    occurred_at: AwareDatetime | None = None


def decide_call_outcome(
    command: RecordCallOutcome, network_members: frozenset[str], now: datetime
) -> list[DomainEvent]:
    """The rules of a reported call. ``network_members``: the allies of the command's network
    now (empty for an unknown network); ``now``: the clock. The ally must be a member
    (``NotFound``, field ``ally_id``) and the call may not lie in the future beyond the clock
    tolerance signals get (``InvalidInput``, field ``occurred_at``, code ``in_future``)."""
    ally = command.event.ally_id
    if ally not in network_members:
        raise NotFound(
            f"ally {ally} is not a member of network {command.event.network_id}", field="ally_id"
        )
    if command.occurred_at is not None and command.occurred_at > now + FUTURE_TOLERANCE:
        seconds = int(FUTURE_TOLERANCE.total_seconds())
        raise InvalidInput(
            [FieldError("occurred_at", f"lies more than {seconds} s in the future", "in_future")]
        )
    return [command.event]


def _record_call(command: CallOutcomeRecorded, _state: None) -> Sequence[DomainEvent]:
    _check_text(_CallText, command)
    return [command]


contact_decider: Decider[CallOutcomeRecorded, None] = Decider(_record_call, lambda s, _e: s, None)
"""Call outcomes (the contact log of one ally) are facts as reported: the contact aggregate has
no state to check them against. The rules (membership, a time not in the future) need the
network's membership and the clock: :func:`decide_call_outcome`, before this decider runs."""
