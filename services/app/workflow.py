"""The rapid-convening workflow (snel bijeenroepen): the adapter around the escalation decider.

Three reactors feed it, each idempotent:

* signals -> ``OpenOrJoin`` for each theme, with the live tension picture (opens, joins, or
  does nothing; one escalation per area x theme while open);
* escalation events -> durable timers: ``AckTimerSet`` and ``ConveningCalled`` become
  JetStream scheduled messages (``Nats-Schedule: @at``) in the timers stream; they survive a
  restart of this service and of NATS;
* fired timers -> ``TimerElapsed`` / ``RsvpReminder`` / ``RsvpDeadline``. The decider ignores a
  timer that is stale or already handled, so each fires once in effect.

Events of one incident carry its escalation id as correlation id (see services.app.handlers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

import structlog
from pydantic import BaseModel

from domain.convening import ConveningProposal, propose
from domain.errors import DomainError, NotFound
from domain.escalation import (
    Acknowledge,
    CallConvening,
    Close,
    Declare,
    DeEscalate,
    EscalationCommand,
    MarkConvened,
    OpenOrJoin,
    RecordRsvp,
    Resolve,
    RsvpDeadline,
    RsvpReminder,
    TimerElapsed,
    escalation_decider,
    slot_of,
)
from domain.policy import EscalationPolicy, policy_for, should_open
from events.envelope import deterministic_id
from events.escalation import (
    AckTimerSet,
    ConveningCalled,
    RsvpAnswer,
    slot_ref,
)
from events.signals import SignalReceived
from projections.escalations import EscalationRecord, escalation, list_escalations
from projections.tension_map import Band
from services.app.handlers import CommandMeta, Outcome, execute
from services.app.ports import Clock, EventStore, RawEvent, Scheduler
from services.app.readmodels import ReadModelLagging, ReadModels
from services.app.situation import cell_now, situation

log = structlog.get_logger(__name__)
SOURCE = "/bondgenoten/workflow"
WORKFLOW = "system:workflow"


class TimerPayload(BaseModel):
    kind: Literal["ack", "rsvp_reminder", "rsvp_deadline"]
    timer_id: str
    escalation_id: str


class Workflow:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        read: ReadModels,
        policies: Mapping[str, EscalationPolicy],
        scheduler: Scheduler,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.clock = clock
        self.read = read
        self.policies = policies
        self._last_written = 0

    async def _run(
        self,
        slot: tuple[str, str],
        command: EscalationCommand,
        *,
        command_id: str,
        actor: str,
        causation: str | None = None,
    ) -> Outcome:
        area, theme = slot
        meta = CommandMeta(
            command_id=command_id, actor=actor, source=SOURCE, causation_id=causation
        )
        ref = slot_ref(area, theme)
        outcome = await execute(self.store, self.clock, ref, escalation_decider, command, meta)
        if outcome.result is not None:
            self._last_written = max(self._last_written, outcome.result.version)
        return outcome

    def _is_open(self, area: str, theme: str) -> bool:
        return any(
            r.area == area and r.theme == theme
            for r in list_escalations(self.read.escalations.state, open_only=True)
        )

    # -- reactions ---------------------------------------------------------------------------

    async def on_signal(self, raw: RawEvent) -> None:
        env = raw.decode()
        signal: SignalReceived = env.data
        # Judge with the picture that includes this signal, and with our own earlier decisions;
        # a lagging read model is retried (a stale picture could fail to open), never guessed.
        if not (
            await self.read.tension.wait_for(raw.position, timeout=10)
            and await self.read.escalations.wait_for(self._last_written, timeout=10)
        ):
            raise ReadModelLagging(f"read models behind position {raw.position}")
        now = self.clock.now()
        policy = policy_for(self.policies, signal.area)
        for theme in signal.themes:
            cell = cell_now(self.read, signal.area, theme, now)
            band = cell.band.value if cell else Band.NORMAL.value
            reporters = cell.distinct_reporters if cell else 1
            roles = cell.distinct_roles if cell else 1
            wanted = should_open(policy, band, reporters, roles, signal.major_incident)  # type: ignore[arg-type]
            if not wanted and not self._is_open(signal.area, theme):
                continue  # nothing to open or join: spare a load of the slot
            picture = situation(
                self.read,
                signal.area,
                theme,
                signal.communities,
                now,
                major_incident=signal.major_incident,
            )
            command = OpenOrJoin(
                now=now,
                area=signal.area,
                theme=theme,
                signal_id=signal.signal_id,
                reason=f"band {band}, {reporters} reporters, {roles} roles",
                situation=picture,
                policy=policy,
                distinct_reporters=reporters,
                distinct_roles=roles,
                major_incident=signal.major_incident,
                signal_recorded_at=env.recorded_at,
            )
            await self._run(
                (signal.area, theme),
                command,
                command_id=deterministic_id("open-or-join", env.id, theme),
                actor=WORKFLOW,
                causation=env.id,
            )

    async def on_escalation_event(self, raw: RawEvent) -> None:
        """Turn timer decisions into scheduled messages (publishing is idempotent per timer)."""
        kind = raw.headers.get("ce-type")
        if kind not in (AckTimerSet.TYPE, ConveningCalled.TYPE):
            return
        event = raw.decode().data
        if isinstance(event, AckTimerSet):
            await self.schedule(
                event.due_at,
                TimerPayload(
                    kind="ack", timer_id=event.timer_id, escalation_id=event.escalation_id
                ),
            )
        elif isinstance(event, ConveningCalled):
            if event.remind_at is not None:
                await self.schedule(
                    event.remind_at,
                    TimerPayload(
                        kind="rsvp_reminder",
                        timer_id=event.reminder_timer_id,
                        escalation_id=event.escalation_id,
                    ),
                )
            await self.schedule(
                event.rsvp_deadline,
                TimerPayload(
                    kind="rsvp_deadline",
                    timer_id=event.deadline_timer_id,
                    escalation_id=event.escalation_id,
                ),
            )

    async def schedule(self, at: datetime, payload: TimerPayload) -> None:
        await self.scheduler.schedule(payload.timer_id, at, payload.model_dump_json().encode())

    async def on_timer(self, raw: RawEvent) -> None:
        payload = TimerPayload.model_validate(json.loads(raw.body))
        now = self.clock.now()
        area, theme = slot_of(payload.escalation_id)
        command: EscalationCommand
        if payload.kind == "ack":
            policy = policy_for(self.policies, area)
            picture = situation(self.read, area, theme, (), now)
            command = TimerElapsed(
                now=now, timer_id=payload.timer_id, policy=policy, situation=picture
            )
        elif payload.kind == "rsvp_reminder":
            command = RsvpReminder(now=now, timer_id=payload.timer_id)
        else:
            command = RsvpDeadline(now=now, timer_id=payload.timer_id)
        await self._run(
            (area, theme),
            command,
            command_id=deterministic_id("timer", payload.timer_id),
            actor=WORKFLOW,
        )

    # -- commands from people and systems ----------------------------------------------------

    async def declare(
        self,
        area: str,
        theme: str,
        by: str,
        reason: str,
        key: str,
        *,
        signal_id: str | None = None,
        communities: Sequence[str] = (),
        major_incident: bool = False,
    ) -> Outcome:
        now = self.clock.now()
        picture = situation(self.read, area, theme, communities, now, major_incident=major_incident)
        command = Declare(
            now=now,
            area=area,
            theme=theme,
            signal_id=signal_id,
            reason=reason,
            situation=picture,
            policy=policy_for(self.policies, area),
            by=by,
        )
        return await self._run((area, theme), command, command_id=key, actor=by)

    async def acknowledge(self, escalation_id: str, by: str, note: str, key: str) -> Outcome:
        command = Acknowledge(now=self.clock.now(), by=by, note=note)
        return await self._run(slot_of(escalation_id), command, command_id=key, actor=by)

    async def finish(self, escalation_id: str, how: str, by: str, reason: str, key: str) -> Outcome:
        now = self.clock.now()
        command: EscalationCommand
        if how == "de-escalate":
            command = DeEscalate(now=now, by=by, reason=reason)
        elif how == "resolve":
            command = Resolve(now=now, by=by, reason=reason)
        else:
            command = Close(now=now, by=by, reason=reason)
        return await self._run(slot_of(escalation_id), command, command_id=key, actor=by)

    def propose_convening(
        self, escalation_id: str, communities: Sequence[str] | None = None
    ) -> ConveningProposal:
        """The meeting the workflow proposes: policy defaults, the incident's affected
        communities, and the call list for them as invitees."""
        return self._proposal(escalation_id, communities)[0]

    def _proposal(
        self, escalation_id: str, communities: Sequence[str] | None
    ) -> tuple[ConveningProposal, set[str]]:
        """The proposal, and every ally who may be called for it (the proposal caps)."""
        record = self.get(escalation_id)
        area, theme = record.area, record.theme
        affected = record.communities if communities is None else communities
        calls = self.read.call_list(area, [theme], affected)
        callable_ = [e.ally_id for e in calls.entries]
        defaults = policy_for(self.policies, area).convening
        proposal = propose(self.clock.now(), defaults, affected, callable_, calls.coverage_gaps)
        return proposal, set(callable_)

    async def call_convening(
        self,
        escalation_id: str,
        by: str,
        key: str,
        *,
        starts_at: datetime | None = None,
        mode: str | None = None,
        place: str | None = None,
        communities: Sequence[str] | None = None,
        rsvp_deadline: datetime | None = None,
        quorum: int | None = None,
        invited: Sequence[str] | None = None,
    ) -> Outcome:
        """Call a convening; whatever the caller leaves out is taken from the proposal."""
        p, callable_ = self._proposal(escalation_id, communities)
        if invited is None:
            invited = p.invited
        else:
            # Only allies who may be called: members of a network here, with consent, available.
            refused = [a for a in invited if a not in callable_]
            if refused:
                raise DomainError(f"not callable allies of this area: {refused}", field="invited")
            invited = tuple(dict.fromkeys(invited))
        if not invited:
            raise NotFound("nobody to invite: no callable allies for this area", field="invited")
        command = CallConvening(
            now=self.clock.now(),
            convening_id=deterministic_id("convening", escalation_id, key)[:24],
            starts_at=starts_at or p.starts_at,
            mode=mode or p.mode,
            place=p.place if place is None else place,
            invited=invited,
            required_communities=p.communities,
            quorum=quorum or min(p.quorum, len(invited)),
            rsvp_deadline=rsvp_deadline or p.rsvp_deadline,
        )
        return await self._run(slot_of(escalation_id), command, command_id=key, actor=by)

    def _escalation_of_convening(self, convening_id: str) -> str:
        escalation_id = self.read.escalation_of_convening(convening_id)
        if escalation_id is None:
            raise NotFound(f"unknown convening {convening_id}", field="convening_id")
        return escalation_id

    async def rsvp(
        self,
        convening_id: str,
        ally_id: str,
        answer: RsvpAnswer,
        key: str,
        *,
        by: str | None = None,
    ) -> Outcome:
        """The ally's answer, given by themselves (their link) or on their behalf (``by``)."""
        escalation_id = self._escalation_of_convening(convening_id)
        personal = self.read.ally_personal(ally_id)
        communities = personal.communities if personal else ()
        command = RecordRsvp(
            now=self.clock.now(),
            convening_id=convening_id,
            ally_id=ally_id,
            answer=answer,
            communities=communities,
        )
        actor = by or f"ally:{ally_id}"
        return await self._run(slot_of(escalation_id), command, command_id=key, actor=actor)

    async def mark_convened(self, convening_id: str, by: str, key: str) -> Outcome:
        escalation_id = self._escalation_of_convening(convening_id)
        command = MarkConvened(now=self.clock.now(), convening_id=convening_id)
        return await self._run(slot_of(escalation_id), command, command_id=key, actor=by)

    def get(self, escalation_id: str) -> EscalationRecord:
        record = escalation(self.read.escalations.state, escalation_id)
        if record is None:
            raise NotFound(f"unknown escalation {escalation_id}", field="escalation_id")
        return record
