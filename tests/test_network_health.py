"""Network health: given the network's events, judged at a moment, then these flags, each
with its code and Dutch reason. Pure: the same events and the same moment give the same
flags."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events.base import DomainEvent
from events.envelope import AggregateRef, Envelope, new_envelope
from events.network import (
    CallOutcome,
    CallOutcomeRecorded,
    DutyRole,
    EvaluationOutcome,
    EvaluationRecorded,
    HandoverAnnounced,
    MeetingHeld,
    MeetingPlanned,
    NetworkSettingsChanged,
    SeatVacated,
    SuccessorIntroduced,
)
from projections import network_health as nh
from projections.base import fold
from projections.call_lists import CallListProjection
from projections.network_health import NetworkHealth, NetworkHealthProjection, network_health
from services.texts_nl.network import flag_reason
from tests.builders_network import NETWORK_AREA, ally_enrolled, duty_contact, network_formed
from tests.factories import T0

DAY = timedelta(days=1)
NID = "nw-haven"


def env(data: DomainEvent, day: float) -> Envelope[Any]:
    kind = "contact" if isinstance(data, CallOutcomeRecorded) else "network"
    key = data.ally_id if isinstance(data, CallOutcomeRecorded) else NID
    when = T0 + day * DAY
    return new_envelope(
        data,
        aggregate=AggregateRef(kind=kind, area=NETWORK_AREA, id=key),
        actor="coordinator:almere",
        source="/tests",
        occurred_at=when,
        recorded_at=when,
    )


def healthy() -> list[Envelope[Any]]:
    """A network formed a year ago that met five times, evaluated a month ago, with both
    seats held, the area's communities covered and every ally reached recently."""
    events = [
        env(network_formed(size_cap=12), 0),
        env(
            NetworkSettingsChanged(
                network_id=NID, size_cap=12, meetings_per_year=4, communities=("youth", "turkish")
            ),
            0,
        ),
        *(
            env(ally_enrolled(f"ally-{i}", communities=("youth",) if i else ("turkish",)), 1)
            for i in range(7)
        ),
        env(duty_contact(DutyRole.POLICE, "wijkagent-1"), 1),
        env(duty_contact(DutyRole.MUNICIPALITY, "oov-1"), 1),
        env(
            EvaluationRecorded(
                network_id=NID,
                evaluated_at=T0 + 340 * DAY,
                outcome=EvaluationOutcome.COMPOSITION_RIGHT,
            ),
            340,
        ),
    ]
    for n, day in enumerate((100, 170, 240, 300, 350)):
        chair = f"ally-{n % 2}"
        events.append(
            env(
                MeetingPlanned(
                    network_id=NID,
                    meeting_id=f"m{n}",
                    starts_at=T0 + day * DAY,
                    place="Buurthuis",
                    chair=chair,
                ),
                day - 30,
            )
        )
        events.append(
            env(
                MeetingHeld(
                    network_id=NID,
                    meeting_id=f"m{n}",
                    held_at=T0 + day * DAY,
                    attendance=("ally-1",),
                ),
                day,
            )
        )
    events.append(
        env(
            MeetingPlanned(
                network_id=NID,
                meeting_id="m-next",
                starts_at=T0 + 420 * DAY,
                place="Buurthuis",
                chair="ally-3",
            ),
            350,
        )
    )
    for i in range(7):
        events.append(
            env(
                CallOutcomeRecorded(
                    network_id=NID, ally_id=f"ally-{i}", outcome=CallOutcome.REACHED, caller="c"
                ),
                330,
            )
        )
    return events


def judge(events: list[Envelope[Any]], day: float) -> NetworkHealth:
    calls = fold(CallListProjection(), events)
    life = fold(NetworkHealthProjection(), events)
    (health,) = network_health(calls, at=T0 + day * DAY, life=life)
    return health


def codes(health: NetworkHealth) -> list[str]:
    return [f.code for f in health.flags]


def test_a_network_kept_alive_has_no_flags() -> None:
    health = judge(healthy(), 365)
    assert codes(health) == []
    assert health.meetings_last_12_months == 5
    assert health.next_meeting_at == T0 + 420 * DAY


def test_missed_meeting_cadence_and_evaluation_are_flagged_with_their_reasons() -> None:
    health = judge(healthy(), 365 + 200)
    flags = {f.code: f for f in health.flags}
    assert nh.MEETINGS_BELOW_TARGET in flags and nh.EVALUATION_OVERDUE in flags
    assert flags[nh.MEETINGS_BELOW_TARGET].params == {"held": 3, "expected": 4, "target": 4}
    assert flag_reason(nh.MEETINGS_BELOW_TARGET, flags[nh.MEETINGS_BELOW_TARGET].params) == (
        "In de afgelopen 12 maanden 3 bijeenkomst(en) gehouden; verwacht waren er 4"
        " (doel: 4 per jaar)."
    )
    assert flags[nh.EVALUATION_OVERDUE].params == {"days": 225, "never": False}
    assert "225 dagen" in flag_reason(nh.EVALUATION_OVERDUE, flags[nh.EVALUATION_OVERDUE].params)
    # the planned meeting is past and not recorded: nothing planned ahead
    assert nh.NO_NEXT_MEETING in flags
    # nobody called for long
    stale = flags[nh.ALLIES_NOT_REACHED]
    assert stale.allies == tuple(f"ally-{i}" for i in range(7)) and stale.params["count"] == 7


def test_a_young_network_is_held_to_its_share_of_the_target() -> None:
    events = [
        env(network_formed(), 0),
        env(duty_contact(DutyRole.POLICE, "w"), 0),
        env(duty_contact(DutyRole.MUNICIPALITY, "o"), 0),
    ]
    assert nh.MEETINGS_BELOW_TARGET not in codes(judge(events, 60))  # 4 * 60/365 < 1
    flags = {f.code: f for f in judge(events, 100).flags}
    assert flags[nh.MEETINGS_BELOW_TARGET].params["expected"] == 1
    assert nh.EVALUATION_OVERDUE not in flags
    never = {f.code: f for f in judge(events, 200).flags}[nh.EVALUATION_OVERDUE]
    assert never.params == {"days": 200, "never": True}
    assert flag_reason(never.code, never.params).startswith("Nog nooit geëvalueerd")


def test_a_vacant_police_seat_is_flagged_until_a_handover_clears_it() -> None:
    vacated = env(SeatVacated(network_id=NID, role=DutyRole.POLICE, contact_id="wijkagent-1"), 360)
    health = judge([*healthy(), vacated], 365)
    (flag,) = health.flags
    assert (flag.code, flag.params) == (nh.SEAT_VACANT, {"role": "police", "days": 5})
    assert flag_reason(flag.code, flag.params) == (
        "De zetel van de politie is vacant sinds 5 dagen: stel een opvolger voor aan het netwerk."
    )
    assert health.duty_contacts[DutyRole.POLICE] is False  # nobody to call in that role
    successor = [
        env(duty_contact(DutyRole.POLICE, "wijkagent-2"), 364),
        env(
            SuccessorIntroduced(network_id=NID, role=DutyRole.POLICE, contact_id="wijkagent-2"), 364
        ),
    ]
    assert codes(judge([*healthy(), vacated, *successor], 365)) == []


def test_a_handover_pending_is_flagged_and_a_seat_never_filled_is_vacant() -> None:
    leaving = HandoverAnnounced(
        network_id=NID, role=DutyRole.MUNICIPALITY, contact_id="oov-1", leaves_on=T0 + 380 * DAY
    )
    (flag,) = judge([*healthy(), env(leaving, 360)], 365).flags
    assert flag.code == nh.HANDOVER_PENDING and flag.params["role"] == "municipality"
    assert "gemeente vertrekt op" in flag_reason(flag.code, flag.params)
    without_police = [e for e in healthy() if getattr(e.data, "contact_id", "") != "wijkagent-1"]
    (vacant,) = judge(without_police, 365).flags
    assert vacant.params == {"role": "police", "days": None}
    assert "nooit ingevuld" in flag_reason(vacant.code, vacant.params)


def test_communities_of_the_area_not_represented_and_an_understaffed_network() -> None:
    settings = NetworkSettingsChanged(
        network_id=NID, size_cap=15, meetings_per_year=4, communities=("youth", "turkish", "lgbti")
    )
    health = judge([*healthy(), env(settings, 360)], 365)
    flags = {f.code: f for f in health.flags}
    assert flags[nh.COMMUNITIES_MISSING].params == {"communities": ["lgbti"]}
    assert flags[nh.UNDERSTAFFED].params == {"members": 7, "cap": 15}


def test_health_is_a_pure_function_of_the_events_and_the_moment() -> None:
    events = healthy()
    assert judge(events, 500) == judge(events, 500)
    projection = NetworkHealthProjection()
    state = fold(projection, events)
    assert projection.load(projection.dump(state)) == state
    again = fold(projection, events[-3:], fold(projection, events))  # redelivered suffix
    assert again == state
