"""Network lifecycle decider: given the network's events, when a command, then these events
(or this refusal). Meetings with a rotating independent chair, the half-yearly evaluation, the
core group, the handover of professional seats and the per-network settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from domain import network as nw
from domain.errors import Conflict, DomainError, NotFound
from domain.intake import InvalidInput
from events.base import DomainEvent
from events.network import (
    CoreGroupMemberAdded,
    CoreGroupMemberRemoved,
    DutyContactAssigned,
    DutyRole,
    EvaluationOutcome,
    EvaluationRecorded,
    HandoverAnnounced,
    MeetingChairAssigned,
    MeetingHeld,
    MeetingPlanned,
    NetworkSettingsChanged,
    SeatVacated,
    SuccessorIntroduced,
)
from services.app import commands as c
from services.app.handlers import lifecycle_command
from tests.builders_network import ally_enrolled, duty_contact, network_formed
from tests.factories import T0

NOW = T0
DAY = timedelta(days=1)
NID = "nw-haven"


def given(*extra: DomainEvent) -> list[DomainEvent]:
    return [
        network_formed(size_cap=12),
        ally_enrolled("ally-1"),
        ally_enrolled("ally-2"),
        duty_contact(DutyRole.POLICE, "wijkagent-1"),
        duty_contact(DutyRole.MUNICIPALITY, "oov-1"),
        *extra,
    ]


def planned(meeting_id: str = "m1", *, days: float = 14, chair: str = "ally-1") -> MeetingPlanned:
    return MeetingPlanned(
        network_id=NID,
        meeting_id=meeting_id,
        starts_at=NOW + days * DAY,
        place="Buurthuis De Roef",
        chair=chair,
    )


def held(meeting_id: str = "m1", *, days: float = 14) -> MeetingHeld:
    return MeetingHeld(
        network_id=NID,
        meeting_id=meeting_id,
        held_at=NOW + days * DAY,
        attendance=("ally-1", "ally-2", "wijkagent-1"),
        topics=("azc Poort",),
    )


def run(events: list[DomainEvent], command: nw.NetworkCommand) -> list[DomainEvent]:
    return list(nw.network_decider.run(events, command))


# ---------------------------------------------------------------- meetings and the chair


def test_a_meeting_is_planned_with_date_place_and_an_independent_chair() -> None:
    assert run(given(), nw.PlanMeeting(event=planned(), now=NOW)) == [planned()]


def test_a_meeting_is_planned_ahead_not_in_the_past() -> None:
    with pytest.raises(InvalidInput) as refused:
        run(given(), nw.PlanMeeting(event=planned(days=-1), now=NOW))
    assert (refused.value.errors[0].field, refused.value.errors[0].code) == ("starts_at", "in_past")


def test_the_chair_is_not_police_or_municipality_staff() -> None:
    for professional in ("wijkagent-1", "oov-1"):
        with pytest.raises(DomainError) as refused:
            run(given(), nw.PlanMeeting(event=planned(chair=professional), now=NOW))
        assert refused.value.field == "chair"
    core = CoreGroupMemberAdded(
        network_id=NID, member_id="teamchef-1", role=DutyRole.POLICE, function="teamchef"
    )
    with pytest.raises(DomainError):
        run(given(core), nw.PlanMeeting(event=planned(chair="teamchef-1"), now=NOW))


def test_the_chair_rotates_after_a_meeting() -> None:
    history = given(planned(), held())
    with pytest.raises(DomainError) as refused:
        run(history, nw.PlanMeeting(event=planned("m2", days=90, chair="ally-1"), now=NOW))
    assert refused.value.field == "chair" and "rotates" in str(refused.value)
    assert run(history, nw.PlanMeeting(event=planned("m2", days=90, chair="ally-2"), now=NOW))


def test_the_chair_of_a_planned_meeting_can_be_changed() -> None:
    change = MeetingChairAssigned(network_id=NID, meeting_id="m1", chair="ally-2")
    assert run(given(planned()), nw.AssignChair(event=change)) == [change]
    same = MeetingChairAssigned(network_id=NID, meeting_id="m1", chair="ally-1")
    assert run(given(planned()), nw.AssignChair(event=same)) == []  # already chairs it
    with pytest.raises(NotFound):
        run(given(), nw.AssignChair(event=change))
    with pytest.raises(Conflict):
        run(given(planned(), held()), nw.AssignChair(event=change))


def test_a_meeting_held_records_attendance_topics_and_plans_the_next_right_after() -> None:
    nxt = planned("m2", days=100, chair="ally-2")
    command = nw.RecordMeeting(event=held(), next_meeting=nxt, now=NOW + 14 * DAY)
    assert run(given(planned()), command) == [held(), nxt]


def test_a_meeting_is_recorded_once_and_only_if_planned_and_past() -> None:
    with pytest.raises(NotFound):
        run(given(), nw.RecordMeeting(event=held(), now=NOW + 20 * DAY))
    with pytest.raises(Conflict):
        run(given(planned(), held()), nw.RecordMeeting(event=held(), now=NOW + 20 * DAY))
    with pytest.raises(InvalidInput) as future:
        run(given(planned()), nw.RecordMeeting(event=held(), now=NOW))
    assert future.value.errors[0].field == "held_at"


def test_attendance_names_people_of_this_network_only() -> None:
    stranger = held().model_copy(update={"attendance": ("ally-1", "someone-else")})
    with pytest.raises(DomainError) as refused:
        run(given(planned()), nw.RecordMeeting(event=stranger, now=NOW + 14 * DAY))
    assert refused.value.field == "attendance"


def test_the_next_meeting_comes_after_the_one_held_under_another_chair() -> None:
    earlier = planned("m2", days=10, chair="ally-2")
    with pytest.raises(InvalidInput) as refused:
        run(
            given(planned()),
            nw.RecordMeeting(event=held(), next_meeting=earlier, now=NOW + 15 * DAY),
        )
    assert refused.value.errors[0].field == "next_meeting.starts_at"
    same_chair = planned("m2", days=100, chair="ally-1")
    with pytest.raises(DomainError) as chair:
        run(
            given(planned()),
            nw.RecordMeeting(event=held(), next_meeting=same_chair, now=NOW + 15 * DAY),
        )
    assert chair.value.field == "next_meeting.chair"


# ---------------------------------------------------------------- evaluation and core group


def test_the_evaluation_is_recorded_with_its_outcome_never_in_the_future() -> None:
    evaluation = EvaluationRecorded(
        network_id=NID,
        evaluated_at=NOW,
        outcome=EvaluationOutcome.CHANGES_NEEDED,
        recruit_communities=("youth",),
    )
    assert run(given(), nw.RecordEvaluation(event=evaluation, now=NOW)) == [evaluation]
    later = evaluation.model_copy(update={"evaluated_at": NOW + DAY})
    with pytest.raises(InvalidInput):
        run(given(), nw.RecordEvaluation(event=later, now=NOW))


def test_core_group_members_join_once_and_leave_once() -> None:
    added = CoreGroupMemberAdded(
        network_id=NID, member_id="teamchef-1", role=DutyRole.POLICE, function="teamchef"
    )
    assert run(given(), nw.AddCoreMember(event=added)) == [added]
    with pytest.raises(Conflict):
        run(given(added), nw.AddCoreMember(event=added))
    removed = nw.RemoveCoreMember(
        event=CoreGroupMemberRemoved(network_id=NID, member_id="teamchef-1")
    )
    assert len(run(given(added), removed)) == 1
    with pytest.raises(NotFound):
        run(given(), removed)


# ---------------------------------------------------------------- the professional seats


def test_a_handover_is_announced_by_the_seat_holder_and_pending_until_the_successor() -> None:
    leaving = HandoverAnnounced(
        network_id=NID, role=DutyRole.POLICE, contact_id="wijkagent-1", leaves_on=NOW + 30 * DAY
    )
    assert run(given(), nw.AnnounceHandover(event=leaving)) == [leaving]
    with pytest.raises(Conflict):
        run(given(leaving), nw.AnnounceHandover(event=leaving))
    wrong = leaving.model_copy(update={"contact_id": "oov-1"})
    with pytest.raises(NotFound) as refused:
        run(given(), nw.AnnounceHandover(event=wrong))
    assert refused.value.field == "contact_id"
    successor = duty_contact(DutyRole.POLICE, "wijkagent-2")
    events = run(given(leaving), nw.IntroduceSuccessor(assigned=successor))
    assert events == [
        successor,
        SuccessorIntroduced(
            network_id=NID,
            role=DutyRole.POLICE,
            previous_contact_id="wijkagent-1",
            contact_id="wijkagent-2",
        ),
    ]
    after = nw.network_decider.fold([*given(leaving), *events])
    assert after.seats[DutyRole.POLICE] == "wijkagent-2" and not after.leaving


def test_leaving_without_a_successor_makes_the_seat_vacant_until_filled() -> None:
    vacate = nw.VacateSeat(network_id=NID, role=DutyRole.POLICE, reason="nieuwe baan")
    (vacated,) = run(given(), vacate)
    assert vacated == SeatVacated(
        network_id=NID, role=DutyRole.POLICE, contact_id="wijkagent-1", reason="nieuwe baan"
    )
    state = nw.network_decider.fold([*given(), vacated])
    assert DutyRole.POLICE not in state.seats
    with pytest.raises(NotFound) as twice:
        run([*given(), vacated], vacate)
    assert twice.value.field == "role"
    successor = duty_contact(DutyRole.POLICE, "wijkagent-2")
    _, introduced = run([*given(), vacated], nw.IntroduceSuccessor(assigned=successor))
    assert isinstance(introduced, SuccessorIntroduced) and introduced.previous_contact_id is None
    with pytest.raises(Conflict):
        run(given(), nw.IntroduceSuccessor(assigned=duty_contact(DutyRole.POLICE, "wijkagent-1")))


def test_a_vacated_professional_cannot_chair_but_attendance_of_the_successor_counts() -> None:
    successor = duty_contact(DutyRole.POLICE, "wijkagent-2")
    history = given(planned(), successor)
    meeting = held().model_copy(update={"attendance": ("wijkagent-2",)})
    assert run(history, nw.RecordMeeting(event=meeting, now=NOW + 14 * DAY)) == [meeting]


# ---------------------------------------------------------------- settings


def test_settings_are_validated_and_the_cap_never_below_the_members() -> None:
    settings = NetworkSettingsChanged(
        network_id=NID, size_cap=10, meetings_per_year=6, communities=("youth", "turkish")
    )
    assert run(given(), nw.ChangeSettings(event=settings)) == [settings]
    state = nw.network_decider.fold([*given(), settings])
    assert (state.size_cap, state.meetings_per_year) == (10, 6)
    for bad in (
        {"size_cap": 9},
        {"size_cap": 16},
        {"meetings_per_year": 3},
        {"meetings_per_year": 7},
    ):
        with pytest.raises(ValidationError):
            c.ChangeNetworkSettings.model_validate(
                {"network_id": NID, "size_cap": 12, "meetings_per_year": 4, **bad}
            )
    full = [network_formed(size_cap=15), *(ally_enrolled(f"ally-{i}") for i in range(11))]
    with pytest.raises(Conflict) as refused:
        run(full, nw.ChangeSettings(event=settings))
    assert refused.value.field == "size_cap"


def test_the_cap_from_the_settings_limits_enrolment() -> None:
    settings = NetworkSettingsChanged(network_id=NID, size_cap=10, meetings_per_year=4)
    history = [
        network_formed(size_cap=15),
        settings,
        *(ally_enrolled(f"ally-{i}") for i in range(10)),
    ]
    with pytest.raises(DomainError, match="full"):
        run(history, nw.EnrollAlly(event=ally_enrolled("ally-new")))


def test_every_lifecycle_command_from_outside_becomes_a_decider_command() -> None:
    personal = {"name": "P. Jansen", "phone": "+31 6 1111 2222"}
    examples: list[c.Command] = [
        c.ChangeNetworkSettings(network_id=NID, size_cap=12),
        c.PlanMeeting(
            network_id=NID, meeting_id="m1", starts_at=NOW + DAY, place="Buurthuis", chair="ally-1"
        ),
        c.AssignChair(network_id=NID, meeting_id="m1", chair="ally-2"),
        c.RecordMeeting(network_id=NID, meeting_id="m1", topics=("azc",)),
        c.RecordEvaluation(network_id=NID, outcome=EvaluationOutcome.COMPOSITION_RIGHT),
        c.AddCoreMember(
            network_id=NID, member_id="tc-1", role=DutyRole.POLICE, function="teamchef"
        ),
        c.RemoveCoreMember(network_id=NID, member_id="tc-1"),
        c.AnnounceHandover(
            network_id=NID, role=DutyRole.POLICE, contact_id="wijkagent-1", leaves_on=NOW + DAY
        ),
        c.IntroduceSuccessor.model_validate(
            {
                "network_id": NID,
                "role": "police",
                "contact_id": "wijkagent-2",
                "function": "wijkagent",
                "personal": personal,
            }
        ),
        c.VacateSeat(network_id=NID, role=DutyRole.MUNICIPALITY),
    ]
    assert {type(e) for e in examples} == set(c.LIFECYCLE_COMMANDS)
    made = [type(lifecycle_command(example, NOW)) for example in examples]
    assert made == [
        nw.ChangeSettings,
        nw.PlanMeeting,
        nw.AssignChair,
        nw.RecordMeeting,
        nw.RecordEvaluation,
        nw.AddCoreMember,
        nw.RemoveCoreMember,
        nw.AnnounceHandover,
        nw.IntroduceSuccessor,
        nw.VacateSeat,
    ]
    held_now = lifecycle_command(examples[3], NOW)
    assert isinstance(held_now, nw.RecordMeeting) and held_now.event.held_at == NOW
    successor = lifecycle_command(examples[8], NOW)
    assert isinstance(successor, nw.IntroduceSuccessor)
    assert isinstance(successor.assigned, DutyContactAssigned)
