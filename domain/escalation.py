"""Escalation decider (opschaling): the process-manager core of one area × theme slot.

Lifecycle of an escalation::

    alerted ─ack─▶ acknowledged ─▶ de_escalated ─▶ resolved ─▶ closed

Steps may be skipped (resolve or close straight from ``alerted``, e.g. a false alarm). While
``alerted``, each ack timer moves the alert to the next round or level until someone
acknowledges or the ladder is exhausted.

Rules this decider owns:

* At most one open (not closed) escalation per slot: later signals *join* it, once per signal id.
  After ``Close`` the next opening is escalation n + 1 (``<area>_<theme>-<n>``).
* The alert ladder: each policy level is alerted ``repeat`` rounds, each round arms an ack timer.
  Only the *pending* timer counts, and only while unacknowledged: a stale, duplicate or late
  timer yields no events, so a timer fires exactly once in effect even if delivered twice.
  (Timer ids are deterministic per level and round, which only ever advance, so remembering the
  pending one is enough.)
* A convening may be called as soon as the escalation is open, also before it is acknowledged:
  minutes matter (the Pegida scooter case). It does not stop the alert ladder: only an explicit
  acknowledgement does. See :mod:`domain.convening` for RSVPs and the quorum.

No I/O and no clock: every command carries ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain import convening
from domain.convening import ConveningState
from domain.decider import Decider
from domain.errors import Conflict, DomainError, NotFound
from domain.input import InputDatetime, VisibleText, VisibleTextOrEmpty
from domain.policy import EscalationPolicy, suggest_grip
from events.base import DomainEvent
from events.envelope import TOKEN_PATTERN, Actor, AreaCode, AwareDatetime, Token
from events.escalation import (
    AckTimeoutElapsed,
    AckTimerSet,
    ConveningCalled,
    ConveningMode,
    CrisisAlertIssued,
    EscalationAcknowledged,
    EscalationClosed,
    EscalationDeEscalated,
    EscalationOpened,
    EscalationResolved,
    RsvpAnswer,
    SignalJoined,
    SituationPicture,
    Trigger,
    ack_timer_id_for,
    alert_id_for,
    escalation_id_for,
    rsvp_timer_id_for,
    slot_id,
    slot_of_escalation,
)
from events.signals import Community, Theme

Status = Literal["alerted", "acknowledged", "de_escalated", "resolved"]
DECLARING_ROLES = ("police:", "municipality:", "crisis:")

# ---------------------------------------------------------------- commands
# Commands carry what people typed (reasons, notes, a place) and times they chose: checked
# strictly here (VisibleText, InputDatetime). The events they yield stay lenient, so events
# recorded before these checks existed still decode (see events/escalation.py).


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    now: AwareDatetime


class _OnEscalation(_Command):
    escalation_id: str | None = None
    """The escalation the sender means: refused if it is not the slot's open one (a command
    for an escalation closed meanwhile must not act on the next one)."""


class _Opening(_Command):
    area: AreaCode
    theme: Theme
    signal_id: Token | None = None
    reason: VisibleText = Field(min_length=1, max_length=500)
    situation: SituationPicture
    """The picture the first alert carries; its band is the band that opens or joins."""
    policy: EscalationPolicy


class OpenOrJoin(_Opening):
    """A signal for the slot: joins the open escalation, or opens one when ``trigger`` says
    why. Whether a signal warrants an escalation is the process manager's judgement
    (:func:`domain.workflow.react`, from the tension picture and the policy); this aggregate
    only guards the slot: one open escalation at a time, each signal joins once."""

    trigger: Trigger | None = None
    """``band_crossed`` or ``major_incident`` to open; ``None``: join an open one only."""
    signal_recorded_at: AwareDatetime | None = None
    """When the signal was recorded: one from before the last closure opens nothing (a replay
    of old signals must not reopen what people closed)."""


class Declare(_Opening):
    """Police or municipality declare an escalation (opschalen op eigen gezag)."""

    by: Actor


class TimerElapsed(_Command):
    """An ack timer fired. ``situation``: a fresher picture for the next alert, if available."""

    timer_id: str
    policy: EscalationPolicy
    situation: SituationPicture | None = None


class Acknowledge(_OnEscalation):
    by: Actor
    note: VisibleTextOrEmpty = Field(default="", max_length=500)


class CallConvening(_OnEscalation):
    convening_id: Token
    starts_at: InputDatetime
    mode: ConveningMode
    place: VisibleTextOrEmpty = Field(default="", max_length=200)
    invited: tuple[Token, ...] = Field(min_length=1, max_length=convening.MAX_INVITED)
    required_communities: tuple[Community, ...] = ()
    quorum: int = Field(ge=1)
    rsvp_deadline: InputDatetime
    remind_at: InputDatetime | None = None
    """Default: halfway between now and the deadline."""


class RecordRsvp(_Command):
    convening_id: Token
    ally_id: Token
    answer: RsvpAnswer
    communities: tuple[Community, ...] = ()


class RsvpReminder(_Command):
    timer_id: str


class RsvpDeadline(_Command):
    timer_id: str


class MarkConvened(_Command):
    convening_id: Token
    attending: tuple[Token, ...] | None = None


class _ByReason(_OnEscalation):
    by: Actor
    reason: VisibleTextOrEmpty = Field(default="", max_length=500)


class DeEscalate(_ByReason): ...


class Resolve(_ByReason): ...


class Close(_ByReason): ...


EscalationCommand = (
    OpenOrJoin
    | Declare
    | TimerElapsed
    | Acknowledge
    | CallConvening
    | RecordRsvp
    | RsvpReminder
    | RsvpDeadline
    | MarkConvened
    | DeEscalate
    | Resolve
    | Close
)

# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class Escalation:
    escalation_id: str
    area: str
    theme: str
    opened_at: datetime
    trigger: Trigger = "band_crossed"
    reason: str = ""
    """The opening's reason: every alert of the escalation repeats it."""
    status: Status = "alerted"
    level: int = 0
    """The policy level alerted last, counted from 1; 0 before the first alert."""
    round: int = 0
    situation: SituationPicture | None = None
    pending_timer_id: str | None = None
    exhausted: bool = False
    signal_ids: frozenset[str] = frozenset()
    acknowledged_by: str | None = None
    convening: ConveningState | None = None
    convening_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EscalationState:
    opened_count: int = 0
    """Escalations ever opened in this slot: the next one is number ``opened_count + 1``."""
    current: Escalation | None = field(default=None)
    """The open escalation; ``None`` before the first and after ``Close``."""
    last_closed_at: datetime | None = None


def slot_of(escalation_id: str) -> tuple[str, str]:
    """``GM0034-stad_demonstration-2`` -> (``GM0034-stad``, ``demonstration``)."""
    slot = slot_of_escalation(escalation_id)
    if slot is None:
        raise NotFound(f"unknown escalation {escalation_id}", field="escalation_id")
    return slot


INITIAL = EscalationState()
JOIN_LOOKBACK = timedelta(hours=12)
"""A signal recorded this long before an escalation opened does not join it."""

# ---------------------------------------------------------------- decide


def decide(command: EscalationCommand, state: EscalationState) -> Sequence[DomainEvent]:
    if isinstance(command, OpenOrJoin | Declare):
        return _open_or_join(command, state)
    esc = state.current
    if isinstance(command, TimerElapsed):
        return _timer_elapsed(command, esc)
    if isinstance(command, RsvpReminder | RsvpDeadline) and esc is None:
        return []  # the escalation was closed before its timer fired: nothing to remind
    if esc is None or (
        isinstance(command, _OnEscalation)
        and command.escalation_id is not None
        and command.escalation_id != esc.escalation_id
    ):
        raise NotFound("no such open escalation", field="escalation_id")
    eid = esc.escalation_id
    match command:
        case Acknowledge():
            _require(esc, ("alerted",), "acknowledge")
            return [EscalationAcknowledged(escalation_id=eid, by=command.by, note=command.note)]
        case CallConvening():
            return _call_convening(command, esc)
        case RecordRsvp():
            c = _convening(esc, command.convening_id)
            return convening.record_rsvp(
                c, eid, command.ally_id, command.answer, command.communities
            )
        case RsvpReminder():
            c0 = esc.convening
            return convening.reminder_due(c0, eid, command.timer_id) if c0 else []
        case RsvpDeadline():
            c0 = esc.convening
            return convening.deadline_passed(c0, eid, command.timer_id) if c0 else []
        case MarkConvened():
            c = _convening(esc, command.convening_id)
            return convening.convened(c, eid, command.attending)
        case DeEscalate():
            _require(esc, ("alerted", "acknowledged"), "de-escalate")
            return [EscalationDeEscalated(escalation_id=eid, by=command.by, reason=command.reason)]
        case Resolve():
            _require(esc, ("alerted", "acknowledged", "de_escalated"), "resolve")
            return [EscalationResolved(escalation_id=eid, by=command.by, reason=command.reason)]
        case Close():
            # Any open status may close, e.g. a false alarm straight from "alerted".
            closed = EscalationClosed(
                escalation_id=eid,
                by=command.by,
                reason=command.reason,
                closed_at=command.now,
                cancelled_convening=_pending(esc, command.now),
            )
            return [closed]
    raise DomainError(f"unknown command {type(command).__name__}")  # pragma: no cover


def _require(esc: Escalation, allowed: tuple[Status, ...], action: str) -> None:
    if esc.status not in allowed:
        by = f" by {esc.acknowledged_by}" if esc.status == "acknowledged" else ""
        raise Conflict(
            f"cannot {action} escalation {esc.escalation_id}: it is {esc.status}{by}",
            field="status",
        )


def _open_or_join(cmd: OpenOrJoin | Declare, state: EscalationState) -> list[DomainEvent]:
    _check_opening(cmd)
    band = cmd.situation.band
    esc = state.current
    if esc is not None:
        # Never a second escalation while one is open: the signal joins (once). One recorded
        # long before the escalation opened is about something else (a replay of old signals).
        if cmd.signal_id is None or cmd.signal_id in esc.signal_ids:
            return []
        if (
            isinstance(cmd, OpenOrJoin)
            and cmd.signal_recorded_at is not None
            and cmd.signal_recorded_at < esc.opened_at - JOIN_LOOKBACK
        ):
            return []
        joined = SignalJoined(
            escalation_id=esc.escalation_id,
            signal_id=cmd.signal_id,
            band=band,
            communities=cmd.situation.communities,
            suggested_grip=_as_seen_by(esc.trigger, cmd.situation).suggested_grip,
        )
        return [joined]
    if (
        isinstance(cmd, OpenOrJoin)
        and state.last_closed_at is not None
        and cmd.signal_recorded_at is not None
        and cmd.signal_recorded_at <= state.last_closed_at
    ):
        return []
    trigger = _trigger(cmd)
    if trigger is None:
        return []
    eid = escalation_id_for(cmd.area, cmd.theme, state.opened_count + 1)
    opened = EscalationOpened(
        escalation_id=eid,
        area=cmd.area,
        theme=cmd.theme,
        trigger=trigger,
        band=band,
        reason=cmd.reason,
        # The signals that led here belong to the incident, not only the one that tipped it.
        signal_ids=tuple(
            dict.fromkeys(
                [c.signal_id for c in cmd.situation.contributing]
                + ([cmd.signal_id] if cmd.signal_id else [])
            )
        ),
        suggested_grip=cmd.situation.suggested_grip,
        opened_at=cmd.now,
    )
    situation = cmd.situation.model_copy(update={"escalation_id": eid})
    first = _Ladder(eid, trigger, cmd.reason, cmd.policy, situation, cmd.now)
    return [opened, *_alert(first, 1, 1)]


def _check_opening(cmd: OpenOrJoin | Declare) -> None:
    if cmd.situation.area != cmd.area:
        raise DomainError(
            f"situation picture is for {cmd.situation.area}, not {cmd.area}", field="situation"
        )
    if not re.fullmatch(TOKEN_PATTERN, slot_id(cmd.area, cmd.theme)):
        raise DomainError("area and theme are too long together for a slot id", field="theme")
    if isinstance(cmd, Declare) and not cmd.by.startswith(DECLARING_ROLES):
        raise DomainError("only police, municipality or crisis staff may declare", field="by")


def _trigger(cmd: OpenOrJoin | Declare) -> Trigger | None:
    if isinstance(cmd, Declare):
        return "declared"
    return cmd.trigger


@dataclass(frozen=True)
class _Ladder:
    """What every alert of one escalation carries, whichever level and round."""

    eid: str
    trigger: Trigger
    reason: str
    policy: EscalationPolicy
    situation: SituationPicture
    now: datetime


def _alert(ladder: _Ladder, level: int, round_: int) -> list[DomainEvent]:
    """Alert ``level`` (1-based: level 1 is ``policy.levels[0]``) and arm its ack timer."""
    eid = ladder.eid
    lvl = ladder.policy.levels[level - 1]
    timer_id = ack_timer_id_for(eid, level, round_)
    return [
        CrisisAlertIssued(
            escalation_id=eid,
            level=level,
            round=round_,
            alert_id=alert_id_for(eid, level, round_),
            recipients=lvl.recipients,
            situation=ladder.situation,
            ack_timeout_s=lvl.ack_timeout_s,
            trigger=ladder.trigger,
            reason=ladder.reason,
        ),
        AckTimerSet(
            escalation_id=eid,
            timer_id=timer_id,
            level=level,
            round=round_,
            due_at=ladder.now + timedelta(seconds=lvl.ack_timeout_s),
        ),
    ]


def _timer_elapsed(cmd: TimerElapsed, esc: Escalation | None) -> list[DomainEvent]:
    if esc is None or esc.status != "alerted" or cmd.timer_id != esc.pending_timer_id:
        return []  # stale, duplicate, or someone is already on it
    eid = esc.escalation_id
    step = _next_step(esc.level, esc.round, cmd.policy)
    elapsed = AckTimeoutElapsed(
        escalation_id=eid,
        timer_id=cmd.timer_id,
        level=esc.level,
        round=esc.round,
        exhausted=step is None,
    )
    situation = cmd.situation or esc.situation
    if step is None or situation is None:
        return [elapsed]
    situation = _as_seen_by(esc.trigger, situation).model_copy(update={"escalation_id": eid})
    ladder = _Ladder(eid, esc.trigger, esc.reason, cmd.policy, situation, cmd.now)
    return [elapsed, *_alert(ladder, *step)]


def _as_seen_by(trigger: Trigger, situation: SituationPicture) -> SituationPicture:
    """The picture with the GRIP suggestion this escalation calls for. A picture built for a
    joining signal or a fired timer does not know the escalation opened as a major incident;
    the suggestion for one stays a major incident's (see ``suggest_grip``)."""
    if trigger != "major_incident":
        return situation
    grip = suggest_grip(situation.band, situation.themes, major_incident=True)
    if grip <= situation.suggested_grip:
        return situation
    return situation.model_copy(update={"suggested_grip": grip})


def _next_step(level: int, round_: int, policy: EscalationPolicy) -> tuple[int, int] | None:
    """Same level next round while rounds remain, else the next level's first round; ``None``
    after the last round of the last level. Levels count from 1."""
    levels = policy.levels
    if 1 <= level <= len(levels) and round_ < levels[level - 1].repeat:
        return level, round_ + 1
    if level < len(levels):
        return level + 1, 1
    return None


def _call_convening(cmd: CallConvening, esc: Escalation) -> list[DomainEvent]:
    current = esc.convening
    if current is not None and current.convening_id == cmd.convening_id:
        return []  # a retried call
    if cmd.convening_id in esc.convening_ids:
        raise Conflict(f"convening {cmd.convening_id} was already used", field="convening_id")
    invited = tuple(dict.fromkeys(cmd.invited))
    if cmd.quorum > len(invited):
        raise DomainError(
            f"quorum {cmd.quorum} exceeds the {len(invited)} invited allies", field="quorum"
        )
    if cmd.rsvp_deadline <= cmd.now:
        raise DomainError("the RSVP deadline must lie in the future", field="rsvp_deadline")
    remind_at = cmd.remind_at or cmd.now + (cmd.rsvp_deadline - cmd.now) / 2
    if not cmd.now < remind_at < cmd.rsvp_deadline:
        raise DomainError("the reminder must fall before the RSVP deadline", field="remind_at")
    # A new convening supersedes a pending one (e.g. moved to another time or place).
    return [
        ConveningCalled(
            escalation_id=esc.escalation_id,
            convening_id=cmd.convening_id,
            starts_at=cmd.starts_at,
            mode=cmd.mode,
            place=cmd.place,
            invited=invited,
            required_communities=tuple(dict.fromkeys(cmd.required_communities)),
            quorum=cmd.quorum,
            rsvp_deadline=cmd.rsvp_deadline,
            remind_at=remind_at,
            reminder_timer_id=rsvp_timer_id_for(cmd.convening_id, "reminder"),
            deadline_timer_id=rsvp_timer_id_for(cmd.convening_id, "deadline"),
            supersedes=_pending(esc, cmd.now),
        )
    ]


def _pending(esc: Escalation, now: datetime) -> str | None:
    """The convening that is still to take place, if any (one whose start has passed may
    well have taken place without being marked: nobody is told it is off)."""
    c = esc.convening
    if c is None or c.convened or (c.starts_at is not None and c.starts_at <= now):
        return None
    return c.convening_id


def _convening(esc: Escalation, convening_id: str) -> ConveningState:
    c = esc.convening
    if c is None or c.convening_id != convening_id:
        raise NotFound(f"no pending convening {convening_id}", field="convening_id")
    return c


# ---------------------------------------------------------------- evolve


def evolve(state: EscalationState, event: DomainEvent) -> EscalationState:
    if isinstance(event, EscalationOpened):
        esc = Escalation(
            escalation_id=event.escalation_id,
            area=event.area,
            theme=event.theme,
            opened_at=event.opened_at,
            trigger=event.trigger,
            reason=event.reason,
            signal_ids=frozenset(event.signal_ids),
        )
        return replace(state, opened_count=state.opened_count + 1, current=esc)
    esc0 = state.current
    if esc0 is None or getattr(event, "escalation_id", None) != esc0.escalation_id:
        return state
    if isinstance(event, EscalationClosed):
        return replace(state, current=None, last_closed_at=event.closed_at)
    return replace(state, current=_evolve_open(esc0, event))


def _evolve_open(esc: Escalation, event: DomainEvent) -> Escalation:
    match event:
        case SignalJoined():
            return replace(esc, signal_ids=esc.signal_ids | {event.signal_id})
        case CrisisAlertIssued():
            return replace(esc, level=event.level, round=event.round, situation=event.situation)
        case AckTimerSet():
            return replace(esc, pending_timer_id=event.timer_id)
        case AckTimeoutElapsed():
            return replace(esc, pending_timer_id=None, exhausted=event.exhausted)
        case EscalationAcknowledged():
            return replace(esc, status="acknowledged", acknowledged_by=event.by)
        case EscalationDeEscalated():
            return replace(esc, status="de_escalated")
        case EscalationResolved():
            return replace(esc, status="resolved")
        case ConveningCalled():
            return replace(
                esc,
                convening=convening.started(event),
                convening_ids=esc.convening_ids | {event.convening_id},
            )
    c = esc.convening
    if c is not None and getattr(event, "convening_id", None) == c.convening_id:
        return replace(esc, convening=convening.evolve(c, event))
    return esc


escalation_decider: Decider[EscalationCommand, EscalationState] = Decider(decide, evolve, INITIAL)
