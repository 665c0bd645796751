"""The rapid-convening workflow's adapter: feeds recorded events and fired timers to the pure
process manager (:mod:`domain.workflow`) and executes what it returns, nothing more.

Three reactors call it, each idempotent:

* signals -> ``OpenOrJoin`` decisions on the area × theme slots; major-incident signals on
  a lane of their own (:data:`events.signals.SIGNAL_KINDS`), decided without waiting for the
  tension map;
* escalation events -> durable timers (acknowledgement, RSVP reminder and deadline);
* fired timers -> ``TimerElapsed`` / ``RsvpReminder`` / ``RsvpDeadline`` decisions.

The workflow decides only on caught-up read models: a picture that lacks the very signal it
reacts to could fail to open, so a lagging read model is retried, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

import structlog

from domain import workflow as pm
from domain.escalation import escalation_decider
from domain.policy import EscalationPolicy
from events.escalation import AckTimerSet, ConveningCalled, slot_ref
from services.app.digest import is_digest_timer
from services.app.execute import CommandMeta
from services.app.handlers import CommandHandlers
from services.app.ports import Clock, RawEvent, Scheduler
from services.app.readmodels import ReadModelLagging, ReadModels
from services.app.situation import LiveView

log = structlog.get_logger(__name__)
SOURCE = "/bondgenoten/workflow"
SCHEDULED = frozenset({AckTimerSet.TYPE, ConveningCalled.TYPE})


class Workflow:
    def __init__(
        self,
        handlers: CommandHandlers,
        clock: Clock,
        read: ReadModels,
        policies: Mapping[str, EscalationPolicy],
        scheduler: Scheduler,
    ) -> None:
        self.handlers = handlers
        self.clock = clock
        self.read = read
        self.policies = policies
        self.scheduler = scheduler
        self._last_written = 0
        self._written: dict[tuple[str, str], int] = {}
        """The log position of our last decision per area x theme slot."""
        self.other_timers: dict[str, Callable[[bytes], Awaitable[None]]] = {}
        """Handlers of durable timers armed by other use cases, by the payload's ``kind``
        (a constituency question's escalation): one consumer reads every fired timer."""
        self.digest_timers: Callable[[RawEvent], Awaitable[None]] | None = None
        """Handles the network digest's fired timers (set by the composition root)."""

    def view(self) -> LiveView:
        return LiveView(self.read, self.policies, self.clock.now())

    async def on_signal(self, raw: RawEvent) -> None:
        # Judge with the picture that includes this signal, and with our own earlier decisions.
        if not (
            await self.read.tension.wait_for(raw.position, timeout=10)
            and await self.read.escalations.wait_for(self._last_written, timeout=10)
        ):
            raise ReadModelLagging(f"read models behind position {raw.position}")
        await self.run(pm.react(self.view(), raw.decode()))

    async def on_urgent(self, raw: RawEvent) -> None:
        """A major-incident signal opens at once: judged on the picture as it stands, without
        waiting for the tension map to fold a backlog of routine signals (those join the
        escalation when their turn comes). Only our own earlier decisions on its slots are
        waited for, so urgent signals of different areas are decided side by side (the
        urgent reactor runs them concurrently; one area's stay in order)."""
        env = raw.decode()
        signal = env.data
        ours = max((self._written.get((signal.area, t), 0) for t in signal.themes), default=0)
        if not await self.read.escalations.wait_for(ours, timeout=10):
            raise ReadModelLagging(f"escalations behind position {ours}")
        await self.run(pm.react(self.view(), env))

    async def on_escalation_event(self, raw: RawEvent) -> None:
        if raw.headers.get("ce-type") in SCHEDULED:
            await self.run(pm.react(self.view(), raw.decode()))

    async def on_timer(self, raw: RawEvent) -> None:
        if is_digest_timer(raw.body):
            # The weekly network digest's timer (services.app.digest) shares this consumer:
            # one more consumer on the timers stream would slow every start.
            if self.digest_timers is not None:
                await self.digest_timers(raw)
            return
        body = json.loads(raw.body)
        other = self.other_timers.get(str(body.get("kind"))) if isinstance(body, dict) else None
        if other is not None:
            await other(raw.body)
            return
        timer = pm.TimerPayload.model_validate(body)
        await self.run(pm.on_timer(self.view(), timer))

    async def run(self, commands: list[pm.WorkflowCommand]) -> None:
        for command in commands:
            if isinstance(command, pm.Schedule):
                payload = command.payload.model_dump_json().encode()
                await self.scheduler.schedule(command.payload.timer_id, command.at, payload)
                continue
            meta = CommandMeta(
                command_id=command.command_id,
                actor=pm.WORKFLOW_ACTOR,
                source=SOURCE,
                causation_id=command.causation_id,
            )
            ref = slot_ref(command.area, command.theme)
            outcome = await self.handlers.decide(ref, escalation_decider, command.command, meta)
            if outcome.result is not None:
                self._last_written = max(self._last_written, outcome.result.version)
                slot = (command.area, command.theme)
                self._written[slot] = max(self._written.get(slot, 0), outcome.result.version)
