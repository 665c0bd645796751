"""Which slow burns concern a network (projections/slow_burns.py): the cells on watch within its
areas, matched as its call list matches an incident's area. Given signals, when the map is
taken, then a network's watched cells are exactly the slow burns in its areas."""

from __future__ import annotations

from events.envelope import Envelope
from events.signals import SignalReceived
from projections.base import fold
from projections.call_lists import CallListProjection, CallListState
from projections.slow_burns import watched_by_network, watched_cells
from projections.tension_map import TensionMapProjection, TensionMapView, tension_view
from tests.builders_network import envelope, network_formed
from tests.factories import at, signal, signal_envelope

DAY = 24 * 60  # minutes
AZC = "asylum_reception"
NOW = 9 * DAY + 61  # just after the tenth daily signal


def daily(area: str, theme: str, days: int = 10) -> list[Envelope[SignalReceived]]:
    """One observed signal a day from a new reporter each day: a slow burn from the fifth."""
    return [
        signal_envelope(
            signal(f"{area}-{theme}-{d}", area=area, themes=(theme,), reporter_id=f"{area}-{d}"),
            minutes=d * DAY + 60,
        )
        for d in range(days)
    ]


def the_map() -> TensionMapView:
    signals = [
        *daily("GM0034-haven", AZC),  # on watch, in the haven network's area
        *daily("GM0363-centrum", AZC),  # on watch, in another municipality
        *daily("GM0034-stad", "discrimination", days=2),  # in the municipality, not on watch
        # A burst today in the haven: high on the fast scale, on one day only: no slow burn.
        *(
            signal_envelope(
                signal(f"burst-{i}", themes=("demonstration",), reporter_id=f"burst-{i}"),
                minutes=NOW - 5,
            )
            for i in range(6)
        ),
    ]
    return tension_view(fold(TensionMapProjection(), signals), at(NOW))


def calls() -> CallListState:
    return fold(
        CallListProjection(),
        [
            envelope(network_formed("nw-haven")),  # area and areas: GM0034-haven
            envelope(
                network_formed(
                    "nw-almere", name="Bondgenoten Almere", area="GM0034", areas=("GM0034-stad",)
                ),
                area="GM0034",
            ),
            envelope(
                network_formed(
                    "nw-elders", name="Bondgenoten Elders", area="GM0518", areas=("GM0518-zuid",)
                ),
                area="GM0518",
            ),
        ],
    )


def test_a_slow_burn_in_the_networks_area_is_listed_and_others_are_not() -> None:
    view = the_map()
    state = calls()
    # The map itself holds all of them: the burst is visible, the other burns are on watch.
    shown = {(c.area, c.theme): c.watch for c in view.cells}
    assert shown[("GM0034-haven", AZC)] and shown[("GM0363-centrum", AZC)]
    assert shown[("GM0034-haven", "demonstration")] is False

    [haven] = watched_cells(view, state.networks["nw-haven"])
    assert (haven.area, haven.theme) == ("GM0034-haven", AZC)
    assert haven.slow >= 4 and haven.slow_reporters == 7 and haven.slow_days == 7

    # A municipal network sees the burns anywhere in its municipality, like its call list.
    [almere] = watched_cells(view, state.networks["nw-almere"])
    assert (almere.area, almere.theme) == ("GM0034-haven", AZC)

    assert watched_cells(view, state.networks["nw-elders"]) == ()
    by_network = watched_by_network(state, view)
    assert {nid: [(c.area, c.theme) for c in cells] for nid, cells in by_network.items()} == {
        "nw-almere": [("GM0034-haven", AZC)],
        "nw-haven": [("GM0034-haven", AZC)],
    }
