"""The one handler table (Cosmic Python's message bus): every command from HTTP or NATS goes
through :meth:`CommandHandlers.handle`, which finds the aggregate and the decider command for
it and runs :func:`services.app.execute.execute` (load, decide, append). Same idempotency,
same errors, same retries for every command on every channel.

A handler reads what the decision needs from the live read models (the tension picture for a
declaration, the call list for a convening, a network's members for a signal) and hands the
decider a complete command; rules live in the deciders, never here.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from domain import escalation as esc
from domain import network as nw
from domain.access import Forbidden, Principal, authorize, check_own_answer, check_reporter
from domain.decider import Decider
from domain.errors import Conflict, DomainError, NotFound
from domain.intake import (
    FieldError,
    IntakeContext,
    InvalidInput,
    KnownNetwork,
    decide_signal,
)
from domain.policy import EscalationPolicy, policy_for
from events.envelope import AggregateRef, deterministic_id
from events.escalation import slot_ref
from events.network import (
    AllyAvailabilityChanged,
    AllyEnrolled,
    CallOutcomeRecorded,
    CoreGroupMemberAdded,
    CoreGroupMemberRemoved,
    DutyContactAssigned,
    EvaluationRecorded,
    HandoverAnnounced,
    MeetingChairAssigned,
    MeetingHeld,
    MeetingPlanned,
    NetworkFormed,
    NetworkSettingsChanged,
)
from events.signals import SourceRole
from services.app import commands as c
from services.app.audit import Recorder
from services.app.execute import CommandMeta, Outcome, execute
from services.app.personal import Keyring
from services.app.ports import Clock, EventStore, Overloaded
from services.app.readmodels import ReadModelLagging, ReadModels
from services.app.situation import convening_proposal, situation

log = structlog.get_logger(__name__)
SOURCE = "/bondgenoten"
FRESH_WAIT_S = 5.0
MAX_IN_FLIGHT = 1024
"""Commands decided at once (both channels); concurrent appends share group commits."""
ROUTINE_AT_ONCE = 16
"""Routine commands decided at once (enough to fill a group commit); the rest wait in line.
Fewer in the loop at once means shorter turns of the event loop, and every ``await`` on the
urgent path waits one turn (64 made the turns long enough to delay alerts by seconds)."""
URGENT_RESERVE = 256
"""Urgent commands admitted beyond ``MAX_IN_FLIGHT``."""
URGENT_COMMANDS = (c.DeclareEscalation, c.AcknowledgeEscalation)


def is_urgent(command: c.Command) -> bool:
    """Major-incident signals, declarations and acknowledgements: the urgent lane."""
    if isinstance(command, c.SubmitSignal):
        return command.major_incident
    return isinstance(command, URGENT_COMMANDS)


@dataclass(frozen=True)
class CommandResult:
    """The one answer to every command, on every channel."""

    command: str
    event_ids: tuple[str, ...]
    event_types: tuple[str, ...]
    position: int
    """The log position that reflects this command: read with ``min_position`` to see it."""
    duplicate: bool
    escalation_id: str | None = None
    signal_id: str | None = None


@dataclass(frozen=True)
class Target:
    """Where a command is decided: the aggregate, its decider and the decider's command."""

    ref: AggregateRef
    decider: Decider[Any, Any]
    command: Any
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra :class:`CommandMeta` fields (occurred_at, event id derivation)."""
    expected_new: bool = False


Resolver = Callable[[Any, str, str], Awaitable[Target]]


def fingerprint(command: c.Command) -> str:
    """The same command sent twice has the same fingerprint, whatever key it came with."""
    body = command.model_dump_json(exclude={"idempotency_key"})
    return hashlib.sha256(f"{command.NAME}\n{body}".encode()).hexdigest()[:32]


class CommandHandlers:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        read: ReadModels,
        policies: Mapping[str, EscalationPolicy],
        themes: frozenset[str],
        keys: Keyring | None = None,
        audit: Recorder | None = None,
    ) -> None:
        self.store = store
        self.keys = keys
        self.audit = audit
        self._in_flight = 0
        self._deciding = asyncio.Semaphore(ROUTINE_AT_ONCE)
        self.outcomes: Counter[tuple[str, str]] = Counter()
        """Commands by name and result (ok, duplicate, denied, refused, overloaded): the
        metrics read them."""
        self.clock = clock
        self.read = read
        self.policies = policies
        self.themes = themes
        self.table: dict[type[c.Command], Resolver] = {
            c.SubmitSignal: self._signal,
            c.SubmitUrgentSignal: self._signal,
            c.DeclareEscalation: self._declare,
            c.AcknowledgeEscalation: self._acknowledge,
            c.DeEscalate: self._finish,
            c.ResolveEscalation: self._finish,
            c.CloseEscalation: self._finish,
            c.CallConvening: self._call_convening,
            c.RecordRsvp: self._rsvp,
            c.MarkConvened: self._convened,
            c.FormNetwork: self._form_network,
            c.EnrollAlly: self._on_network,
            c.RemoveAlly: self._on_network,
            c.EraseAlly: self._erase,
            c.ChangeAvailability: self._on_network,
            c.AssignDutyContact: self._on_network,
            c.RecordCallOutcome: self._call_outcome,
            **{command: self._lifecycle for command in c.LIFECYCLE_COMMANDS},
        }

    def register(self, resolvers: Mapping[type[c.Command], Resolver]) -> None:
        """Add the resolvers of commands decided elsewhere (``services.app.outreach``)."""
        self.table.update(resolvers)

    async def handle(
        self,
        command: c.Command,
        *,
        principal: Principal,
        key: str | None,
        channel: str,
        origin: str = "",
    ) -> CommandResult:
        """Decide ``command`` for ``principal`` (who may do it: :mod:`domain.access`; the actor
        of every event it records). ``key``: the client's idempotency key (a retry with the
        same key and command answers as before; a new key when ``None``). Every outcome is
        recorded in the audit trail, from ``channel`` and ``origin`` (the client's address).
        Raises :class:`Overloaded` beyond ``MAX_IN_FLIGHT`` commands at once; urgent ones
        (:func:`is_urgent`) have a reserve beyond that, so a flood of routine signals never
        turns a major incident or an acknowledgement away."""
        limit = MAX_IN_FLIGHT + URGENT_RESERVE if is_urgent(command) else MAX_IN_FLIGHT
        if self._in_flight >= limit:
            self.outcomes[(command.NAME, "overloaded")] += 1
            raise Overloaded(f"{self._in_flight} commands in flight")
        self._in_flight += 1
        try:
            if is_urgent(command):
                return await self._audited(command, principal, key, channel, origin)
            # Routine commands wait their turn here, before any work: the event loop serves
            # its tasks in turn, so an urgent one competes only with the few routine ones
            # being decided, not with every one admitted.
            async with self._deciding:
                return await self._audited(command, principal, key, channel, origin)
        finally:
            self._in_flight -= 1

    async def _audited(
        self, command: c.Command, principal: Principal, key: str | None, channel: str, origin: str
    ) -> CommandResult:
        where = (channel, origin)
        try:
            result = await self._handle(command, principal, key, channel)
        except Forbidden as exc:
            await self._audit(principal, command, "denied", where, exc.code)
            raise
        except DomainError as exc:
            await self._audit(principal, command, "refused", where, exc.code)
            raise
        except InvalidInput as exc:
            await self._audit(principal, command, "refused", where, exc.errors[0].code)
            raise
        object_ = _object_of(command, result.escalation_id, result.signal_id)
        detail = "duplicate" if result.duplicate else ""
        await self._audit(principal, command, "ok", where, detail, object_)
        return result

    async def _handle(
        self, command: c.Command, principal: Principal, key: str | None, channel: str
    ) -> CommandResult:
        authorize(principal, command.NAME)
        if isinstance(command, c.SubmitSignal):
            check_reporter(principal, command.source_role.value, command.reporter)
        elif isinstance(command, c.RecordRsvp):
            check_own_answer(principal, command.ally_id)
        elif getattr(type(command), "OWN_ANSWER", False):
            check_own_answer(principal, str(getattr(command, "ally_id", "")))
        actor = principal.actor
        if isinstance(command, c.SubmitSignal):
            key = _signal_key(command, key)
        command_id = key or uuid.uuid4().hex
        if not isinstance(command, c.SubmitSignal):
            await self._fresh()
        target = await self.table[type(command)](command, actor, command_id)
        meta = CommandMeta(
            command_id=command_id,
            actor=actor,
            source=f"{SOURCE}/{channel}",
            command_hash=fingerprint(command),
            **target.meta,
        )
        outcome = await execute(
            self.store,
            self.clock,
            target.ref,
            target.decider,
            target.command,
            meta,
            expected_new=target.expected_new,
        )
        return self._result(command, outcome)

    async def _audit(
        self,
        principal: Principal,
        command: c.Command,
        result: str,
        where: tuple[str, str],
        detail: str,
        object_: str | None = None,
    ) -> None:
        """Every outcome, on the recorder's policy: a gap in the trail never undoes a command."""
        self.outcomes[(command.NAME, detail if detail == "duplicate" else result)] += 1
        if self.audit is None:
            return
        channel, address = where
        object_ = object_ or _object_of(command)
        await self.audit.record(
            principal.actor,
            command.NAME,
            object_,
            result,
            channel=channel,
            address=address,
            detail=detail,
        )

    async def _fresh(self) -> None:
        """Commands from people are decided on read models that include everything recorded
        before them (a convening called right after the declaration finds the escalation).
        Signals, the hot path, read the network's own events when the projection lags."""
        if not await self.read.caught_up(await self.store.last_position(), FRESH_WAIT_S):
            raise ReadModelLagging("read models are catching up; try again")

    async def decide(
        self, ref: AggregateRef, decider: Decider[Any, Any], command: Any, meta: CommandMeta
    ) -> Outcome:
        """The same path for the workflow's own commands (no client, no fingerprint)."""
        return await execute(self.store, self.clock, ref, decider, command, meta)

    def _result(self, command: c.Command, outcome: Outcome) -> CommandResult:
        escalation_id = outcome.escalation_id
        state = outcome.state
        if escalation_id is None and isinstance(state, esc.EscalationState) and state.current:
            escalation_id = state.current.escalation_id  # a declaration joined an open one
        signal_id = (
            next((getattr(e.data, "signal_id", None) for e in outcome.events), None)
            if isinstance(command, c.SubmitSignal)
            else None
        )
        return CommandResult(
            command=command.NAME,
            event_ids=tuple(e.id for e in outcome.events),
            event_types=tuple(e.type.removeprefix("nl.bondgenoten.") for e in outcome.events),
            position=outcome.version,
            duplicate=outcome.duplicate,
            escalation_id=escalation_id,
            signal_id=signal_id,
        )

    # ---------------------------------------------------------------- signals

    async def _signal(self, cmd: c.SubmitSignal, actor: str, key: str) -> Target:
        network = await self._network(cmd)
        context = IntakeContext(
            {network.network_id: network} if network else {}, self.themes, self.clock.now()
        )
        event = decide_signal(cmd.model_copy(update={"idempotency_key": key}), context)
        return Target(
            AggregateRef(kind=event.lane, area=event.area, id=event.signal_id),
            signal_decider,
            event,
            meta={
                "occurred_at": cmd.occurred_at,
                # One id per signal, whoever retries it: the historical derivation.
                "event_ids": lambda _i: deterministic_id("signal-received", event.signal_id),
            },
            expected_new=True,
        )

    async def _network(self, cmd: c.SubmitSignal) -> KnownNetwork | None:
        """The projection answers fast; right after a network change it may lag, so an unknown
        network or reporter is checked once more against the network's own events."""
        known = self.read.known_network(cmd.network_id)
        if known is not None and (
            cmd.source_role is not SourceRole.ALLY or cmd.reporter in known.members
        ):
            return known
        ref = await self.store.find("network", cmd.network_id)
        if ref is None:
            return known
        stored, _ = await self.store.load(ref)
        state = nw.network_decider.fold(e.data for e in stored)
        return KnownNetwork(cmd.network_id, state.areas, state.members)

    # ---------------------------------------------------------------- escalations

    async def _declare(self, cmd: c.DeclareEscalation, actor: str, key: str) -> Target:
        errors = []
        if cmd.theme not in self.themes:
            errors.append(
                FieldError("theme", "unknown theme; see GET /api/v1/themes", "unknown_theme")
            )
        if not any(n.serves(cmd.area) for n in self.read.networks.networks.values()):
            errors.append(FieldError("area", "no network serves this area", "unknown_area"))
        if errors:
            raise InvalidInput(errors)
        now = self.clock.now()
        picture = situation(
            self.read, cmd.area, cmd.theme, cmd.communities, now, major_incident=cmd.major_incident
        )
        command = esc.Declare(
            now=now,
            area=cmd.area,
            theme=cmd.theme,
            signal_id=cmd.signal_id,
            reason=cmd.reason,
            situation=picture,
            policy=policy_for(self.policies, cmd.area),
            by=actor,
        )
        return Target(slot_ref(cmd.area, cmd.theme), esc.escalation_decider, command)

    def _slot(self, escalation_id: str) -> AggregateRef:
        return slot_ref(*esc.slot_of(escalation_id))

    async def _acknowledge(self, cmd: c.AcknowledgeEscalation, actor: str, key: str) -> Target:
        command = esc.Acknowledge(
            now=self.clock.now(), by=actor, note=cmd.note, escalation_id=cmd.escalation_id
        )
        return Target(self._slot(cmd.escalation_id), esc.escalation_decider, command)

    async def _finish(
        self, cmd: c.DeEscalate | c.ResolveEscalation | c.CloseEscalation, actor: str, key: str
    ) -> Target:
        now = self.clock.now()
        fields = {"now": now, "by": actor, "reason": cmd.reason, "escalation_id": cmd.escalation_id}
        command: esc.EscalationCommand
        if isinstance(cmd, c.DeEscalate):
            command = esc.DeEscalate(**fields)
        elif isinstance(cmd, c.ResolveEscalation):
            command = esc.Resolve(**fields)
        else:
            command = esc.Close(**fields)
        return Target(self._slot(cmd.escalation_id), esc.escalation_decider, command)

    async def _call_convening(self, cmd: c.CallConvening, actor: str, key: str) -> Target:
        now = self.clock.now()
        p, callable_ = convening_proposal(
            self.read, self.policies, cmd.escalation_id, now, cmd.communities
        )
        if cmd.invited is None:
            invited = p.invited
        else:
            # Only allies who may be called: members of a network here, with consent, available.
            refused = [a for a in cmd.invited if a not in callable_]
            if refused:
                raise DomainError(f"not callable allies of this area: {refused}", field="invited")
            invited = tuple(dict.fromkeys(cmd.invited))
        if not invited:
            raise NotFound("nobody to invite: no callable allies for this area", field="invited")
        command = esc.CallConvening(
            now=now,
            escalation_id=cmd.escalation_id,
            convening_id=deterministic_id("convening", cmd.escalation_id, key)[:24],
            starts_at=cmd.starts_at or p.starts_at,
            mode=cmd.mode or p.mode,
            place=p.place if cmd.place is None else cmd.place,
            invited=invited,
            required_communities=p.communities,
            quorum=cmd.quorum or min(p.quorum, len(invited)),
            rsvp_deadline=cmd.rsvp_deadline or p.rsvp_deadline,
        )
        return Target(self._slot(cmd.escalation_id), esc.escalation_decider, command)

    def _escalation_of_convening(self, convening_id: str) -> str:
        escalation_id = self.read.escalation_of_convening(convening_id)
        if escalation_id is None:
            raise NotFound(f"unknown convening {convening_id}", field="convening_id")
        return escalation_id

    async def _rsvp(self, cmd: c.RecordRsvp, actor: str, key: str) -> Target:
        escalation_id = self._escalation_of_convening(cmd.convening_id)
        personal = self.read.ally_personal(cmd.ally_id)
        command = esc.RecordRsvp(
            now=self.clock.now(),
            convening_id=cmd.convening_id,
            ally_id=cmd.ally_id,
            answer=cmd.answer,
            communities=personal.communities if personal else (),
        )
        return Target(self._slot(escalation_id), esc.escalation_decider, command)

    async def _convened(self, cmd: c.MarkConvened, actor: str, key: str) -> Target:
        escalation_id = self._escalation_of_convening(cmd.convening_id)
        command = esc.MarkConvened(
            now=self.clock.now(), convening_id=cmd.convening_id, attending=cmd.attending
        )
        return Target(self._slot(escalation_id), esc.escalation_decider, command)

    # ---------------------------------------------------------------- networks

    async def _form_network(self, cmd: c.FormNetwork, actor: str, key: str) -> Target:
        ref = AggregateRef(kind="network", area=cmd.area, id=cmd.network_id)
        found = await self.store.find("network", cmd.network_id)
        if found is not None and found != ref:  # one id, one network: in one area
            raise Conflict(f"network {cmd.network_id} already exists", field="network_id")
        event = NetworkFormed(**cmd.model_dump())
        return Target(ref, nw.network_decider, nw.FormNetwork(event=event))

    async def _network_ref(self, network_id: str) -> AggregateRef:
        ref = await self.store.find("network", network_id)
        if ref is None:
            raise NotFound("unknown network", field="network_id")
        return ref

    async def _on_network(
        self,
        cmd: c.EnrollAlly | c.RemoveAlly | c.ChangeAvailability | c.AssignDutyContact,
        actor: str,
        key: str,
    ) -> Target:
        command: nw.NetworkCommand
        if isinstance(cmd, c.EnrollAlly):
            command = nw.EnrollAlly(event=AllyEnrolled(**cmd.model_dump()))
        elif isinstance(cmd, c.RemoveAlly):
            command = nw.RemoveAlly(
                network_id=cmd.network_id, ally_id=cmd.ally_id, reason=cmd.reason
            )
        elif isinstance(cmd, c.ChangeAvailability):
            command = nw.ChangeAvailability(event=AllyAvailabilityChanged(**cmd.model_dump()))
        else:
            command = nw.AssignDutyContact(event=DutyContactAssigned(**cmd.model_dump()))
        return Target(await self._network_ref(cmd.network_id), nw.network_decider, command)

    async def _erase(self, cmd: c.EraseAlly, actor: str, key: str) -> Target:
        """Erasure destroys the ally's key *before* ``AllyErased`` is appended, once the
        decider has agreed: so an ``AllyErased`` in the log always means the key is gone. If
        the append then fails, the ally is already unreadable and a retry of the command
        (same or new key) appends the event; repeating an erasure is a no-op that destroys
        the (already destroyed) key again."""
        ref = await self._network_ref(cmd.network_id)
        stored, _ = await self.store.load(ref)
        command = nw.EraseAlly(network_id=cmd.network_id, ally_id=cmd.ally_id, reason=cmd.reason)
        nw.network_decider.decide(command, nw.network_decider.fold(e.data for e in stored))
        if self.keys is not None:
            await self.keys.destroy_ally(cmd.ally_id)
        log.info("ally.erased", network_id=cmd.network_id, ally_id=cmd.ally_id)
        return Target(ref, nw.network_decider, command)

    async def _call_outcome(self, cmd: c.RecordCallOutcome, actor: str, key: str) -> Target:
        ref = await self._network_ref(cmd.network_id)
        stored, _ = await self.store.load(ref)
        members = nw.network_decider.fold(e.data for e in stored).members
        event = CallOutcomeRecorded(**cmd.model_dump(exclude={"occurred_at"}))
        command = nw.RecordCallOutcome(event=event, occurred_at=cmd.occurred_at)
        (recorded,) = nw.decide_call_outcome(command, members, self.clock.now())
        return Target(
            AggregateRef(kind="contact", area=ref.area, id=cmd.ally_id),
            nw.contact_decider,
            recorded,
            meta={"occurred_at": cmd.occurred_at},
        )

    async def _lifecycle(self, cmd: c.Command, actor: str, key: str) -> Target:
        """Meetings, chair, evaluation, core group, seats and settings: the network decider
        judges them against the network's own events (``now``: the clock)."""
        network_id = str(getattr(cmd, "network_id", ""))
        ref = await self._network_ref(network_id)
        return Target(ref, nw.network_decider, lifecycle_command(cmd, self.clock.now()))


def lifecycle_command(cmd: c.Command, now: datetime) -> nw.LifecycleCommand:
    """The network decider's command for a lifecycle command from outside."""
    fields = cmd.model_dump(exclude={"next_meeting", "held_at", "evaluated_at"})
    if isinstance(cmd, c.ChangeNetworkSettings):
        return nw.ChangeSettings(event=NetworkSettingsChanged(**fields))
    if isinstance(cmd, c.PlanMeeting):
        return nw.PlanMeeting(event=MeetingPlanned(**fields), now=now)
    if isinstance(cmd, c.AssignChair):
        return nw.AssignChair(event=MeetingChairAssigned(**fields))
    if isinstance(cmd, c.RecordMeeting):
        nxt = cmd.next_meeting
        following = (
            None if nxt is None else MeetingPlanned(network_id=cmd.network_id, **nxt.model_dump())
        )
        held = MeetingHeld(**fields, held_at=cmd.held_at or now)
        return nw.RecordMeeting(event=held, next_meeting=following, now=now)
    if isinstance(cmd, c.RecordEvaluation):
        evaluation = EvaluationRecorded(**fields, evaluated_at=cmd.evaluated_at or now)
        return nw.RecordEvaluation(event=evaluation, now=now)
    if isinstance(cmd, c.AddCoreMember):
        return nw.AddCoreMember(event=CoreGroupMemberAdded(**fields))
    if isinstance(cmd, c.RemoveCoreMember):
        return nw.RemoveCoreMember(event=CoreGroupMemberRemoved(**fields))
    if isinstance(cmd, c.AnnounceHandover):
        return nw.AnnounceHandover(event=HandoverAnnounced(**fields))
    if isinstance(cmd, c.IntroduceSuccessor):
        return nw.IntroduceSuccessor(assigned=DutyContactAssigned(**fields))
    if isinstance(cmd, c.VacateSeat):
        return nw.VacateSeat(**fields)
    raise TypeError(f"not a lifecycle command: {cmd.NAME}")


OBJECT_FIELDS = (
    "escalation_id",
    "convening_id",
    "network_id",
    "signal_id",
    "pulse_id",
    "question_id",
    "request_id",
)


def _object_of(
    command: c.Command, escalation_id: str | None = None, signal_id: str | None = None
) -> str:
    """What a command acted on, by id (never a name): ``escalation:<id>``, ``network:<id>``."""
    found = {"escalation_id": escalation_id, "signal_id": signal_id}
    for name in OBJECT_FIELDS:
        value = getattr(command, name, None) or found.get(name)
        if isinstance(value, str) and value:
            ally = getattr(command, "ally_id", None)
            suffix = f"/ally:{ally}" if isinstance(ally, str) and ally else ""
            return f"{name.removesuffix('_id')}:{value}{suffix}"
    return command.NAME.split(".")[0]


def _signal_key(cmd: c.SubmitSignal, key: str | None) -> str | None:
    """One key per signal: the channel's (``Idempotency-Key``, ``command_id``) or the body's
    historical ``idempotency_key``; both given must agree."""
    if key and cmd.idempotency_key and key != cmd.idempotency_key:
        raise InvalidInput(
            [
                FieldError(
                    "idempotency_key",
                    "differs from the Idempotency-Key / command_id of the request",
                    "idempotency_key_mismatch",
                )
            ]
        )
    return key or cmd.idempotency_key


def _receive(command: Any, state: Any) -> list[Any]:
    """A signal is recorded once: a retry finds it stored and records nothing."""
    return [] if state else [command]


signal_decider: Decider[Any, Any] = Decider(_receive, lambda s, e: s or e, None)
"""The signal aggregate: checked by :func:`domain.intake.decide_signal`, recorded once."""
