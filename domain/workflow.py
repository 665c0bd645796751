"""The rapid-convening workflow (snel bijeenroepen) as a pure process manager.

``react(view, event) -> commands`` says what the workflow does about one recorded event;
``on_timer(view, timer) -> commands`` what it does when a durable timer fires. The adapter
(``services.app.workflow``) only executes the commands it returns:

* a signal: for each of its themes, :class:`Decide` ``OpenOrJoin`` on the area × theme slot,
  with a trigger when the tension picture and the policy warrant an escalation
  (:func:`opening_trigger`, the one place that judges "should open"), or without one to join
  an escalation already open there; nothing when neither holds;
* ``AckTimerSet`` / ``ConveningCalled``: :class:`Schedule` the acknowledgement timer, or the
  RSVP reminder and deadline;
* a fired timer: :class:`Decide` ``TimerElapsed`` / ``RsvpReminder`` / ``RsvpDeadline``.

Replays are safe by construction: command ids derive from the event (or timer) that caused
them, and the escalation decider ignores what was already done.

``view`` is what the process manager reads: the live tension picture, open escalations, the
policy and the clock, behind a Protocol so tests give a plain fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from domain.escalation import (
    EscalationCommand,
    OpenOrJoin,
    RsvpDeadline,
    RsvpReminder,
    TimerElapsed,
    slot_of,
)
from domain.policy import EscalationPolicy, should_open
from events.envelope import Envelope, deterministic_id
from events.escalation import AckTimerSet, Band, ConveningCalled, SituationPicture, Trigger
from events.signals import SignalReceived

WORKFLOW_ACTOR = "system:workflow"


class TimerPayload(BaseModel):
    """What a durable timer carries back to the workflow when it fires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["ack", "rsvp_reminder", "rsvp_deadline"]
    timer_id: str
    escalation_id: str


@dataclass(frozen=True)
class CellFacts:
    """The tension picture of one area × theme, as far as opening an escalation goes."""

    band: Band
    distinct_reporters: int
    distinct_roles: int
    watch: bool = False
    """A slow burn (the slow scale); judged only where the policy opens on it."""


class WorkflowView(Protocol):
    @property
    def now(self) -> datetime: ...

    def policy(self, area: str) -> EscalationPolicy: ...

    def cell(self, area: str, theme: str) -> CellFacts | None: ...

    def is_open(self, area: str, theme: str) -> bool: ...

    def situation(
        self, area: str, theme: str, communities: Sequence[str], *, major_incident: bool = False
    ) -> SituationPicture: ...


@dataclass(frozen=True)
class Decide:
    """Run ``command`` on the escalation slot ``area`` × ``theme`` as the workflow."""

    area: str
    theme: str
    command: EscalationCommand
    command_id: str
    causation_id: str | None = None


@dataclass(frozen=True)
class Schedule:
    """Arm a durable timer that fires ``payload`` back at ``at``."""

    at: datetime
    payload: TimerPayload


WorkflowCommand = Decide | Schedule


def opening_trigger(
    policy: EscalationPolicy, cell: CellFacts | None, major_incident: bool
) -> Trigger | None:
    """Why this signal opens an escalation, if it does (see :func:`domain.policy.should_open`)."""
    band: Band = cell.band if cell else "normal"
    reporters = cell.distinct_reporters if cell else 1
    roles = cell.distinct_roles if cell else 1
    if not should_open(policy, band, reporters, roles, major_incident):
        if policy.open_on_watch and cell is not None and cell.watch:
            return "slow_burn"
        return None
    return "major_incident" if major_incident else "band_crossed"


def react(view: WorkflowView, event: Envelope[Any]) -> list[WorkflowCommand]:
    data = event.data
    if isinstance(data, SignalReceived):
        return _on_signal(view, event, data)
    if isinstance(data, AckTimerSet):
        payload = TimerPayload(kind="ack", timer_id=data.timer_id, escalation_id=data.escalation_id)
        return [Schedule(data.due_at, payload)]
    if isinstance(data, ConveningCalled):
        eid = data.escalation_id
        timers: list[WorkflowCommand] = []
        if data.remind_at is not None:
            reminder = TimerPayload(
                kind="rsvp_reminder", timer_id=data.reminder_timer_id, escalation_id=eid
            )
            timers.append(Schedule(data.remind_at, reminder))
        deadline = TimerPayload(
            kind="rsvp_deadline", timer_id=data.deadline_timer_id, escalation_id=eid
        )
        timers.append(Schedule(data.rsvp_deadline, deadline))
        return timers
    return []


def _on_signal(
    view: WorkflowView, event: Envelope[Any], signal: SignalReceived
) -> list[WorkflowCommand]:
    policy = view.policy(signal.area)
    commands: list[WorkflowCommand] = []
    for theme in signal.themes:
        cell = view.cell(signal.area, theme)
        trigger = opening_trigger(policy, cell, signal.major_incident)
        if trigger is None and not view.is_open(signal.area, theme):
            continue  # nothing to open or join
        band = cell.band if cell else "normal"
        reporters = cell.distinct_reporters if cell else 1
        roles = cell.distinct_roles if cell else 1
        command = OpenOrJoin(
            now=view.now,
            area=signal.area,
            theme=theme,
            signal_id=signal.signal_id,
            reason=f"band {band}, {reporters} reporters, {roles} roles",
            situation=view.situation(
                signal.area, theme, signal.communities, major_incident=signal.major_incident
            ),
            policy=policy,
            trigger=trigger,
            signal_recorded_at=event.recorded_at,
        )
        command_id = deterministic_id("open-or-join", event.id, theme)
        commands.append(Decide(signal.area, theme, command, command_id, causation_id=event.id))
    return commands


def on_timer(view: WorkflowView, timer: TimerPayload) -> list[WorkflowCommand]:
    area, theme = slot_of(timer.escalation_id)
    command: EscalationCommand
    if timer.kind == "ack":
        command = TimerElapsed(
            now=view.now,
            timer_id=timer.timer_id,
            policy=view.policy(area),
            situation=view.situation(area, theme, ()),
        )
    elif timer.kind == "rsvp_reminder":
        command = RsvpReminder(now=view.now, timer_id=timer.timer_id)
    else:
        command = RsvpDeadline(now=view.now, timer_id=timer.timer_id)
    return [Decide(area, theme, command, deterministic_id("timer", timer.timer_id))]
