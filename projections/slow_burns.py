"""Which slow burns concern a network: the tension-map cells on watch within its areas.

A network's areas are matched to cells exactly as its call list matches an incident's area
(:meth:`projections.call_lists.NetworkState.serves`): a cell belongs to the network when its area
is one of the network's areas, or lies in the network's municipality, or in a municipality the
network lists among its areas. One rule for both, so the coordinators who are told about a slow
burn are those of the network whose allies would be called about it.

Pure: the caller supplies the map (:func:`projections.tension_map.tension_view`, at the moment
asked) and the call-list state.
"""

from __future__ import annotations

from projections.call_lists import CallListState, NetworkState
from projections.tension_map import CellView, TensionMapView


def watched_cells(view: TensionMapView, network: NetworkState) -> tuple[CellView, ...]:
    """The cells of ``view`` on watch within ``network``'s areas, highest slow score first."""
    cells = (c for c in view.cells if c.watch and network.serves(c.area))
    return tuple(sorted(cells, key=lambda c: (-c.slow, c.area, c.theme)))


def watched_by_network(
    calls: CallListState, view: TensionMapView
) -> dict[str, tuple[CellView, ...]]:
    """Per network id, its watched cells (networks without any are left out)."""
    found = {nid: watched_cells(view, n) for nid, n in sorted(calls.networks.items())}
    return {nid: cells for nid, cells in found.items() if cells}
