"""The after-action review of one incident (escalation), folded from its events: the key moments
with both times (when it happened, ``occurred_at``, and when the service learned it,
``recorded_at``), the durations between them, the signals (late ones flagged), the alerts and
their deliveries, the calls, the convenings, and the area's tension over the incident.

Pure: the events come in (the escalation's own, its notifications, the signals of its area and
theme, its call outcomes), a :class:`IncidentReview` goes out. The same events give the same
review, so a report of it is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, computed_field

from events.envelope import Envelope
from events.escalation import (
    Convened,
    ConveningCalled,
    ConveningQuorate,
    CrisisAlertIssued,
    EscalationAcknowledged,
    EscalationClosed,
    EscalationDeEscalated,
    EscalationOpened,
    EscalationResolved,
    RsvpDeadlinePassed,
    RsvpRecorded,
    SignalJoined,
)
from events.network import CallOutcomeRecorded
from events.notification import DeliveryFailed, DeliverySucceeded
from events.questions import AnswerRelayed, QuestionAnswered, QuestionEscalated, QuestionRaised
from events.signals import SignalReceived
from projections.tension_map import (
    DEFAULT_TENSION_CONFIG,
    Band,
    TensionConfig,
    TensionMapProjection,
    band_of,
    cell_score,
)

LATE_AFTER = timedelta(minutes=15)
"""A signal recorded more than this after it occurred is flagged as recorded later (reports
typed in after a phone call, or about an earlier day)."""
CURVE_POINTS = 48
BAND_ORDER = [b.value for b in Band]

KEY_MOMENTS = (
    "first_signal",
    "band_crossed",
    "opened",
    "alerted",
    "acknowledged",
    "convening_called",
    "quorate",
    "convened",
    "de_escalated",
    "resolved",
    "closed",
)
"""The key moments in the order an incident normally passes them (``alerted`` once per level)."""


class Moment(BaseModel):
    key: str
    occurred_at: datetime
    recorded_at: datetime
    level: int | None = None
    """For ``alerted``: the policy's level."""
    ref: str = ""
    """What it concerns: a signal, alert or convening id."""

    @computed_field  # type: ignore[prop-decorator]  # in the JSON export too
    @property
    def recorded_later(self) -> bool:
        return self.recorded_at - self.occurred_at > LATE_AFTER


class Duration(BaseModel):
    from_key: str
    to_key: str
    seconds: float


class SignalLine(BaseModel):
    signal_id: str
    reporter: str
    """``role:id`` of who reported it (a pseudonym in a reviewer's copy)."""
    level: int
    occurred_at: datetime
    recorded_at: datetime
    major_incident: bool = False
    joined: bool = True
    """Part of the escalation (opened with it or joined); else only context of the area."""

    @computed_field  # type: ignore[prop-decorator]  # in the JSON export too
    @property
    def recorded_later(self) -> bool:
        return self.recorded_at - self.occurred_at > LATE_AFTER


class DeliveryLine(BaseModel):
    level: int
    round: int
    alert_id: str
    recipient: str
    channel: str | None = None
    delivered_at: datetime | None = None
    failures: int = 0


class CallLine(BaseModel):
    ally: str
    outcome: str
    at: datetime
    caller: str


class ConveningLine(BaseModel):
    convening_id: str
    called_at: datetime
    starts_at: datetime
    invited: int
    answered: int = 0
    attending: int = 0
    required_communities: list[str] = Field(default_factory=list)
    covered_communities: list[str] = Field(default_factory=list)
    missing_communities: list[str] = Field(default_factory=list)
    quorate_at: datetime | None = None
    convened_at: datetime | None = None
    superseded_by: str | None = None


class QuestionLine(BaseModel):
    """A constituency question raised about the incident: when it was raised, answered, relayed
    back and escalated, and how long each took. Never the question's text (the ally's personal
    data) nor the answer (it can quote the question)."""

    question_id: str
    ally: str
    """Who raised it (a pseudonym in a reviewer's copy)."""
    routed_to: str
    raised_via: str
    raised_at: datetime
    answered_at: datetime | None = None
    relayed_at: datetime | None = None
    escalated_at: datetime | None = None
    escalated_level: int | None = None

    @computed_field  # type: ignore[prop-decorator]  # in the JSON export too
    @property
    def seconds_to_answer(self) -> float | None:
        if self.answered_at is None:
            return None
        return (self.answered_at - self.raised_at).total_seconds()

    @computed_field  # type: ignore[prop-decorator]  # in the JSON export too
    @property
    def seconds_to_relay(self) -> float | None:
        if self.relayed_at is None:
            return None
        return (self.relayed_at - self.raised_at).total_seconds()


class Correction(BaseModel):
    """Something the log corrected later: a signal learned after the fact, a convening moved."""

    kind: str
    ref: str
    occurred_at: datetime
    recorded_at: datetime


class TensionPoint(BaseModel):
    at: datetime
    score: float
    band: str


class IncidentReview(BaseModel):
    escalation_id: str
    area: str
    theme: str
    trigger: str
    reason: str
    moments: list[Moment] = Field(default_factory=list)
    durations: list[Duration] = Field(default_factory=list)
    signals: list[SignalLine] = Field(default_factory=list)
    deliveries: list[DeliveryLine] = Field(default_factory=list)
    calls: list[CallLine] = Field(default_factory=list)
    convenings: list[ConveningLine] = Field(default_factory=list)
    questions: list[QuestionLine] = Field(default_factory=list)
    corrections: list[Correction] = Field(default_factory=list)
    tension: list[TensionPoint] = Field(default_factory=list)

    def moment(self, key: str, level: int | None = None) -> Moment | None:
        return next(
            (m for m in self.moments if m.key == key and (level is None or m.level == level)),
            None,
        )

    def seconds_between(self, start: str, end: str) -> float | None:
        a, b = self.moment(start), self.moment(end)
        if a is None or b is None:
            return None
        return (b.occurred_at - a.occurred_at).total_seconds()


def incident_review(
    escalation_id: str,
    events: Iterable[Envelope[Any]],
    *,
    until: datetime,
    config: TensionConfig = DEFAULT_TENSION_CONFIG,
) -> IncidentReview | None:
    """The review of ``escalation_id`` from ``events`` (any order; others are ignored), with
    the tension curve drawn up to ``until`` at the latest (the closing, or now)."""
    ordered = sorted(events, key=lambda e: e.position or 0)
    opened = next(
        (
            e
            for e in ordered
            if isinstance(e.data, EscalationOpened) and e.data.escalation_id == escalation_id
        ),
        None,
    )
    if opened is None:
        return None
    o: EscalationOpened = opened.data
    review = IncidentReview(
        escalation_id=escalation_id,
        area=o.area,
        theme=o.theme,
        trigger=o.trigger,
        reason=o.reason,
    )
    members = set(o.signal_ids)
    mine = [e for e in ordered if getattr(e.data, "escalation_id", None) == escalation_id]
    for e in mine:
        if isinstance(e.data, SignalJoined):
            members.add(e.data.signal_id)
    signals = [
        e
        for e in ordered
        if isinstance(e.data, SignalReceived) and e.data.area == o.area and o.theme in e.data.themes
    ]
    _signals(review, signals, members)
    _moment(review, "opened", opened, at=o.opened_at)
    end = _escalation(review, mine)
    _deliveries(review, ordered)
    review.calls = [
        CallLine(
            ally=e.data.ally_id, outcome=e.data.outcome, at=e.occurred_at, caller=e.data.caller
        )
        for e in ordered
        if isinstance(e.data, CallOutcomeRecorded) and e.data.escalation_id == escalation_id
    ]
    review.questions = _questions(escalation_id, ordered)
    _crossing(review, signals, members, o.band, config)
    review.moments.sort(key=lambda m: (m.occurred_at, _rank(m.key)))
    review.durations = [
        Duration(
            from_key=_label(a),
            to_key=_label(b),
            seconds=(b.occurred_at - a.occurred_at).total_seconds(),
        )
        for a, b in zip(review.moments, review.moments[1:], strict=False)
    ]
    # A closed incident's curve ends at its closing whenever it is reviewed (the same log gives
    # the same review); an open one's at ``until``.
    review.tension = _curve(signals, o.area, o.theme, review, end or until, config)
    return review


def _rank(key: str) -> int:
    return KEY_MOMENTS.index(key) if key in KEY_MOMENTS else len(KEY_MOMENTS)


def _label(m: Moment) -> str:
    return f"{m.key}:{m.level}" if m.level is not None else m.key


def _moment(
    review: IncidentReview,
    key: str,
    e: Envelope[Any],
    *,
    at: datetime | None = None,
    level: int | None = None,
    ref: str = "",
) -> None:
    review.moments.append(
        Moment(
            key=key,
            occurred_at=at or e.occurred_at,
            recorded_at=e.recorded_at,
            level=level,
            ref=ref,
        )
    )


def _signals(review: IncidentReview, signals: list[Envelope[Any]], members: set[str]) -> None:
    for e in _by_occurrence(signals):
        s: SignalReceived = e.data
        line = SignalLine(
            signal_id=s.signal_id,
            reporter=f"{s.reporter.role.value}:{s.reporter.id}",
            level=s.level,
            occurred_at=e.occurred_at,
            recorded_at=e.recorded_at,
            major_incident=s.major_incident,
            joined=s.signal_id in members,
        )
        review.signals.append(line)
        if line.joined and line.recorded_later:
            review.corrections.append(
                Correction(
                    kind="signal_recorded_later",
                    ref=s.signal_id,
                    occurred_at=e.occurred_at,
                    recorded_at=e.recorded_at,
                )
            )
    first = next((e for e in _by_occurrence(signals) if e.data.signal_id in members), None)
    if first is not None:
        _moment(review, "first_signal", first, ref=first.data.signal_id)


def _by_occurrence(events: list[Envelope[Any]]) -> list[Envelope[Any]]:
    return sorted(events, key=lambda e: (e.occurred_at, e.position or 0))


def _escalation(review: IncidentReview, mine: list[Envelope[Any]]) -> datetime | None:
    """The escalation's own moments and convenings; returns when it was closed, if it was."""
    alerted: set[int] = set()
    convenings: dict[str, ConveningLine] = {}
    answers: dict[str, dict[str, str]] = {}
    closed_at = None
    for e in mine:
        d = e.data
        if isinstance(d, CrisisAlertIssued) and d.level not in alerted:
            alerted.add(d.level)
            _moment(review, "alerted", e, level=d.level, ref=d.alert_id)
        elif isinstance(d, EscalationAcknowledged) and review.moment("acknowledged") is None:
            _moment(review, "acknowledged", e)
        elif isinstance(d, ConveningCalled):
            if d.supersedes and d.supersedes in convenings:
                convenings[d.supersedes].superseded_by = d.convening_id
                review.corrections.append(
                    Correction(
                        kind="convening_moved",
                        ref=d.supersedes,
                        occurred_at=e.occurred_at,
                        recorded_at=e.recorded_at,
                    )
                )
            convenings[d.convening_id] = ConveningLine(
                convening_id=d.convening_id,
                called_at=e.occurred_at,
                starts_at=d.starts_at,
                invited=len(d.invited),
                required_communities=list(d.required_communities),
                missing_communities=list(d.required_communities),
            )
            if review.moment("convening_called") is None:
                _moment(review, "convening_called", e, ref=d.convening_id)
        elif isinstance(d, RsvpRecorded) and d.convening_id in convenings:
            answers.setdefault(d.convening_id, {})[d.ally_id] = d.answer
            convenings[d.convening_id].answered = len(answers[d.convening_id])
        elif isinstance(d, ConveningQuorate) and d.convening_id in convenings:
            line = convenings[d.convening_id]
            line.quorate_at = e.occurred_at
            line.attending = len(d.attending)
            line.covered_communities = list(d.covered_communities)
            line.missing_communities = [
                c for c in line.required_communities if c not in d.covered_communities
            ]
            if review.moment("quorate") is None:
                _moment(review, "quorate", e, ref=d.convening_id)
        elif isinstance(d, RsvpDeadlinePassed) and d.convening_id in convenings:
            line = convenings[d.convening_id]
            line.attending = max(line.attending, len(d.attending))
            if not d.quorate:
                line.missing_communities = list(d.missing_communities)
        elif isinstance(d, Convened) and d.convening_id in convenings:
            convenings[d.convening_id].convened_at = e.occurred_at
            convenings[d.convening_id].attending = len(d.attending)
            if review.moment("convened") is None:
                _moment(review, "convened", e, ref=d.convening_id)
        elif isinstance(d, EscalationDeEscalated):
            _moment(review, "de_escalated", e)
        elif isinstance(d, EscalationResolved):
            _moment(review, "resolved", e)
        elif isinstance(d, EscalationClosed):
            _moment(review, "closed", e)
            closed_at = e.occurred_at
    review.convenings = list(convenings.values())
    return closed_at


def _deliveries(review: IncidentReview, ordered: list[Envelope[Any]]) -> None:
    lines: dict[tuple[str, str], DeliveryLine] = {}
    for e in ordered:
        d = e.data
        if isinstance(d, CrisisAlertIssued) and d.escalation_id == review.escalation_id:
            for r in d.recipients:
                lines[(d.alert_id, r.name)] = DeliveryLine(
                    level=d.level, round=d.round, alert_id=d.alert_id, recipient=r.name
                )
        elif isinstance(d, DeliverySucceeded) and (d.alert_id, d.recipient) in lines:
            line = lines[(d.alert_id, d.recipient)]
            if line.delivered_at is None:
                line.channel, line.delivered_at = d.channel, d.at
        elif isinstance(d, DeliveryFailed) and (d.alert_id, d.recipient) in lines:
            lines[(d.alert_id, d.recipient)].failures += 1
    review.deliveries = list(lines.values())


def _questions(escalation_id: str, ordered: list[Envelope[Any]]) -> list[QuestionLine]:
    """The questions raised about this escalation, in the order they were raised; the first
    answer, relay and escalation of each (a redelivered event changes nothing)."""
    lines: dict[str, QuestionLine] = {}
    for e in ordered:
        d = e.data
        if isinstance(d, QuestionRaised):
            if d.escalation_id == escalation_id and d.question_id not in lines:
                lines[d.question_id] = QuestionLine(
                    question_id=d.question_id,
                    ally=d.ally_id,
                    routed_to=d.routed_to.value,
                    raised_via=d.raised_via,
                    raised_at=e.occurred_at,
                )
            continue
        line = lines.get(getattr(d, "question_id", ""))
        if line is None:
            continue
        if isinstance(d, QuestionAnswered) and line.answered_at is None:
            line.answered_at = e.occurred_at
        elif isinstance(d, AnswerRelayed) and line.relayed_at is None:
            line.relayed_at = d.relayed_at
        elif isinstance(d, QuestionEscalated) and line.escalated_at is None:
            line.escalated_at, line.escalated_level = e.occurred_at, d.level
    return sorted(lines.values(), key=lambda q: (q.raised_at, q.question_id))


class _ValidTimeFold:
    """The area's signals folded in the order they occurred (valid time), as far as asked: the
    tension of the cell at a moment with everything known now, late reports included."""

    def __init__(self, signals: list[Envelope[Any]], config: TensionConfig) -> None:
        self._pending = _by_occurrence(signals)
        self._projection = TensionMapProjection(config)
        self._state = self._projection.initial()
        self._config = config

    def score(self, area: str, theme: str, at: datetime) -> float:
        while self._pending and self._pending[0].occurred_at <= at:
            self._state = self._projection.evolve(self._state, self._pending.pop(0))
        return cell_score(self._state, area, theme, at, self._config)


def _crossing(
    review: IncidentReview,
    signals: list[Envelope[Any]],
    members: set[str],
    band: str,
    config: TensionConfig,
) -> None:
    """When the cell first reached the band it opened at (valid time: as all we know now has
    it), if a band crossing is what opened it."""
    if review.trigger != "band_crossed" or band not in BAND_ORDER:
        return
    fold = _ValidTimeFold(signals, config)
    for e in _by_occurrence(signals):
        reached = band_of(fold.score(review.area, review.theme, e.occurred_at), config)
        if BAND_ORDER.index(reached.value) >= BAND_ORDER.index(band):
            _moment(review, "band_crossed", e, ref=e.data.signal_id)
            return


def _curve(
    signals: list[Envelope[Any]],
    area: str,
    theme: str,
    review: IncidentReview,
    end: datetime,
    config: TensionConfig,
) -> list[TensionPoint]:
    """The cell's score at evenly spaced moments from an hour before the first key moment to
    ``end`` (at least an hour later), with everything known now (valid time)."""
    if not review.moments:
        return []
    start = min(m.occurred_at for m in review.moments) - timedelta(hours=1)
    end = max(end, start + timedelta(hours=1))
    fold = _ValidTimeFold(signals, config)
    points = []
    for i in range(CURVE_POINTS + 1):
        at = start + (end - start) * i / CURVE_POINTS
        score = fold.score(area, theme, at)
        points.append(TensionPoint(at=at, score=round(score, 3), band=band_of(score, config)))
    return points
