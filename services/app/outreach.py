"""Pulse checks, constituency questions and mobilisation requests: the use cases around the
deciders in :mod:`domain.pulse`, :mod:`domain.questions` and :mod:`domain.mobilisation`.

* :class:`OutreachCommands` resolves each client command to its aggregate and decider
  command (registered into the one handler table, :meth:`CommandHandlers.register`): the
  selection of a pulse or a mobilisation is resolved here, from the networks read model at the
  moment of asking, and recorded as the invited allies.
* :class:`QuestionTimers` arms each question's escalation timer (a durable timer, like the
  workflow's) and, when it fires, decides ``EscalateQuestion`` with a deterministic command id:
  a replayed or twice-delivered timer records nothing new.
* :class:`OutreachNotifier` sends the pulse and mobilisation messages to each invited ally
  (with their personal signed link) and an escalated question to the policy's first level,
  with receipts on a notification aggregate like every alert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from domain import mobilisation as mob
from domain import pulse as pls
from domain import questions as qst
from domain.delivery import RetryPolicy
from domain.errors import Conflict, NotFound
from domain.intake import FieldError, InvalidInput
from domain.policy import EscalationPolicy, policy_for
from events.envelope import AggregateRef, AwareDatetime, Envelope, Token, deterministic_id
from events.escalation import Recipient
from events.mobilisation import MOBILISATION_KIND, MobilisationRequested
from events.network import Availability, DutyRole
from events.pulse import PULSE_KIND, PulseCheckStarted, PulseSelection
from events.questions import QUESTION_KIND, QuestionEscalated, QuestionRaised
from services.app import commands as c
from services.app.delivery import Delivery, deliver_recorded
from services.app.execute import CommandMeta
from services.app.handlers import CommandHandlers, Resolver, Target
from services.app.messages import Deployment, external_id
from services.app.ports import Channel, Clock, EventStore, RawEvent, Scheduler
from services.app.readmodels import ReadModels
from services.texts_nl import outreach as texts
from services.texts_nl.alerts import theme_nl, when_nl

log = structlog.get_logger(__name__)
SOURCE = "/bondgenoten/outreach"
TIMER_ACTOR = "system:workflow"
QUESTION_TIMER: Final = "question_escalation"


def _refs_kind(kind: str, area: str, aggregate_id: str) -> AggregateRef:
    return AggregateRef(kind=kind, area=area, id=aggregate_id)


class OutreachCommands:
    """Resolvers of the pulse, question and mobilisation commands."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        read: ReadModels,
        question_after: timedelta,
    ) -> None:
        self.store = store
        self.clock = clock
        self.read = read
        self.question_after = question_after

    def table(self) -> dict[type[c.Command], Resolver]:
        return {
            c.StartPulseCheck: self._start_pulse,
            c.RecordPulseAnswer: self._on_pulse,
            c.CompileFramework: self._on_pulse,
            c.RaiseQuestion: self._raise_question,
            c.AnswerQuestion: self._on_question,
            c.RelayAnswer: self._on_question,
            c.RequestMobilisation: self._request_mobilisation,
            c.AnswerMobilisation: self._on_mobilisation,
            c.ReportMobilisation: self._on_mobilisation,
        }

    # ------------------------------------------------------------ helpers

    def callable_allies(self, area: str) -> list[tuple[str, list[str], list[str], list[str]]]:
        """Members who may be called (consent, not unavailable) of the networks serving
        ``area``: (ally id, areas, themes, communities), in enrolment order."""
        found = []
        for network in self.read.networks.networks.values():
            if not network.serves(area):
                continue
            for m in network.members.values():
                if m.consent_to_be_called and m.availability is not Availability.UNAVAILABLE:
                    communities = list(m.personal.communities)
                    found.append((m.ally_id, m.areas, m.themes, communities))
        return found

    def _check_escalation(self, escalation_id: str | None) -> None:
        if (
            escalation_id is not None
            and escalation_id not in self.read.escalations.state.escalations
        ):
            raise NotFound(f"unknown escalation {escalation_id}", field="escalation_id")

    async def _ref(self, kind: str, aggregate_id: str, field: str) -> AggregateRef:
        ref = await self.store.find(kind, aggregate_id)
        if ref is None:
            raise NotFound(f"unknown {kind} {aggregate_id}", field=field)
        return ref

    async def _new_ref(self, kind: str, area: str, aggregate_id: str, field: str) -> AggregateRef:
        ref = _refs_kind(kind, area, aggregate_id)
        found = await self.store.find(kind, aggregate_id)
        if found is not None and found != ref:  # one id, one aggregate: in one area
            raise Conflict(f"{kind} {aggregate_id} already exists", field=field)
        return ref

    # ------------------------------------------------------------ pulse checks

    async def _start_pulse(self, cmd: c.StartPulseCheck, actor: str, key: str) -> Target:
        asked_by = cmd.asked_by
        if asked_by is None:
            role = actor.partition(":")[0]
            if role not in DutyRole.__members__.values():
                message = "say whether police or municipality asks"
                raise InvalidInput([FieldError("asked_by", message, "missing")])
            asked_by = DutyRole(role)
        self._check_escalation(cmd.escalation_id)
        selection = PulseSelection(
            communities=cmd.communities, themes=cmd.themes, areas=cmd.areas, allies=cmd.allies
        )
        invited = pls.select_allies(self.callable_allies(cmd.area), selection)
        command = pls.StartPulse(
            now=self.clock.now(),
            pulse_id=cmd.pulse_id,
            area=cmd.area,
            theme=cmd.theme,
            question=cmd.question,
            deadline=cmd.deadline,
            asked_by=asked_by,
            selection=selection,
            invited=invited,
            escalation_id=cmd.escalation_id,
        )
        ref = await self._new_ref(PULSE_KIND, cmd.area, cmd.pulse_id, "pulse_id")
        return Target(ref, pls.pulse_decider, command)

    async def _on_pulse(
        self, cmd: c.RecordPulseAnswer | c.CompileFramework, actor: str, key: str
    ) -> Target:
        ref = await self._ref(PULSE_KIND, cmd.pulse_id, "pulse_id")
        command: pls.PulseCommand
        if isinstance(cmd, c.RecordPulseAnswer):
            command = pls.AnswerPulse(
                now=self.clock.now(),
                ally_id=cmd.ally_id,
                level=cmd.level,
                note=cmd.note,
                advice=cmd.advice,
            )
        else:
            self._check_escalation(cmd.escalation_id)
            command = pls.CompileFramework(
                title=cmd.title,
                adopted=cmd.adopted,
                measures=tuple(cmd.measures),
                escalation_id=cmd.escalation_id,
            )
        return Target(ref, pls.pulse_decider, command)

    # ------------------------------------------------------------ questions

    async def _raise_question(self, cmd: c.RaiseQuestion, actor: str, key: str) -> Target:
        network = self.read.networks.networks.get(cmd.network_id)
        if network is None:
            raise NotFound("unknown network", field="network_id")
        self._check_escalation(cmd.escalation_id)
        area = cmd.area or network.area
        command = qst.RaiseQuestion(
            now=self.clock.now(),
            question_id=cmd.question_id,
            network_id=cmd.network_id,
            area=area,
            ally_id=cmd.ally_id,
            network_members=frozenset(network.members),
            routed_to=cmd.routed_to,
            raised_via="link" if actor.startswith("ally:") else "call_taker",
            text=cmd.text,
            escalate_after=self.question_after,
            escalation_id=cmd.escalation_id,
        )
        ref = await self._new_ref(QUESTION_KIND, area, cmd.question_id, "question_id")
        return Target(ref, qst.question_decider, command)

    async def _on_question(
        self, cmd: c.AnswerQuestion | c.RelayAnswer, actor: str, key: str
    ) -> Target:
        ref = await self._ref(QUESTION_KIND, cmd.question_id, "question_id")
        command: qst.QuestionCommand
        if isinstance(cmd, c.AnswerQuestion):
            command = qst.AnswerQuestion(answer=cmd.answer)
        else:
            command = qst.RelayAnswer(now=self.clock.now(), to=cmd.to, relayed_at=cmd.relayed_at)
        return Target(ref, qst.question_decider, command)

    # ------------------------------------------------------------ mobilisation requests

    async def _request_mobilisation(
        self, cmd: c.RequestMobilisation, actor: str, key: str
    ) -> Target:
        self._check_escalation(cmd.escalation_id)
        selection = PulseSelection(
            communities=cmd.communities, themes=cmd.themes, allies=cmd.allies
        )
        members = self.callable_allies(cmd.area)
        if not (cmd.communities or cmd.themes or cmd.allies):
            invited = tuple(m[0] for m in members)  # nobody singled out: every callable ally
        else:
            invited = pls.select_allies(members, selection)
        command = mob.RequestMobilisation(
            now=self.clock.now(),
            request_id=cmd.request_id,
            area=cmd.area,
            task=cmd.task,
            message=cmd.message,
            invited=invited,
            respond_by=cmd.respond_by,
            escalation_id=cmd.escalation_id,
        )
        ref = await self._new_ref(MOBILISATION_KIND, cmd.area, cmd.request_id, "request_id")
        return Target(ref, mob.mobilisation_decider, command)

    async def _on_mobilisation(
        self, cmd: c.AnswerMobilisation | c.ReportMobilisation, actor: str, key: str
    ) -> Target:
        ref = await self._ref(MOBILISATION_KIND, cmd.request_id, "request_id")
        command: mob.MobilisationCommand
        if isinstance(cmd, c.AnswerMobilisation):
            command = mob.AnswerMobilisation(ally_id=cmd.ally_id, answer=cmd.answer)
        else:
            command = mob.ReportBack(ally_id=cmd.ally_id, report=cmd.report)
        return Target(ref, mob.mobilisation_decider, command)


# ---------------------------------------------------------------- question timers


class QuestionTimer(BaseModel):
    """What a question's durable timer carries back when it fires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["question_escalation"] = QUESTION_TIMER
    timer_id: str
    question_id: Token
    area: str


class QuestionTimers:
    def __init__(
        self,
        handlers: CommandHandlers,
        scheduler: Scheduler,
        policies: Mapping[str, EscalationPolicy],
    ) -> None:
        self.handlers = handlers
        self.scheduler = scheduler
        self.policies = policies

    async def on_question_event(self, raw: RawEvent) -> None:
        """Arm the timer of each raised question (idempotent per timer id)."""
        if raw.headers.get("ce-type") != QuestionRaised.TYPE:
            return
        e = raw.decode().data
        assert isinstance(e, QuestionRaised)
        payload = QuestionTimer(timer_id=e.timer_id, question_id=e.question_id, area=e.area)
        await self.scheduler.schedule(e.timer_id, e.escalate_at, payload.model_dump_json().encode())

    async def on_timer(self, body: bytes) -> None:
        timer = QuestionTimer.model_validate_json(body)
        level = policy_for(self.policies, timer.area).levels[0]
        command = qst.EscalateQuestion(
            timer_id=timer.timer_id,
            level=1,
            level_name=level.name,
            recipients=tuple(r.name for r in level.recipients),
        )
        meta = CommandMeta(
            command_id=deterministic_id("timer", timer.timer_id),
            actor=TIMER_ACTOR,
            source=SOURCE,
        )
        ref = _refs_kind(QUESTION_KIND, timer.area, timer.question_id)
        await self.handlers.decide(ref, qst.question_decider, command, meta)


# ---------------------------------------------------------------- messages and delivery

OutreachKind = Literal["pulse", "mobilisation", "question_escalated"]


class OutreachMessage(BaseModel):
    """A pulse question, a mobilisation request or an escalated question, as sent. Like an
    invitation it names no one: the recipient's address reaches them, the payload carries
    pseudonymous ids, codes and the professionals' own text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: Token
    deployment: Deployment | None = None
    kind: OutreachKind
    recipient: Token
    subject_id: Token
    """The pulse, request or question id."""
    area: str
    area_name: str = Field(min_length=1, max_length=120)
    text: str = Field(default="", max_length=1000)
    theme: str = ""
    task: str = ""
    deadline: AwareDatetime | None = None
    level_name: str = ""
    routed_to: str = ""
    sent_at: AwareDatetime
    link: str | None = Field(default=None, max_length=300)

    @property
    def external_id(self) -> str:
        return external_id(self.deployment, self.alert_id)

    def _fields_nl(self) -> dict[str, Any]:
        return {
            "theme_nl": theme_nl(self.theme) if self.theme else "",
            "area_name": self.area_name,
            "question": self.text,
            "message": self.text,
            "task_nl": texts.TASKS_NL.get(self.task, self.task),
            "deadline_nl": when_nl(self.deadline) if self.deadline else "",
            "link_nl": self.link or texts.NO_LINK,
            "raised_nl": when_nl(self.sent_at),
            "routed_nl": texts.ROUTED_NL.get(self.routed_to, self.routed_to),
            "level_name": self.level_name,
            "question_id": self.subject_id,
        }

    @property
    def headline_nl(self) -> str:
        template = {
            "pulse": texts.PULSE_HEADLINE,
            "mobilisation": texts.MOBILISATION_HEADLINE,
            "question_escalated": texts.QUESTION_ESCALATED_HEADLINE,
        }[self.kind]
        return template.format(**self._fields_nl())

    @property
    def body_nl(self) -> str:
        template = {
            "pulse": texts.PULSE_BODY,
            "mobilisation": texts.MOBILISATION_BODY,
            "question_escalated": texts.QUESTION_ESCALATED_BODY,
        }[self.kind]
        return template.format(**self._fields_nl())

    @property
    def console_nl(self) -> str:
        tail = texts.OUTREACH_TAIL.format(link_nl=self.link) if self.link else ""
        return texts.OUTREACH_CONSOLE.format(
            label=texts.OUTREACH_LABEL[self.kind],
            recipient=self.recipient,
            headline=self.headline_nl,
            tail=tail,
        )

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["headline_nl"] = self.headline_nl
        data["body_nl"] = self.body_nl
        return data


NOTIFIED = frozenset({PulseCheckStarted.TYPE, MobilisationRequested.TYPE, QuestionEscalated.TYPE})


class OutreachNotifier:
    """Delivers pulse questions and mobilisation requests to each invited ally (their own
    contact details, the policy's invitation channels, their own signed link) and escalated
    questions to the policy's first level; receipts make it replay-safe, as for alerts."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        channels: Mapping[str, Channel],
        policies: Mapping[str, EscalationPolicy],
        recipient_of: Callable[[str, str], Recipient | None],
        area_name: Callable[[str], str],
        pulse_link: Callable[[str, str, datetime], str | None],
        mobilisation_link: Callable[[str, str, datetime], str | None],
        deployment: Callable[[], str | None] = lambda: None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``recipient_of(ally_id, area)``: how to reach an ally under the area's invitation
        policy (``None``: not a member any more, or no channel)."""
        self.store = store
        self.clock = clock
        self.channels = channels
        self.policies = policies
        self.recipient_of = recipient_of
        self.area_name = area_name
        self.pulse_link = pulse_link
        self.mobilisation_link = mobilisation_link
        self.deployment = deployment
        self.retry = retry or RetryPolicy()
        self.sleep = sleep

    def messages(self, env: Envelope[Any]) -> list[tuple[OutreachMessage, Recipient]]:
        e = env.data
        now = self.clock.now()
        out: list[tuple[OutreachMessage, Recipient]] = []
        if isinstance(e, PulseCheckStarted | MobilisationRequested):
            is_pulse = isinstance(e, PulseCheckStarted)
            subject = e.pulse_id if isinstance(e, PulseCheckStarted) else e.request_id
            deadline = e.deadline if isinstance(e, PulseCheckStarted) else e.respond_by
            link = self.pulse_link if is_pulse else self.mobilisation_link
            for ally_id in e.invited:
                recipient = self.recipient_of(ally_id, e.area)
                if recipient is None:
                    log.warning("outreach.unreachable", ally_id=ally_id, subject=subject)
                    continue
                message = OutreachMessage(
                    alert_id=f"{'pls' if is_pulse else 'mob'}-{subject}"[:64],
                    deployment=self.deployment(),
                    kind="pulse" if is_pulse else "mobilisation",
                    recipient=ally_id,
                    subject_id=subject,
                    area=e.area,
                    area_name=self.area_name(e.area),
                    text=e.question if isinstance(e, PulseCheckStarted) else e.message,
                    theme=e.theme if isinstance(e, PulseCheckStarted) else "",
                    task="" if isinstance(e, PulseCheckStarted) else e.task,
                    deadline=deadline,
                    sent_at=now,
                    link=link(subject, ally_id, deadline),
                )
                out.append((message, recipient))
        elif isinstance(e, QuestionEscalated):
            area = env.aggregate.area
            level = policy_for(self.policies, area).levels[0]
            for r in level.recipients:
                if r.name not in e.recipients:
                    continue
                message = OutreachMessage(
                    alert_id=f"qes-{e.question_id}"[:64],
                    deployment=self.deployment(),
                    kind="question_escalated",
                    recipient=r.name,
                    subject_id=e.question_id,
                    area=area,
                    area_name=self.area_name(area),
                    level_name=e.level_name,
                    sent_at=now,
                )
                out.append((message, r))
        return out

    async def on_event(self, raw: RawEvent) -> None:
        if raw.headers.get("ce-type") not in NOTIFIED:
            return
        env = raw.decode()
        deliveries = self.messages(env)
        results = await asyncio.gather(
            *(self._deliver(env, m, r) for m, r in deliveries), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def _deliver(
        self, cause: Envelope[Any], message: OutreachMessage, recipient: Recipient
    ) -> None:
        await deliver_recorded(
            Delivery(self.store, self.clock, self.channels, self.retry, self.sleep),
            message,
            recipient,
            area=cause.aggregate.area,
            actor="system:notifier",
            source=SOURCE,
            correlation_id=cause.aggregate.id,
            causation_id=cause.id,
        )


def ally_recipient(
    personal_of: Callable[[str], Any], policies: Mapping[str, EscalationPolicy]
) -> Callable[[str, str], Recipient | None]:
    """How to reach an ally under their area's invitation policy (as for invitations)."""

    def recipient_of(ally_id: str, area: str) -> Recipient | None:
        personal = personal_of(ally_id)
        if personal is None:
            return None
        policy = policy_for(policies, area).invitations
        addresses = dict(policy.addresses)
        if personal.email:
            addresses["email"] = str(personal.email)
        channels = tuple(ch for ch in policy.channels if addresses.get(ch))
        if not channels:
            return None
        return Recipient(name=ally_id, channels=channels, addresses=addresses)

    return recipient_of


__all__: Sequence[str] = (
    "OutreachCommands",
    "OutreachMessage",
    "OutreachNotifier",
    "QuestionTimers",
    "ally_recipient",
)
