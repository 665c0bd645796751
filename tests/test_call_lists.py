"""Call lists (bellijsten) and network membership: given network events, then the list."""

from __future__ import annotations

from typing import Any

from events.envelope import Envelope
from events.network import Availability, CallOutcome, DutyRole
from projections.base import fold
from projections.call_lists import (
    CallListProjection,
    CallListState,
    UnreachableReason,
    call_list,
)
from projections.network_health import network_health
from services.texts_nl.labels import call_reason_label
from tests.builders_network import (
    ally_enrolled,
    ally_left,
    availability_changed,
    call_outcome,
    duty_contact,
    envelope,
    network_formed,
)
from tests.factories import at, signal_envelope

H = 60
PROJECTION = CallListProjection()


def haven_network() -> list[Envelope[Any]]:
    """Almere Haven: a Turkish-community ally, a youth worker, a school head, a shop owner who
    did not consent to be called, an ally on holiday, and the duty contacts."""
    return [
        envelope(network_formed(areas=("GM0034-haven", "GM0034-centrum"))),
        envelope(ally_enrolled("ally-youth", themes=("demonstration",), communities=("youth",))),
        envelope(
            ally_enrolled(
                "ally-turkish",
                areas=("GM0034-centrum",),
                availability=Availability.EVENINGS,
                communities=("turkish", "muslim"),
            )
        ),
        envelope(ally_enrolled("ally-school", areas=("GM0034-centrum",), communities=("schools",))),
        envelope(ally_enrolled("ally-shop", consent=False, communities=("entrepreneurs",))),
        envelope(
            ally_enrolled(
                "ally-away", availability=Availability.UNAVAILABLE, communities=("moroccan",)
            )
        ),
        envelope(duty_contact(DutyRole.POLICE, "wijkagent-1", name="Agent Bakker")),
        envelope(duty_contact(DutyRole.MUNICIPALITY, "oov-1", name="M. Jansen")),
    ]


def demonstration_list(state: CallListState, minutes: float = 10) -> Any:
    return call_list(
        state,
        area="GM0034-haven",
        themes=("demonstration",),
        communities=("turkish", "moroccan"),
        at=at(minutes),
    )


def test_community_covering_ally_ranks_first_then_area_and_theme() -> None:
    cl = demonstration_list(fold(PROJECTION, haven_network()))

    assert [e.ally_id for e in cl.entries] == ["ally-turkish", "ally-youth", "ally-school"]
    first, second, third = cl.entries
    assert first.rank == 1
    assert first.reasons == ("covers:turkish", "municipality", "not_called_yet")
    assert second.reasons == ("area", "theme:demonstration", "always_available", "not_called_yet")
    assert "municipality" in third.reasons
    assert first.phone == "06 1234 5678"
    assert call_reason_label(first.reasons[0]) == "vertegenwoordigt Turkse gemeenschap"


def test_non_consenting_and_unavailable_allies_are_listed_apart_without_contact_details() -> None:
    cl = demonstration_list(fold(PROJECTION, haven_network()))

    assert {e.ally_id for e in cl.entries}.isdisjoint({"ally-shop", "ally-away"})
    assert [(u.ally_id, u.reason) for u in cl.unreachable] == [
        ("ally-away", UnreachableReason.UNAVAILABLE),
        ("ally-shop", UnreachableReason.NO_CONSENT),
    ]
    assert set(type(cl.unreachable[0]).model_fields) == {"ally_id", "network_ids", "reason"}


def test_affected_community_without_a_callable_member_is_a_coverage_gap() -> None:
    # ally-away covers the Moroccan community but is unavailable, so it is still a gap.
    cl = demonstration_list(fold(PROJECTION, haven_network()))
    assert cl.coverage_gaps == ("moroccan",)


def test_duty_contacts_of_the_matching_network_are_included_and_replaced() -> None:
    events = [
        *haven_network(),
        envelope(duty_contact(DutyRole.POLICE, "wijkagent-2", name="Agent Smit"), minutes=5),
    ]
    cl = demonstration_list(fold(PROJECTION, events))

    assert [(d.role, d.contact_id, d.name) for d in cl.duty_contacts] == [
        (DutyRole.POLICE, "wijkagent-2", "Agent Smit"),
        (DutyRole.MUNICIPALITY, "oov-1", "M. Jansen"),
    ]


def test_recorded_call_outcomes_move_allies_down_the_list() -> None:
    events = [
        *haven_network(),
        envelope(call_outcome("ally-turkish", CallOutcome.REACHED), minutes=5),
        envelope(call_outcome("ally-youth", CallOutcome.NO_ANSWER), minutes=6),
    ]
    state = fold(PROJECTION, events)

    soon = demonstration_list(state, minutes=10)
    turkish = next(e for e in soon.entries if e.ally_id == "ally-turkish")
    assert turkish.last_call is not None
    assert (turkish.last_call.outcome, turkish.last_call.at) == (CallOutcome.REACHED, at(5))
    assert "recent:reached" in turkish.reasons
    # Still first: covering the affected community outranks having just been called.
    assert soon.entries[0].ally_id == "ally-turkish"
    youth = next(e for e in soon.entries if e.ally_id == "ally-youth")
    assert "recent:no_answer" in youth.reasons


def test_recent_calls_rank_lower_until_they_expire_then_longest_uncontacted_first() -> None:
    # Three otherwise identical allies, so only the call history decides.
    events = [
        envelope(network_formed()),
        *(envelope(ally_enrolled(a)) for a in ("ally-a", "ally-b", "ally-c")),
        envelope(call_outcome("ally-a", CallOutcome.REACHED), minutes=5),
        envelope(call_outcome("ally-b", CallOutcome.NO_ANSWER), minutes=20),
        envelope(call_outcome("ally-c", CallOutcome.CALL_BACK_LATER), minutes=40),
    ]
    state = fold(PROJECTION, events)

    def order(minutes: float) -> list[str]:
        cl = call_list(state, area="GM0034-haven", themes=(), communities=(), at=at(minutes))
        return [e.ally_id for e in cl.entries]

    # b and c were tried without result within the hour (b longer ago); a was just reached.
    assert order(45) == ["ally-b", "ally-c", "ally-a"]
    # b's attempt is over an hour old, c's not yet; a was reached less than 2 hours ago.
    assert order(85) == ["ally-b", "ally-c", "ally-a"]
    # Both attempts have expired (b still longer ago); a remains "just reached".
    assert order(105) == ["ally-b", "ally-c", "ally-a"]
    # After every penalty expired, the ally contacted longest ago comes first.
    assert order(5 * H) == ["ally-a", "ally-b", "ally-c"]


def test_as_of_query_ignores_outcomes_recorded_later() -> None:
    events = [
        *haven_network(),
        envelope(call_outcome("ally-youth", CallOutcome.REACHED), minutes=30),
    ]
    cl = demonstration_list(fold(PROJECTION, events), minutes=10)
    youth = next(e for e in cl.entries if e.ally_id == "ally-youth")
    assert youth.last_call is None


def test_ally_left_removes_the_member() -> None:
    events = [*haven_network(), envelope(ally_left("ally-turkish"), minutes=5)]
    state = fold(PROJECTION, events)

    assert "ally-turkish" not in state.networks["nw-haven"].members
    cl = demonstration_list(state)
    assert "ally-turkish" not in {e.ally_id for e in cl.entries}
    assert cl.coverage_gaps == ("turkish", "moroccan")


def test_availability_change_makes_an_ally_callable_again() -> None:
    events = [
        *haven_network(),
        envelope(availability_changed("ally-away", Availability.ALWAYS), minutes=5),
    ]
    cl = demonstration_list(fold(PROJECTION, events))
    assert cl.coverage_gaps == ()
    assert [e.ally_id for e in cl.entries][:2] == ["ally-away", "ally-turkish"]


def test_only_networks_serving_the_area_are_used() -> None:
    events = [
        *haven_network(),
        envelope(network_formed("nw-utrecht", area="GM0344", areas=("GM0344-overvecht",))),
        envelope(ally_enrolled("ally-utr", network_id="nw-utrecht", communities=("turkish",))),
    ]
    state = fold(PROJECTION, events)

    assert demonstration_list(state).network_ids == ("nw-haven",)
    # A network whose area is the municipality serves all its districts.
    utrecht = call_list(state, area="GM0344-zuilen", themes=(), communities=(), at=at(0))
    assert [e.ally_id for e in utrecht.entries] == ["ally-utr"]


def test_redelivered_events_change_nothing() -> None:
    events = [
        *haven_network(),
        envelope(call_outcome("ally-youth", CallOutcome.REACHED), minutes=5),
        envelope(ally_left("ally-school"), minutes=6),
        envelope(availability_changed("ally-turkish", Availability.ALWAYS), minutes=7),
    ]
    state = fold(PROJECTION, events)
    before = PROJECTION.dump(state)

    for e in events:  # each one again, in isolation
        state = PROJECTION.evolve(state, e)
        state = PROJECTION.evolve(state, e)
    assert PROJECTION.dump(state) == before


def test_prefix_then_rest_equals_all_and_dump_load_round_trips() -> None:
    events = [
        *haven_network(),
        envelope(call_outcome("ally-youth", CallOutcome.NO_ANSWER), minutes=5),
        envelope(ally_left("ally-shop"), minutes=6),
    ]
    whole = fold(PROJECTION, events)
    for k in (1, 4, len(events) - 1):
        resumed = fold(
            PROJECTION, events[k:], PROJECTION.load(PROJECTION.dump(fold(PROJECTION, events[:k])))
        )
        assert resumed == whole
    assert PROJECTION.load(PROJECTION.dump(whole)) == whole


def test_older_call_outcome_does_not_replace_a_newer_one() -> None:
    events = [
        *haven_network(),
        envelope(call_outcome("ally-youth", CallOutcome.REACHED), minutes=20),
        envelope(call_outcome("ally-youth", CallOutcome.NO_ANSWER), minutes=10),
    ]
    last = fold(PROJECTION, events).networks["nw-haven"].last_calls["ally-youth"]
    assert (last.outcome, last.at) == (CallOutcome.REACHED, at(20))


def test_signals_and_unknown_networks_are_ignored() -> None:
    events: list[Envelope[Any]] = [
        signal_envelope(),
        envelope(ally_enrolled("ally-x", network_id="nw-unknown")),
    ]
    assert fold(PROJECTION, events) == CallListState()


def test_network_health() -> None:
    events = [
        *haven_network(),
        envelope(call_outcome("ally-youth", CallOutcome.REACHED), minutes=5),
        envelope(call_outcome("ally-youth", CallOutcome.NO_ANSWER), minutes=6),
    ]
    (health,) = network_health(fold(PROJECTION, events), at=at(3 * 24 * H + 10))

    assert (health.members, health.size_cap, health.consented) == (5, 12, 4)
    assert health.communities_covered == (
        "entrepreneurs",
        "moroccan",
        "muslim",
        "schools",
        "turkish",
        "youth",
    )
    assert health.duty_contacts == {DutyRole.POLICE: True, DutyRole.MUNICIPALITY: True}
    # The later "no answer" does not hide that someone was reached three days ago.
    assert health.days_since_last_reached == 3
