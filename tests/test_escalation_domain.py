"""Escalation decider: given events, when a command, then these events (pure, no NATS)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from domain.convening import propose
from domain.errors import Conflict, DomainError, NotFound
from domain.escalation import (
    Acknowledge,
    CallConvening,
    Close,
    Declare,
    EscalationCommand,
    MarkConvened,
    OpenOrJoin,
    RecordRsvp,
    Resolve,
    RsvpDeadline,
    RsvpReminder,
    TimerElapsed,
    escalation_decider,
)
from domain.policy import ConveningDefaults, EscalationPolicy, Level
from events.base import DomainEvent
from events.envelope import deterministic_id
from events.escalation import (
    AckTimeoutElapsed,
    AckTimerSet,
    Band,
    CallListSummary,
    Convened,
    ConveningCalled,
    ConveningQuorate,
    CrisisAlertIssued,
    EscalationAcknowledged,
    EscalationClosed,
    EscalationOpened,
    Recipient,
    RsvpAnswer,
    RsvpDeadlinePassed,
    RsvpRecorded,
    RsvpReminderDue,
    SignalJoined,
    SituationPicture,
    ack_timer_id_for,
    alert_id_for,
)
from events.upcasting import upcast
from tests.factories import T0, at

AREA, THEME = "GM0034-haven", "demonstration"
EID = f"{AREA}_{THEME}-1"


def _level(name: str, timeout: float, repeat: int) -> Level:
    recipient = Recipient(
        name=name, channels=("webhook", "email"), addresses={"webhook": "https://h", "email": "e"}
    )
    return Level(name=name, recipients=(recipient,), ack_timeout_s=timeout, repeat=repeat)


POLICY = EscalationPolicy(
    levels=(
        _level("OOV", 300, 2),
        _level("Teamchef", 300, 1),
        _level("Burgemeester", 600, 1),
    )
)


def situation(band: Band = "high") -> SituationPicture:
    return SituationPicture(
        area=AREA,
        area_name="Almere Haven",
        themes=(THEME,),
        band=band,
        trend="rising",
        score=9.5,
        as_of=T0,
        call_list_summary=CallListSummary(callable_allies=8, duty_contacts={"police": 1}),
        coverage_gaps=("youth",),
        suggested_grip=0,
    )


def open_or_join(signal_id: str | None = "s1", minutes: float = 0, **kw: Any) -> OpenOrJoin:
    fields: dict[str, Any] = {
        "area": AREA,
        "theme": THEME,
        "signal_id": signal_id,
        "reason": "band high, two reporters",
        "situation": situation(),
        "policy": POLICY,
        "trigger": "band_crossed",
        "now": at(minutes),
    }
    return OpenOrJoin(**{**fields, **kw})


def run(given: Sequence[DomainEvent], command: EscalationCommand) -> list[DomainEvent]:
    return list(escalation_decider.run(given, command))


def play(*commands: EscalationCommand) -> list[DomainEvent]:
    """Decide each command on the events so far; returns all events (the real flow)."""
    log: list[DomainEvent] = []
    for command in commands:
        log.extend(run(log, command))
    return log


def timer(level: int, round_: int, minutes: float = 5) -> TimerElapsed:
    return TimerElapsed(
        timer_id=ack_timer_id_for(EID, level, round_), policy=POLICY, now=at(minutes)
    )


def types(events: Sequence[DomainEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


# ---------------------------------------------------------------- opening and joining


def test_opening_alerts_level_one_the_policys_first_and_arms_the_ack_timer() -> None:
    events = run([], open_or_join())
    assert types(events) == ["EscalationOpened", "CrisisAlertIssued", "AckTimerSet"]
    opened, alert, armed = events
    assert isinstance(opened, EscalationOpened)
    assert opened.escalation_id == EID and opened.trigger == "band_crossed"
    assert opened.signal_ids == ("s1",)
    assert isinstance(alert, CrisisAlertIssued)
    assert (alert.level, alert.round, alert.situation.escalation_id) == (1, 1, EID)
    assert alert.recipients == POLICY.levels[0].recipients
    assert alert.alert_id == alert_id_for(EID, 1, 1)
    assert isinstance(armed, AckTimerSet)
    assert (armed.level, armed.timer_id) == (1, ack_timer_id_for(EID, 1, 1))
    assert armed.due_at == T0 + timedelta(seconds=300)


def test_ten_signals_for_one_slot_open_exactly_one_escalation() -> None:
    commands = [open_or_join(f"s{i}", minutes=i) for i in range(10)]
    commands += [open_or_join("s3", minutes=11), open_or_join("s0", minutes=12)]  # repeats
    log = play(*commands)
    assert types(log).count("EscalationOpened") == 1
    joined = [e for e in log if isinstance(e, SignalJoined)]
    assert [e.signal_id for e in joined] == [f"s{i}" for i in range(1, 10)]


def test_a_signal_without_a_trigger_opens_nothing_but_joins() -> None:
    assert run([], open_or_join(trigger=None)) == []
    log = play(open_or_join("s1"), open_or_join("s2", trigger=None))
    assert isinstance(log[-1], SignalJoined) and log[-1].signal_id == "s2"


def test_a_major_incident_opens_at_once() -> None:
    events = run([], open_or_join(trigger="major_incident"))
    assert isinstance(events[0], EscalationOpened)
    assert events[0].trigger == "major_incident"


def test_police_may_declare_an_allied_reporter_may_not() -> None:
    declare = Declare(
        area=AREA, theme=THEME, reason="Pegida", situation=situation("elevated"),
        policy=POLICY, by="police:teamchef-1", now=T0,
    )  # fmt: skip
    events = run([], declare)
    assert isinstance(events[0], EscalationOpened) and events[0].trigger == "declared"
    with pytest.raises(DomainError):
        run([], declare.model_copy(update={"by": "ally:ally-1"}))


def declare(reason: str = "oproep via sociale media", **kw: Any) -> Declare:
    fields: dict[str, Any] = {
        "area": AREA,
        "theme": THEME,
        "reason": reason,
        "situation": situation("normal"),
        "policy": POLICY,
        "by": "police:teamchef-1",
        "now": T0,
    }
    return Declare(**{**fields, **kw})


def test_every_alert_of_a_declared_escalation_says_why_it_was_declared() -> None:
    log = play(declare(), timer(1, 1), timer(1, 2))
    alerts = [e for e in log if isinstance(e, CrisisAlertIssued)]
    reason = "oproep via sociale media"
    assert [(a.level, a.round, a.trigger, a.reason) for a in alerts] == [
        (1, 1, "declared", reason),
        (1, 2, "declared", reason),  # the next round
        (2, 1, "declared", reason),  # and the next level
    ]


def test_alerts_of_an_escalation_opened_by_signals_carry_its_trigger_and_reason() -> None:
    log = play(open_or_join(trigger="major_incident"), timer(1, 1))
    alerts = [e for e in log if isinstance(e, CrisisAlertIssued)]
    assert {(a.trigger, a.reason) for a in alerts} == {
        ("major_incident", "band high, two reporters")
    }
    [first] = [e for e in run([], open_or_join()) if isinstance(e, CrisisAlertIssued)]
    assert first.trigger == "band_crossed"


def test_after_close_the_next_escalation_gets_suffix_two() -> None:
    log = play(open_or_join("s1"), Close(by="municipality:oov-1", reason="rustig", now=at(60)))
    events = run(log, open_or_join("s2", minutes=120))
    assert isinstance(events[0], EscalationOpened)
    assert events[0].escalation_id == f"{AREA}_{THEME}-2"


# ---------------------------------------------------------------- the alert ladder


def test_unacknowledged_timers_climb_rounds_then_levels_until_exhausted() -> None:
    log = play(open_or_join())
    steps = [(1, 1), (1, 2), (2, 1), (3, 1)]  # OOV twice, Teamchef, Burgemeester
    for (level, round_), (next_level, next_round) in itertools.pairwise(steps):
        events = run(log, timer(level, round_))
        assert types(events) == ["AckTimeoutElapsed", "CrisisAlertIssued", "AckTimerSet"]
        elapsed, alert = events[0], events[1]
        assert isinstance(elapsed, AckTimeoutElapsed)
        assert (elapsed.level, elapsed.round) == (level, round_)
        assert isinstance(alert, CrisisAlertIssued)
        assert (alert.level, alert.round) == (next_level, next_round)
        assert alert.recipients == POLICY.levels[next_level - 1].recipients
        log += events
    last = run(log, timer(3, 1))
    assert len(last) == 1 and isinstance(last[0], AckTimeoutElapsed) and last[0].exhausted
    assert last[0].level == 3


def test_ids_of_the_one_based_ladder_never_repeat_ids_of_the_zero_based_one() -> None:
    """Alerts and timers recorded before levels counted from 1 keep their ids (receipts and
    scheduled timers refer to them): a new alert must not be taken for one of those."""
    ladder = [(level, round_) for level in range(1, 5) for round_ in range(1, 4)]
    old = {
        deterministic_id(kind, EID, str(level), str(round_))
        for kind in ("alert", "ack-timer")
        for level in range(0, 5)
        for round_ in range(1, 4)
    }
    new = {alert_id_for(EID, lv, r) for lv, r in ladder} | {
        ack_timer_id_for(EID, lv, r) for lv, r in ladder
    }
    assert len(new) == 2 * len(ladder) and not new & old


def test_an_escalation_alerted_under_the_zero_based_numbering_climbs_on() -> None:
    """Upgraded while an alert waits: its v1 events are upcast and its timer, armed with an
    id of the old numbering, still counts; the next alert gets an id of the new one."""
    opened, alert, armed = run([], open_or_join())
    old_timer = deterministic_id("ack-timer", EID, "0", "1")
    stored_v1 = [
        (alert, {"level": 0, "alert_id": deterministic_id("alert", EID, "0", "1")}),
        (armed, {"level": 0, "timer_id": old_timer}),
    ]
    given = [opened] + [
        type(e).model_validate(upcast(e.TYPE, 1, {**e.model_dump(), **v1}, e.VERSION))
        for e, v1 in stored_v1
    ]
    elapsed, again, _ = run(given, TimerElapsed(timer_id=old_timer, policy=POLICY, now=at(5)))
    assert isinstance(elapsed, AckTimeoutElapsed) and (elapsed.level, elapsed.round) == (1, 1)
    assert isinstance(again, CrisisAlertIssued) and (again.level, again.round) == (1, 2)
    assert again.recipients == POLICY.levels[0].recipients
    assert again.alert_id == alert_id_for(EID, 1, 2) != deterministic_id("alert", EID, "0", "2")


def test_a_stale_or_duplicate_timer_yields_nothing() -> None:
    log = play(open_or_join(), timer(1, 1))
    assert run(log, timer(1, 1)) == []  # redelivered
    assert run(log, timer(2, 1)) == []  # not armed yet
    assert run(log, TimerElapsed(timer_id="bogus", policy=POLICY, now=at(6))) == []


def test_after_acknowledgement_the_timer_yields_nothing() -> None:
    log = play(open_or_join(), Acknowledge(by="municipality:oov-1", now=at(2)))
    assert isinstance(log[-1], EscalationAcknowledged)
    assert run(log, timer(1, 1)) == []


def test_acknowledging_twice_or_with_nothing_open_is_refused() -> None:
    ack = Acknowledge(by="police:tc-1", now=at(1))
    with pytest.raises(NotFound):
        run([], ack)
    log = play(open_or_join(), ack)
    with pytest.raises(Conflict, match="police:tc-1"):
        run(log, ack)


def test_resolving_twice_is_refused() -> None:
    log = play(open_or_join(), Resolve(by="police:tc-1", reason="voorbij", now=at(30)))
    with pytest.raises(Conflict):
        run(log, Resolve(by="police:tc-1", now=at(31)))


# ---------------------------------------------------------------- convening and quorum


def call(quorum: int = 2, required: tuple[str, ...] = ("youth", "turkish")) -> CallConvening:
    return CallConvening(
        convening_id="c1",
        starts_at=at(60),
        mode="in_person",
        place="buurthuis",
        invited=("a1", "a2", "a3", "a4"),
        required_communities=required,
        quorum=quorum,
        rsvp_deadline=at(40),
        now=at(1),
    )


def rsvp(ally: str, answer: RsvpAnswer = "attending", *communities: str) -> RecordRsvp:
    return RecordRsvp(
        convening_id="c1", ally_id=ally, answer=answer, communities=communities, now=at(3)
    )


def test_convening_may_be_called_before_acknowledgement() -> None:
    events = play(open_or_join(), call())
    called = events[-1]
    assert isinstance(called, ConveningCalled)
    assert called.remind_at == at(1) + (at(40) - at(1)) / 2
    assert run(events, call()) == []  # a retried call


def test_quorate_only_when_required_communities_are_covered_and_exactly_once() -> None:
    log = play(open_or_join(), call(), rsvp("a1", "attending", "youth"), rsvp("a2"))
    # Two attending (the quorum), but nobody covers "turkish": not quorate.
    assert not any(isinstance(e, ConveningQuorate) for e in log)
    events = run(log, rsvp("a3", "attending", "turkish"))
    assert types(events) == ["RsvpRecorded", "ConveningQuorate"]
    quorate = events[1]
    assert isinstance(quorate, ConveningQuorate)
    assert quorate.attending == ("a1", "a2", "a3")
    assert quorate.covered_communities == ("turkish", "youth")
    log += events
    # Someone withdraws and comes back: recorded, but quorate is not announced again.
    log += run(log, rsvp("a2", "not_attending"))
    again = run(log, rsvp("a2", "attending"))
    assert types(again) == ["RsvpRecorded"]


def test_a_changed_answer_replaces_the_previous_one() -> None:
    log = play(open_or_join(), call(required=()), rsvp("a1"), rsvp("a1", "not_attending"))
    assert types(run(log, rsvp("a2"))) == ["RsvpRecorded"]  # a1 no longer counts
    assert run(log, rsvp("a1", "not_attending")) == []  # identical answer: nothing new


def test_rsvp_from_an_ally_not_invited_is_refused() -> None:
    log = play(open_or_join(), call())
    with pytest.raises(NotFound):
        run(log, rsvp("stranger"))


def test_reminder_and_deadline_fire_once_and_convened_records_attendance() -> None:
    log = play(open_or_join(), call(required=()), rsvp("a1"), rsvp("a2", "later"))
    called = next(e for e in log if isinstance(e, ConveningCalled))
    remind = RsvpReminder(timer_id=called.reminder_timer_id, now=at(20))
    reminded = run(log, remind)
    assert isinstance(reminded[0], RsvpReminderDue)
    assert reminded[0].not_answered == ("a2", "a3", "a4")
    log += reminded
    assert run(log, remind) == []
    deadline = RsvpDeadline(timer_id=called.deadline_timer_id, now=at(40))
    passed = run(log, deadline)
    assert isinstance(passed[0], RsvpDeadlinePassed) and not passed[0].quorate
    log += passed
    assert run(log, deadline) == []
    done = run(log, MarkConvened(convening_id="c1", now=at(60)))
    assert isinstance(done[0], Convened) and done[0].attending == ("a1",)


def test_convening_validation() -> None:
    log = play(open_or_join())
    with pytest.raises(DomainError, match="quorum"):
        run(log, call(quorum=5))
    with pytest.raises(NotFound):
        run(log, rsvp("a1"))


def test_closing_frees_the_slot() -> None:
    log = play(open_or_join(), Close(by="police:tc-1", reason="vals alarm", now=at(5)))
    assert isinstance(log[-1], EscalationClosed)
    state = escalation_decider.fold(log)
    assert state.current is None and state.opened_count == 1
    assert isinstance(run(log, open_or_join("s9"))[0], EscalationOpened)
    with pytest.raises(NotFound):
        run(log, Acknowledge(by="police:tc-1", now=at(6)))


def test_rsvp_records_only_the_required_communities_apart_as_personal_data() -> None:
    log = play(open_or_join(), call(), rsvp("a1", "attending", "youth", "jewish", "youth"))
    recorded = log[-1]
    assert isinstance(recorded, RsvpRecorded)
    assert recorded.personal.communities == ("youth",)  # minimised to what the quorum needs
    assert "communities" not in recorded.model_dump(exclude={"personal"})


def test_an_rsvp_recorded_as_v1_is_upcast_to_personal() -> None:
    payload = {
        "escalation_id": "GM0034-stad_demonstration-1",
        "convening_id": "c1",
        "ally_id": "a1",
        "answer": "attending",
        "communities": ["youth"],
    }
    current = upcast(RsvpRecorded.TYPE, 1, payload, RsvpRecorded.VERSION)
    assert RsvpRecorded.model_validate(current).personal.communities == ("youth",)


def test_proposal_invites_the_call_list_and_caps_the_quorum_at_the_invitees() -> None:
    defaults = ConveningDefaults(mode="app_group", place="Appgroep Stad", lead_min=30, rsvp_min=10)
    p = propose(at(0), defaults, ["youth", "turkish", "youth"], ["a3", "a1", "a3"])
    assert p.starts_at == at(30) and p.rsvp_deadline == at(10)
    assert p.communities == ("youth", "turkish") and p.invited == ("a3", "a1")
    assert p.quorum == 2 and (p.mode, p.place) == ("app_group", "Appgroep Stad")
    assert propose(at(0), defaults, [], []).quorum == 1


def test_proposal_for_an_area_meets_at_its_own_place() -> None:
    defaults = ConveningDefaults(place="Belbrug Almere", places={"GM0034-poort": "Wijkcentrum"})
    assert propose(at(0), defaults, [], ["a1"], area="GM0034-poort").place == "Wijkcentrum"
    assert propose(at(0), defaults, [], ["a1"], area="GM0034-haven").place == "Belbrug Almere"
    assert propose(at(0), defaults, [], ["a1"]).place == "Belbrug Almere"  # as before


def test_a_joining_signal_carries_its_affected_communities() -> None:
    log = play(open_or_join())
    picture = situation().model_copy(update={"communities": ("turkish",)})
    joined = run(log, open_or_join(signal_id="s9", situation=picture))
    assert isinstance(joined[0], SignalJoined) and joined[0].communities == ("turkish",)


def test_a_joining_signal_carries_the_grip_suggestion_of_its_picture() -> None:
    log = play(open_or_join())
    picture = situation("critical").model_copy(update={"suggested_grip": 1})
    [joined] = run(log, open_or_join(signal_id="s9", situation=picture))
    assert isinstance(joined, SignalJoined)
    assert (joined.band, joined.suggested_grip) == ("critical", 1)


def test_a_major_incident_keeps_a_major_incidents_grip_suggestion() -> None:
    """Pictures for a joining signal or a fired timer are built without knowing the escalation
    opened as a major incident: its suggestion must not fall back to routine (GRIP 0)."""
    log = play(open_or_join(trigger="major_incident"))  # a picture of band high, GRIP 0
    [joined] = run(log, open_or_join(signal_id="s9"))
    assert isinstance(joined, SignalJoined) and joined.suggested_grip == 1
    fired = TimerElapsed(
        timer_id=ack_timer_id_for(EID, 1, 1), policy=POLICY, now=at(5), situation=situation()
    )
    realert = next(e for e in run(log, fired) if isinstance(e, CrisisAlertIssued))
    assert realert.situation.suggested_grip == 1
    ordinary = run(play(open_or_join()), open_or_join(signal_id="s9"))[0]
    assert isinstance(ordinary, SignalJoined) and ordinary.suggested_grip == 0


def test_rsvp_timers_firing_after_close_yield_nothing() -> None:
    log = play(open_or_join(), call(), Close(by="municipality:oov-1", reason="klaar", now=at(5)))
    called = next(e for e in log if isinstance(e, ConveningCalled))
    assert run(log, RsvpReminder(timer_id=called.reminder_timer_id, now=at(20))) == []
    assert run(log, RsvpDeadline(timer_id=called.deadline_timer_id, now=at(40))) == []


def test_a_signal_recorded_before_the_last_closure_opens_nothing() -> None:
    """A replay of old signals (a reset consumer) must not reopen what people closed."""
    log = play(open_or_join("s1"), Close(by="municipality:oov-1", reason="rustig", now=at(60)))
    assert isinstance(log[-1], EscalationClosed) and log[-1].closed_at == at(60)
    old = open_or_join("s0", minutes=120, signal_recorded_at=at(30))
    assert run(log, old) == []
    new = run(log, open_or_join("s2", minutes=120, signal_recorded_at=at(90)))
    assert isinstance(new[0], EscalationOpened)
    declared = Declare(
        area=AREA,
        theme=THEME,
        signal_id=None,
        reason="opnieuw",
        situation=situation(),
        policy=POLICY,
        by="police:tc-1",
        now=at(120),
    )
    assert isinstance(run(log, declared)[0], EscalationOpened)  # people may always reopen


def test_proposal_requires_only_communities_someone_covers_and_caps_the_invitees() -> None:
    defaults = ConveningDefaults()
    allies = [f"a{i}" for i in range(40)]
    p = propose(at(0), defaults, ["youth", "somali"], allies, coverage_gaps=["somali"])
    assert p.communities == ("youth",) and p.coverage_gaps == ("somali",)
    assert len(p.invited) == 30 and p.invited[0] == "a0"  # the best ranked first


def test_a_signal_from_long_before_the_opening_does_not_join() -> None:
    log = play(open_or_join("s1", minutes=24 * 60))
    stale = open_or_join("s0", minutes=24 * 60 + 5, signal_recorded_at=at(0))
    assert run(log, stale) == []
    fresh = open_or_join("s2", minutes=24 * 60 + 5, signal_recorded_at=at(24 * 60 + 4))
    assert isinstance(run(log, fresh)[0], SignalJoined)


def test_a_moved_or_closed_convening_is_marked_for_cancellation() -> None:
    log = play(open_or_join(), call())
    moved = CallConvening(**{**call().model_dump(), "convening_id": "c2"})
    [called] = run(log, moved)
    assert isinstance(called, ConveningCalled) and called.supersedes == "c1"
    log.append(called)
    [closed] = run(log, Close(by="municipality:oov-1", reason="rustig", now=at(10)))
    assert isinstance(closed, EscalationClosed) and closed.cancelled_convening == "c2"
    held = play(open_or_join(), call(), rsvp("a1"), MarkConvened(convening_id="c1", now=at(60)))
    [closed] = run(held, Close(by="municipality:oov-1", reason="klaar", now=at(90)))
    assert isinstance(closed, EscalationClosed) and closed.cancelled_convening is None


def test_a_convening_past_its_start_is_not_called_off() -> None:
    """It may have taken place without being marked: nobody is told it is off afterwards."""
    log = play(open_or_join(), call())  # starts at minute 60
    [closed] = run(log, Close(by="municipality:oov-1", reason="klaar", now=at(61)))
    assert isinstance(closed, EscalationClosed) and closed.cancelled_convening is None
