"""Given events, when a command, then events: the pulse, question and mobilisation deciders,
and the pure folds that show them (outreach read model, tension map with pulse answers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import mobilisation as mob
from domain import pulse as pls
from domain import questions as qst
from domain.errors import Conflict, DomainError, NotFound
from events.envelope import AggregateRef, new_envelope
from events.mobilisation import MobilisationAnswered, MobilisationReported
from events.network import AllyErased, DutyRole
from events.personal import ErasedPersonal
from events.pulse import (
    FrameworkCompiled,
    PulseAnswerPersonal,
    PulseAnswerRecorded,
    PulseCheckStarted,
    PulseSelection,
)
from events.questions import QuestionAnswered, QuestionEscalated, QuestionRaised
from projections.base import fold
from projections.outreach import OutreachProjection, open_questions, pulse_summary
from projections.tension_map import TensionMapProjection, tension_view

T0 = datetime(2026, 3, 14, 20, 0, tzinfo=UTC)
AREA = "GM0034-stad"
STARTED = PulseCheckStarted(
    pulse_id="p1",
    area=AREA,
    theme="demonstration",
    question="Hoe is de stemming?",
    deadline=T0 + timedelta(hours=1),
    asked_by=DutyRole.POLICE,
    selection=PulseSelection(communities=("turkish",)),
    invited=("a1", "a3"),
)


def answer(ally_id: str, level: int, at: datetime, advice: str = "") -> pls.AnswerPulse:
    return pls.AnswerPulse(now=at, ally_id=ally_id, level=level, note="n", advice=advice)


# ---------------------------------------------------------------- pulse checks


def test_selection_by_community_finds_exactly_its_allies_plus_those_named() -> None:
    members = [
        ("a1", [AREA], ["demonstration"], ["turkish", "youth"]),
        ("a2", [AREA], ["demonstration"], ["surinamese"]),
        ("a3", [AREA], [], ["turkish"]),
    ]
    by_community = PulseSelection(communities=("turkish",))
    assert pls.select_allies(members, by_community) == ("a1", "a3")
    both = PulseSelection(communities=("turkish",), themes=("demonstration",), allies=("a2",))
    assert pls.select_allies(members, both) == ("a1", "a2")
    assert pls.select_allies(members, PulseSelection(allies=("a2", "zz"))) == ("a2",)
    assert pls.select_allies(members, PulseSelection()) == ()


def test_a_pulse_starts_once_with_a_future_deadline_and_someone_to_ask() -> None:
    start = pls.StartPulse(
        now=T0,
        pulse_id="p1",
        area=AREA,
        theme="demonstration",
        question="Hoe is de stemming?",
        deadline=STARTED.deadline,
        asked_by=DutyRole.POLICE,
        selection=STARTED.selection,
        invited=("a1", "a3", "a1"),
    )
    assert pls.pulse_decider.run([], start) == [STARTED]
    with pytest.raises(Conflict):
        pls.pulse_decider.run([STARTED], start)
    with pytest.raises(DomainError) as past:
        pls.pulse_decider.run([], start.__class__(**{**start.__dict__, "deadline": T0}))
    assert past.value.field == "deadline"
    with pytest.raises(NotFound) as nobody:
        pls.pulse_decider.run([], start.__class__(**{**start.__dict__, "invited": ()}))
    assert nobody.value.field == "selection"


def test_answers_in_time_late_and_only_once_by_the_invited() -> None:
    (on_time,) = pls.pulse_decider.run([STARTED], answer("a1", 4, T0, advice="imam erbij"))
    assert isinstance(on_time, PulseAnswerRecorded)
    assert (on_time.late, on_time.has_advice, on_time.area, on_time.theme) == (
        False,
        True,
        AREA,
        "demonstration",
    )
    (late,) = pls.pulse_decider.run([STARTED], answer("a3", 5, T0 + timedelta(hours=2)))
    assert isinstance(late, PulseAnswerRecorded) and late.late
    with pytest.raises(Conflict):
        pls.pulse_decider.run([STARTED, on_time], answer("a1", 3, T0))
    with pytest.raises(NotFound) as stranger:
        pls.pulse_decider.run([STARTED], answer("a2", 3, T0))
    assert stranger.value.field == "ally_id"


def test_a_framework_adopts_only_advice_that_was_given() -> None:
    (with_advice,) = pls.pulse_decider.run([STARTED], answer("a1", 4, T0, advice="imam"))
    (without,) = pls.pulse_decider.run([STARTED], answer("a3", 2, T0))
    given = [STARTED, with_advice, without]
    compile_ = pls.CompileFramework(title="Kader", adopted=("a1",), measures=("Surveillance",))
    (compiled,) = pls.pulse_decider.run(given, compile_)
    assert isinstance(compiled, FrameworkCompiled) and compiled.adopted == ("a1",)
    with pytest.raises(DomainError) as refused:
        pls.pulse_decider.run(given, pls.CompileFramework(title="Kader", adopted=("a3",)))
    assert refused.value.field == "adopted"


# ---------------------------------------------------------------- questions


RAISE = qst.RaiseQuestion(
    now=T0,
    question_id="q1",
    network_id="nw",
    area=AREA,
    ally_id="a1",
    network_members=frozenset({"a1"}),
    routed_to=DutyRole.MUNICIPALITY,
    raised_via="call_taker",
    text="Wanneer gaat de tram weer?",
    escalate_after=timedelta(hours=4),
)


def escalate(timer_id: str) -> qst.EscalateQuestion:
    return qst.EscalateQuestion(timer_id=timer_id, level=1, level_name="OOV", recipients=("oov",))


def test_a_question_is_raised_by_a_member_with_its_timer() -> None:
    (raised,) = qst.question_decider.run([], RAISE)
    assert isinstance(raised, QuestionRaised)
    assert raised.escalate_at == T0 + timedelta(hours=4)
    assert raised.timer_id == qst.question_decider.run([], RAISE)[0].timer_id  # type: ignore[attr-defined]
    stranger = qst.RaiseQuestion(**{**RAISE.__dict__, "ally_id": "a9"})
    with pytest.raises(NotFound):
        qst.question_decider.run([], stranger)


def test_answered_then_relayed_and_relaying_needs_an_answer() -> None:
    (raised,) = qst.question_decider.run([], RAISE)
    relay = qst.RelayAnswer(now=T0, to="de achterban")
    with pytest.raises(DomainError):
        qst.question_decider.run([raised], relay)
    (answered,) = qst.question_decider.run([raised], qst.AnswerQuestion(answer="Maandag"))
    (relayed,) = qst.question_decider.run([raised, answered], relay)
    assert qst.question_decider.run([raised, answered, relayed], relay) == []  # told already
    with pytest.raises(Conflict):
        qst.question_decider.run([raised, answered], qst.AnswerQuestion(answer="Dinsdag"))


def test_an_unanswered_question_escalates_once_and_an_answered_one_never() -> None:
    (raised,) = qst.question_decider.run([], RAISE)
    assert isinstance(raised, QuestionRaised)
    (escalated,) = qst.question_decider.run([raised], escalate(raised.timer_id))
    assert isinstance(escalated, QuestionEscalated) and escalated.level == 1
    assert qst.question_decider.run([raised, escalated], escalate(raised.timer_id)) == []
    assert qst.question_decider.run([raised], escalate("another-timer")) == []
    answered = QuestionAnswered(question_id="q1", answer="Maandag")
    assert qst.question_decider.run([raised, answered], escalate(raised.timer_id)) == []


# ---------------------------------------------------------------- mobilisation


REQUEST = mob.RequestMobilisation(
    now=T0,
    request_id="m1",
    area=AREA,
    task="street_conversations",
    message="Ga in gesprek op het plein",
    invited=("a1", "a2"),
    respond_by=T0 + timedelta(hours=1),
)


def test_mobilisation_answers_like_rsvps_and_reports_after_accepting() -> None:
    (requested,) = mob.mobilisation_decider.run([], REQUEST)
    with pytest.raises(Conflict):
        mob.mobilisation_decider.run([requested], mob.ReportBack(ally_id="a1", report="klaar"))
    accept = mob.AnswerMobilisation(ally_id="a1", answer="accept")
    (accepted,) = mob.mobilisation_decider.run([requested], accept)
    assert isinstance(accepted, MobilisationAnswered)
    assert mob.mobilisation_decider.run([requested, accepted], accept) == []
    (reported,) = mob.mobilisation_decider.run(
        [requested, accepted], mob.ReportBack(ally_id="a1", report="Het is rustig")
    )
    assert isinstance(reported, MobilisationReported)
    with pytest.raises(NotFound):
        mob.mobilisation_decider.run([requested], mob.AnswerMobilisation("a9", "accept"))


# ---------------------------------------------------------------- the folds


def envelopes(*events: object, kind: str = "pulse") -> list:  # type: ignore[type-arg]
    out = []
    for i, e in enumerate(events):
        ref = AggregateRef(kind=kind, area=AREA, id="x1")
        at = T0 + timedelta(minutes=i)
        out.append(new_envelope(e, aggregate=ref, actor="police:w", source="/t", recorded_at=at))  # type: ignore[type-var]
    return out


def test_pulse_answers_count_in_the_tension_map_as_ally_corroboration() -> None:
    a1 = PulseAnswerRecorded(
        pulse_id="p1",
        ally_id="a1",
        area=AREA,
        theme="demonstration",
        level=5,
        personal=PulseAnswerPersonal(note="n"),
    )
    a3 = a1.model_copy(update={"ally_id": "a3", "level": 4})
    state = fold(TensionMapProjection(), envelopes(STARTED, a1, a3))
    (cell,) = tension_view(state, T0 + timedelta(minutes=2)).cells
    assert (cell.area, cell.theme, cell.distinct_reporters, cell.distinct_roles) == (
        AREA,
        "demonstration",
        2,
        1,
    )
    assert cell.score == pytest.approx(5 * 0.6 * 2 ** (-1 / 180) + 4 * 0.6, abs=0.01)


def test_summary_spread_and_erasure_leave_the_level_and_erase_the_text() -> None:
    a1 = PulseAnswerRecorded(
        pulse_id="p1",
        ally_id="a1",
        area=AREA,
        theme="demonstration",
        level=4,
        has_advice=True,
        personal=PulseAnswerPersonal(note="boos", advice="imam"),
    )
    a3 = a1.model_copy(update={"ally_id": "a3", "level": 2, "late": True})
    projection = OutreachProjection()
    state = fold(projection, envelopes(STARTED, a1, a3))
    summary = pulse_summary(state.pulses["p1"], T0 + timedelta(hours=2))
    assert summary.levels == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    assert summary.mean_level == 3 and summary.late == ["a3"] and summary.deadline_passed
    erased = envelopes(AllyErased(network_id="nw", ally_id="a1", reason="verzoek"), kind="network")
    state = fold(projection, erased, state)
    after = pulse_summary(state.pulses["p1"], T0)
    first = after.answers[0]
    assert (first.ally_id, first.level, first.note, first.erased) == ("a1", 4, "", True)
    assert isinstance(state.pulses["p1"].answers["a1"].personal, ErasedPersonal)
    # The snapshot round trip (without a cipher here) keeps it erased.
    assert projection.load(projection.dump(state)) == state


def test_open_questions_with_their_age() -> None:
    (raised,) = qst.question_decider.run([], RAISE)
    state = fold(OutreachProjection(), envelopes(raised, kind="question"))
    (open_,) = open_questions(state, T0 + timedelta(minutes=10), network_id="nw")
    assert open_.question_id == "q1" and open_.age_s == 600
    answered = envelopes(raised, QuestionAnswered(question_id="q1", answer="x"), kind="question")
    assert open_questions(fold(OutreachProjection(), answered), T0) == []
