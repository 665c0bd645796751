"""Network membership decider: given events, when a command, then events or a refusal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from domain.errors import Conflict, DomainError, NotFound
from domain.intake import InvalidInput
from domain.network import (
    AssignDutyContact,
    ChangeAvailability,
    EnrollAlly,
    FormNetwork,
    NetworkCommand,
    RecordCallOutcome,
    RemoveAlly,
    decide_call_outcome,
    network_decider,
)
from events.base import DomainEvent
from events.network import AllyLeft, Availability, CallOutcome, DutyRole
from tests.builders_network import (
    ally_enrolled,
    ally_left,
    availability_changed,
    call_outcome,
    duty_contact,
    network_formed,
)
from tests.factories import at


def then(given: Sequence[DomainEvent], command: NetworkCommand) -> list[DomainEvent]:
    return list(network_decider.run(given, command))


def test_forming_a_network_once() -> None:
    formed = network_formed()
    assert then([], FormNetwork(event=formed)) == [formed]
    with pytest.raises(Conflict):
        then([formed], FormNetwork(event=formed))


def test_every_command_on_an_unknown_network_is_refused() -> None:
    for command in (
        EnrollAlly(event=ally_enrolled()),
        RemoveAlly(network_id="nw-haven", ally_id="ally-1"),
        ChangeAvailability(event=availability_changed("ally-1", Availability.EVENINGS)),
        AssignDutyContact(event=duty_contact(DutyRole.POLICE, "wijk-1")),
    ):
        with pytest.raises(NotFound) as refused:
            then([], command)
        assert refused.value.field == "network_id"


def test_enrolment_up_to_the_cap_and_not_beyond() -> None:
    given: list[DomainEvent] = [network_formed(size_cap=10)]
    for i in range(10):
        given += then(given, EnrollAlly(event=ally_enrolled(f"a{i}")))
    with pytest.raises(DomainError, match="network is full: 10 of at most 10"):
        then(given, EnrollAlly(event=ally_enrolled("a10")))
    # Someone leaves: there is room again.
    given.append(ally_left("a3"))
    assert then(given, EnrollAlly(event=ally_enrolled("a10")))


def test_a_duplicate_member_is_refused_and_may_rejoin_after_leaving() -> None:
    given: list[DomainEvent] = [network_formed(), ally_enrolled("a1")]
    with pytest.raises(Conflict) as refused:
        then(given, EnrollAlly(event=ally_enrolled("a1")))
    assert refused.value.field == "ally_id"
    left = then(given, RemoveAlly(network_id="nw-haven", ally_id="a1", reason="verhuisd"))
    assert left == [AllyLeft(network_id="nw-haven", ally_id="a1", reason="verhuisd")]
    assert then([*given, *left], EnrollAlly(event=ally_enrolled("a1")))


def test_only_members_leave_or_change_availability() -> None:
    given: list[DomainEvent] = [network_formed(), ally_enrolled("a1")]
    with pytest.raises(NotFound):
        then(given, RemoveAlly(network_id="nw-haven", ally_id="a2"))
    with pytest.raises(NotFound):
        then(given, ChangeAvailability(event=availability_changed("a2", Availability.EVENINGS)))
    change = availability_changed("a1", Availability.UNAVAILABLE)
    assert then(given, ChangeAvailability(event=change)) == [change]


def test_a_new_duty_contact_replaces_the_previous_one() -> None:
    given: list[DomainEvent] = [network_formed(), duty_contact(DutyRole.POLICE, "wijk-1")]
    newer = duty_contact(DutyRole.POLICE, "wijk-2", name="A. Jansen")
    assert then(given, AssignDutyContact(event=newer)) == [newer]


# ---------------------------------------------------------------- reported calls


def when_call_reported(
    given: Sequence[DomainEvent], ally: str, occurred_at: datetime | None = None
) -> list[DomainEvent]:
    """Given the network's events, when a call to ``ally`` is reported at minute 10."""
    members = network_decider.fold(given).members
    command = RecordCallOutcome(
        event=call_outcome(ally, CallOutcome.NO_ANSWER), occurred_at=occurred_at
    )
    return decide_call_outcome(command, members, at(10))


def test_a_call_to_a_member_is_recorded_as_reported() -> None:
    given: list[DomainEvent] = [network_formed(), ally_enrolled("a1")]
    assert when_call_reported(given, "a1") == [call_outcome("a1", CallOutcome.NO_ANSWER)]
    assert when_call_reported(given, "a1", occurred_at=at(2)) != []  # made earlier
    assert when_call_reported(given, "a1", occurred_at=at(14)) != []  # a clock a bit ahead


def test_a_call_to_someone_not_a_member_is_refused() -> None:
    for given in (
        [network_formed(), ally_enrolled("a1")],
        [network_formed(), ally_enrolled("a2"), ally_left("a2")],
        [],  # an unknown network has no members
    ):
        with pytest.raises(NotFound) as refused:
            when_call_reported(given, "a2")
        assert refused.value.field == "ally_id"


def test_a_call_in_the_future_is_refused_naming_the_field() -> None:
    given: list[DomainEvent] = [network_formed(), ally_enrolled("a1")]
    with pytest.raises(InvalidInput) as refused:
        when_call_reported(given, "a1", occurred_at=at(10) + timedelta(days=1))
    [error] = refused.value.errors
    assert (error.field, error.code) == ("occurred_at", "in_future")
