"""Network membership decider (bondgenotennetwerk): the consistency boundary for the size cap.

``decide(command, state) -> events`` refuses what the network's rules forbid; ``evolve`` folds
the network's own events into the small state those rules need (members, cap), nothing more.

Reported calls to allies (the contact log) have their own rules in :func:`decide_call_outcome`:
the ally is a member of the network and the call did not happen in the future.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from domain.decider import Decider
from domain.errors import Conflict, DomainError, NotFound
from domain.input import VisibleText, VisibleTextOrEmpty
from domain.intake import FUTURE_TOLERANCE, FieldError, InvalidInput
from events.base import DomainEvent
from events.envelope import AwareDatetime
from events.network import (
    AllyAvailabilityChanged,
    AllyEnrolled,
    AllyErased,
    AllyLeft,
    CallOutcomeRecorded,
    DutyContactAssigned,
    NetworkFormed,
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


NetworkCommand = (
    FormNetwork | EnrollAlly | RemoveAlly | EraseAlly | ChangeAvailability | AssignDutyContact
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

    @property
    def exists(self) -> bool:
        return self.network_id is not None


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
            return state


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
