"""Escalations projection: status, convening status and the after-action timeline (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.escalation import (
    Acknowledge,
    CallConvening,
    Close,
    EscalationCommand,
    MarkConvened,
    RecordRsvp,
    TimerElapsed,
    escalation_decider,
)
from events.base import DomainEvent
from events.envelope import Envelope, new_envelope
from events.escalation import Band, SignalJoined, SituationPicture, ack_timer_id_for, slot_ref
from projections.base import fold
from projections.escalations import (
    EscalationsProjection,
    convening_status,
    escalation,
    is_open,
    list_escalations,
)
from tests.factories import at
from tests.test_escalation_domain import (
    AREA,
    EID,
    POLICY,
    THEME,
    open_or_join,
    situation,
    timer,
)

P = EscalationsProjection()
REF = slot_ref(AREA, THEME)


def wrap(events: Sequence[DomainEvent], minutes: float, actor: str) -> list[Envelope[Any]]:
    return [
        new_envelope(e, aggregate=REF, actor=actor, source="/test", recorded_at=at(minutes))
        for e in events
    ]


class Log:
    """Runs commands through the decider and keeps both the events and their envelopes."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.envelopes: list[Envelope[Any]] = []

    def when(self, command: EscalationCommand, minutes: float, actor: str) -> Log:
        new = list(escalation_decider.run(self.events, command))
        self.events += new
        self.envelopes += wrap(new, minutes, actor)
        return self


def rsvp(ally: str, communities: tuple[str, ...], answer: str = "attending") -> RecordRsvp:
    return RecordRsvp.model_validate(
        {"convening_id": "c1", "ally_id": ally, "answer": answer, "communities": communities,
         "now": at(10)}
    )  # fmt: skip


def incident() -> Log:
    """Pegida: alert, nobody answers for 5 minutes, the OOV acknowledges, the network convenes."""
    call = CallConvening(
        convening_id="c1",
        starts_at=at(45),
        mode="in_person",
        invited=("a1", "a2", "a3"),
        required_communities=("youth", "turkish"),
        quorum=2,
        rsvp_deadline=at(30),
        now=at(8),
    )
    return (
        Log()
        .when(open_or_join("s1"), 0, "system:escalation")
        .when(open_or_join("s2", minutes=2), 2, "system:escalation")
        .when(timer(1, 1), 5, "system:timer")
        .when(Acknowledge(by="municipality:oov-1", now=at(7)), 7, "municipality:oov-1")
        .when(call, 8, "municipality:oov-1")
        .when(rsvp("a1", ("youth",)), 10, "ally:a1")
        .when(rsvp("a2", ()), 11, "ally:a2")
        .when(rsvp("a3", ("turkish",)), 12, "ally:a3")
        .when(MarkConvened(convening_id="c1", now=at(45)), 45, "municipality:oov-1")
    )


def test_status_alerts_acknowledgement_and_convening() -> None:
    log = incident()
    state = fold(P, log.envelopes)
    record = escalation(state, EID)
    assert record is not None
    assert (record.status, record.level, record.round) == ("acknowledged", 1, 2)
    assert record.acknowledged_by == "municipality:oov-1"
    assert record.acknowledged_at == at(7) and record.ack_due_at is None
    assert record.signal_ids == ["s1", "s2"]
    assert [(a.level, a.round, a.at) for a in record.alerts] == [(1, 1, at(0)), (1, 2, at(5))]
    status = convening_status(state, "c1")
    assert status is not None
    assert status.attending == ("a1", "a2", "a3") and status.quorate
    assert status.quorate_at == at(12) and status.convened_at == at(45)
    assert status.missing_communities == ()
    assert "communities_by_ally" not in status.model_dump()  # who covers what stays inside


def test_levels_count_from_one_and_zero_means_not_alerted_yet() -> None:
    """The record, the API and the screens show the policy's first level as level 1."""
    envelopes = incident().envelopes
    opened_only = escalation(fold(P, envelopes[:1]), EID)
    assert opened_only is not None and (opened_only.level, opened_only.round) == (0, 0)
    record = escalation(fold(P, envelopes[:2]), EID)
    assert record is not None and (record.level, record.round) == (1, 1)
    [alerted] = [t for t in record.timeline if t.summary_key == "escalation.alert_issued"]
    assert alerted.params == {"level": "1", "round": "1"}


def picture(band: Band, grip: int) -> SituationPicture:
    return situation(band).model_copy(update={"suggested_grip": grip})


def test_band_and_grip_follow_the_incident_with_their_history() -> None:
    """Opened at high: the record must not stay at high while the cell goes critical."""
    fired = TimerElapsed(
        timer_id=ack_timer_id_for(EID, 1, 1),
        policy=POLICY,
        now=at(5),
        situation=picture("critical", 2),
    )
    log = (
        Log()
        .when(open_or_join("s1"), 0, "system:escalation")  # high, GRIP 0
        .when(open_or_join("s2", minutes=1), 1, "system:escalation")  # nothing changed
        .when(open_or_join("s3", minutes=2, situation=picture("critical", 1)), 2, "system:x")
        .when(fired, 5, "system:timer")
    )
    record = escalation(fold(P, log.envelopes), EID)
    assert record is not None
    assert (record.band, record.suggested_grip) == ("critical", 2)
    assert record.reason == "band high, two reporters"  # why it opened stays
    assert [(h.at, h.band, h.grip, h.cause) for h in record.band_history] == [
        (at(0), "high", 0, "opened"),
        (at(2), "critical", 1, "signal-joined"),
        (at(5), "critical", 2, "crisis-alert-issued"),
    ]


def test_a_join_recorded_before_it_carried_a_grip_keeps_the_grip() -> None:
    log = Log().when(open_or_join("s1"), 0, "system:escalation")
    joined = SignalJoined(escalation_id=EID, signal_id="s2", band="critical")
    envelopes = log.envelopes + wrap([joined], 3, "system:escalation")
    record = escalation(fold(P, envelopes), EID)
    assert record is not None
    assert (record.band, record.suggested_grip) == ("critical", 0)
    assert record.band_history[-1].cause == "signal-joined"


def test_missing_communities_while_not_quorate() -> None:
    log = incident()
    state = fold(P, log.envelopes[: _index_of_rsvp(log, "a3")])
    status = convening_status(state, "c1")
    assert status is not None
    assert not status.quorate and status.missing_communities == ("turkish",)
    assert status.not_answered == ("a3",)


def _index_of_rsvp(log: Log, ally: str) -> int:
    return next(i for i, e in enumerate(log.events) if getattr(e, "ally_id", None) == ally)


def test_timeline_is_in_time_order_with_actor_and_summary_keys() -> None:
    state = fold(P, incident().envelopes)
    record = escalation(state, EID)
    assert record is not None
    keys = [t.summary_key.removeprefix("escalation.") for t in record.timeline]
    assert keys == [
        "opened", "alert_issued", "ack_timer_set", "signal_joined",
        "ack_timeout", "alert_issued", "ack_timer_set", "acknowledged", "convening_called",
        "rsvp_attending", "rsvp_attending", "rsvp_attending", "convening_quorate", "convened",
    ]  # fmt: skip
    assert [t.at for t in record.timeline] == sorted(t.at for t in record.timeline)
    assert record.timeline[0].type == "opened" and record.timeline[0].actor == "system:escalation"
    assert record.timeline[7].actor == "municipality:oov-1"


def test_a_late_recorded_event_lands_at_its_time_and_ties_keep_log_order() -> None:
    log = incident()
    envelopes = log.envelopes
    # The acknowledgement (at 7) arrives after the RSVPs (10-12) were applied.
    ack = next(e for e in envelopes if e.type.endswith(".acknowledged"))
    reordered = [e for e in envelopes if e is not ack]
    reordered.insert(len(reordered) - 1, ack)
    record = escalation(fold(P, reordered), EID)
    assert record is not None
    times = [t.at for t in record.timeline]
    assert times == sorted(times)
    at_zero = [t.summary_key for t in record.timeline if t.at == at(0)]
    assert at_zero == ["escalation.opened", "escalation.alert_issued", "escalation.ack_timer_set"]


def test_redelivery_is_ignored() -> None:
    envelopes = incident().envelopes
    once = fold(P, envelopes)
    twice = fold(P, envelopes + envelopes[3:9])
    assert twice == once


def test_list_open_only_and_a_second_escalation_after_close() -> None:
    log = incident().when(Close(by="police:tc-1", reason="rustig", now=at(90)), 90, "police:tc-1")
    log.when(open_or_join("s9", minutes=200), 200, "system:escalation")
    state = fold(P, log.envelopes)
    everything = [r.escalation_id for r in list_escalations(state)]
    assert everything == [f"{AREA}_{THEME}-2", EID]
    assert [r.escalation_id for r in list_escalations(state, open_only=True)] == [everything[0]]
    closed = escalation(state, EID)
    assert closed is not None and (closed.status, closed.closed_at) == ("closed", at(90))
    assert is_open(state, AREA, THEME)  # the second one
    first = incident().when(Close(by="police:tc-1", reason="r", now=at(90)), 90, "police:tc-1")
    first_only = fold(P, first.envelopes)
    assert not is_open(first_only, AREA, THEME) and not is_open(state, AREA, "other")


def test_snapshot_round_trip_and_queries_return_copies() -> None:
    state = fold(P, incident().envelopes)
    assert P.load(P.dump(state)) == state
    record = escalation(state, EID)
    assert record is not None
    record.status = "closed"
    assert state.escalations[EID].status == "acknowledged"
