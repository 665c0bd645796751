"""The after-action review folded from a scripted incident with known timestamps (pure): every
key moment and duration exactly right, a signal recorded late appears at when it occurred and is
flagged, a moved convening is shown as a correction."""

from __future__ import annotations

from typing import Any

from domain.access import principal_of
from events.envelope import AggregateRef, Envelope, new_envelope
from events.escalation import (
    CallListSummary,
    Convened,
    ConveningCalled,
    ConveningQuorate,
    CrisisAlertIssued,
    EscalationAcknowledged,
    EscalationClosed,
    EscalationOpened,
    Recipient,
    RsvpRecorded,
    SignalJoined,
    SituationPicture,
)
from events.network import CallOutcome, CallOutcomeRecorded, DutyRole
from events.notification import DeliveryFailed, DeliverySucceeded
from events.questions import (
    AnswerRelayed,
    QuestionAnswered,
    QuestionPersonal,
    QuestionRaised,
    question_timer_id,
)
from events.signals import SourceRole
from projections.incident import incident_review
from services.app.need_to_know import Pseudonyms
from services.app.review import Reviews
from tests.factories import at, signal

AREA, THEME, EID = "GM0034-haven", "demonstration", "GM0034-haven_demonstration-1"
SLOT = AggregateRef(kind="escalation", area=AREA, id="GM0034-haven_demonstration")


class Log:
    """Events in the order the service recorded them, each with its two times."""

    def __init__(self) -> None:
        self.events: list[Envelope[Any]] = []

    def add(self, data: Any, occurred: float, recorded: float | None = None) -> None:
        kind = "signal" if hasattr(data, "reporter") else "escalation"
        ref = (
            SLOT if kind == "escalation" else AggregateRef(kind=kind, area=AREA, id=data.signal_id)
        )
        envelope = new_envelope(
            data,
            aggregate=ref,
            actor="system:workflow",
            source="/test",
            recorded_at=at(occurred if recorded is None else recorded),
            occurred_at=at(occurred),
            correlation_id=EID if kind == "escalation" else None,
        )
        self.events.append(envelope.model_copy(update={"position": len(self.events) + 1}))


def picture() -> SituationPicture:
    return SituationPicture(
        area=AREA,
        area_name="Haven",
        themes=(THEME,),
        band="high",
        trend="rising",
        score=2.0,
        as_of=at(12),
        call_list_summary=CallListSummary(callable_allies=3),
    )


def scripted() -> Log:
    log = Log()
    log.add(signal("s1", level=4, reporter_id="a1"), occurred=0, recorded=2)
    log.add(signal("s2", level=4, role=SourceRole.POLICE, reporter_id="agent"), occurred=10)
    opened = EscalationOpened(
        escalation_id=EID,
        area=AREA,
        theme=THEME,
        trigger="declared",
        band="high",
        reason="groep onderweg",
        signal_ids=("s1", "s2"),
        suggested_grip=1,
        opened_at=at(12),
    )
    log.add(opened, occurred=12)
    oov = Recipient(name="oov-piket", channels=("webhook", "email"))
    alert = CrisisAlertIssued(
        escalation_id=EID,
        level=1,
        round=1,
        alert_id="alert-1",
        recipients=(oov,),
        situation=picture(),
        ack_timeout_s=600,
    )
    log.add(alert, occurred=12)
    common = {"alert_id": "alert-1", "recipient": "oov-piket", "attempt": 1}
    failed = {"channel": "webhook", "at": at(12.5), "error": "HTTP 503", "will_retry": False}
    log.add(DeliveryFailed(**common, **failed, next_channel="email"), occurred=12.5)
    log.add(DeliverySucceeded(**common, channel="email", at=at(13), detail="SMTP 250"), 13)
    # Reported by phone at minute 5, typed in at minute 60: it belongs at minute 5.
    late = signal("s3", level=3, role=SourceRole.MUNICIPALITY, reporter_id="oov")
    log.add(late, occurred=5, recorded=60)
    log.add(SignalJoined(escalation_id=EID, signal_id="s3", band="high"), occurred=60)
    log.add(EscalationAcknowledged(escalation_id=EID, by="crisis:hoofd-oov"), occurred=20)
    called: dict[str, Any] = {
        "escalation_id": EID,
        "starts_at": at(90),
        "mode": "in_person",
        "invited": ("a1", "a2", "a3"),
        "required_communities": ("youth",),
        "quorum": 2,
        "rsvp_deadline": at(80),
        "reminder_timer_id": "r",
        "deadline_timer_id": "d",
    }
    log.add(ConveningCalled(**called, convening_id="c1"), occurred=25)
    log.add(ConveningCalled(**called, convening_id="c2", supersedes="c1"), occurred=30)
    for ally in ("a1", "a2"):
        log.add(
            RsvpRecorded(escalation_id=EID, convening_id="c2", ally_id=ally, answer="attending"), 35
        )
    quorate = ConveningQuorate(
        escalation_id=EID, convening_id="c2", attending=("a1", "a2"), covered_communities=("youth",)
    )
    log.add(quorate, occurred=40)
    log.add(Convened(escalation_id=EID, convening_id="c2", attending=("a1", "a2")), 90)
    log.add(EscalationClosed(escalation_id=EID, by="crisis:hoofd-oov", reason="rust"), 180)
    return log


def test_every_key_moment_and_duration_of_a_scripted_incident() -> None:
    review = incident_review(EID, scripted().events, until=at(240))
    assert review is not None
    moments = [(m.key, m.level, m.occurred_at) for m in review.moments]
    assert moments == [
        ("first_signal", None, at(0)),
        ("opened", None, at(12)),
        ("alerted", 1, at(12)),
        ("acknowledged", None, at(20)),
        ("convening_called", None, at(25)),
        ("quorate", None, at(40)),
        ("convened", None, at(90)),
        ("closed", None, at(180)),
    ]
    assert [(d.from_key, d.to_key, d.seconds) for d in review.durations] == [
        ("first_signal", "opened", 720.0),
        ("opened", "alerted:1", 0.0),
        ("alerted:1", "acknowledged", 480.0),
        ("acknowledged", "convening_called", 300.0),
        ("convening_called", "quorate", 900.0),
        ("quorate", "convened", 3000.0),
        ("convened", "closed", 5400.0),
    ]
    assert review.seconds_between("opened", "acknowledged") == 480.0
    # The first signal occurred at 0 and was learned at 2: both times are kept.
    first = review.moment("first_signal")
    assert first is not None and first.recorded_at == at(2) and not first.recorded_later


def test_a_signal_recorded_late_appears_when_it_occurred_flagged() -> None:
    review = incident_review(EID, scripted().events, until=at(240))
    assert review is not None
    assert [s.signal_id for s in review.signals] == ["s1", "s3", "s2"]  # by when they occurred
    late = review.signals[1]
    assert (late.occurred_at, late.recorded_at, late.recorded_later) == (at(5), at(60), True)
    assert [(c.kind, c.ref) for c in review.corrections] == [
        ("signal_recorded_later", "s3"),
        ("convening_moved", "c1"),
    ]


def test_deliveries_convenings_and_the_tension_curve() -> None:
    review = incident_review(EID, scripted().events, until=at(240))
    assert review is not None
    [delivery] = review.deliveries
    assert (delivery.channel, delivery.delivered_at, delivery.failures) == ("email", at(13), 1)
    moved, held = review.convenings
    assert moved.superseded_by == "c2"
    assert (held.invited, held.answered, held.attending) == (3, 2, 2)
    assert (held.covered_communities, held.missing_communities) == (["youth"], [])
    curve = review.tension
    assert curve[0].at == at(-60) and curve[-1].at == at(180)
    assert curve[0].score == 0.0 and max(p.score for p in curve) > 0
    # With everything known now, the late signal raises the curve from minute 5 on, not from
    # minute 60 when it was typed in.
    without = [e for e in scripted().events if getattr(e.data, "signal_id", None) != "s3"]
    other = incident_review(EID, without, until=at(240))
    assert other is not None
    assert [p.at for p in other.tension] == [p.at for p in curve]
    raised = [p.at for p, q in zip(curve, other.tension, strict=True) if p.score > q.score]
    assert raised and at(5) <= raised[0] < at(60)


def test_an_unknown_escalation_has_no_review() -> None:
    assert incident_review("GM0034-haven_demonstration-9", scripted().events, until=at(0)) is None


def test_the_same_events_in_another_order_give_the_same_review() -> None:
    events = scripted().events
    assert incident_review(EID, list(reversed(events)), until=at(240)) == incident_review(
        EID, events, until=at(240)
    )


def with_questions_and_calls() -> Log:
    """The scripted incident with a question raised about it (answered after 30 minutes,
    relayed after 45), one about another escalation, and two calls of allies."""
    log = scripted()
    question = AggregateRef(kind="question", area=AREA, id="q1")
    other = AggregateRef(kind="question", area=AREA, id="q2")
    contact = AggregateRef(kind="contact", area=AREA, id="a1")

    def add(data: Any, ref: AggregateRef, minute: float) -> None:
        envelope = new_envelope(
            data, aggregate=ref, actor="ally:a1", source="/test", recorded_at=at(minute)
        )
        log.events.append(envelope.model_copy(update={"position": len(log.events) + 1}))

    def raised(question_id: str, escalation_id: str) -> QuestionRaised:
        return QuestionRaised(
            question_id=question_id,
            network_id="n1",
            area=AREA,
            ally_id="a1",
            routed_to=DutyRole.POLICE,
            raised_via="link",
            escalation_id=escalation_id,
            timer_id=question_timer_id(question_id),
            escalate_at=at(75),
            personal=QuestionPersonal(text="Wat doet de politie vanavond?"),
        )

    add(raised("q1", EID), question, 15)
    add(raised("q2", "GM0034-haven_demonstration-7"), other, 16)
    add(QuestionAnswered(question_id="q2", answer="elders"), other, 17)
    add(QuestionAnswered(question_id="q1", answer="Wij zijn aanwezig."), question, 45)
    add(AnswerRelayed(question_id="q1", to="de moskee", relayed_at=at(60)), question, 61)
    for ally, outcome in (("a1", CallOutcome.REACHED), ("a2", CallOutcome.NO_ANSWER)):
        call = CallOutcomeRecorded(
            network_id="n1", ally_id=ally, outcome=outcome, caller="wijkagent", escalation_id=EID
        )
        add(call, contact, 22)
    stray = CallOutcomeRecorded(
        network_id="n1", ally_id="a3", outcome=CallOutcome.REACHED, caller="wijkagent"
    )
    add(stray, contact, 23)
    return log


def test_questions_about_the_incident_with_their_ages_and_its_calls() -> None:
    review = incident_review(EID, with_questions_and_calls().events, until=at(240))
    assert review is not None
    [q] = review.questions
    assert (q.question_id, q.ally, q.routed_to, q.raised_at) == ("q1", "a1", "police", at(15))
    assert (q.answered_at, q.seconds_to_answer) == (at(45), 1800.0)
    assert (q.relayed_at, q.seconds_to_relay) == (at(60), 2700.0)
    assert q.escalated_at is None
    assert "Wat doet" not in review.model_dump_json()  # the question's text is the ally's
    assert [(c.ally, c.outcome) for c in review.calls] == [("a1", "reached"), ("a2", "no_answer")]
    # The key moments are those of the incident alone.
    assert [m.key for m in review.moments][-1] == "closed" and len(review.moments) == 8


def test_a_reviewers_copy_names_no_ally_and_no_community() -> None:
    review = incident_review(EID, with_questions_and_calls().events, until=at(240))
    assert review is not None
    pseudonyms = Pseudonyms(b"0123456789abcdef0123")
    reviews = Reviews(None, None, None, pseudonyms)  # type: ignore[arg-type]  # redaction only
    reviewer = principal_of("reviewer", "evaluator")
    copy = reviews.redacted(review, reviewer)
    text = copy.model_dump_json()
    for ally in ("a1", "a2"):
        assert f'"{ally}"' not in text and f"ally:{ally}" not in text
        assert pseudonyms(ally) in text
    assert "youth" not in text
    held = copy.convenings[1]
    assert (held.covered_communities, held.missing_communities) == (["community-1"], [])
    # Those who call allies see who they are.
    assert reviews.redacted(review, principal_of("coordinator", "c")) == review
