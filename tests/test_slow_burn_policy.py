"""The escalation policy may open an escalation on a slow burn (``open_on_watch``, off by
default): judged from the tension map's slow scale by the workflow's view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.policy import parse_policies
from domain.workflow import CellFacts, opening_trigger
from projections.base import Projection, fold
from projections.tension_map import TensionMapProjection
from services.adapters.clock import FixedClock
from services.app.readmodels import ReadModels
from services.app.situation import LiveView
from tests.factories import at
from tests.test_policy import LEVEL
from tests.test_slow_burn import AZC, DAY, daily

POLICIES = parse_policies("[default]\n" + LEVEL + "\n[GM0034]\nopen_on_watch = true\n")


@dataclass
class Held:
    """A read model held still (a live projection without a feed)."""

    state: Any


def view_after(days: int, minutes: float) -> LiveView:
    events = daily(days)

    def feed(p: Projection[Any]) -> Any:
        return Held(fold(p, events) if isinstance(p, TensionMapProjection) else p.initial())

    read = ReadModels(store=None, clock=FixedClock(at(minutes)), feed=feed)  # type: ignore[arg-type]
    return LiveView(read, POLICIES, at(minutes))


def test_open_on_watch_is_off_by_default_and_opens_with_slow_burn_where_set() -> None:
    assert not POLICIES["default"].open_on_watch
    watch = CellFacts("normal", 0, 0, watch=True)
    assert opening_trigger(POLICIES["default"], watch, major_incident=False) is None
    assert opening_trigger(POLICIES["GM0034"], watch, major_incident=False) == "slow_burn"
    # The band's own rule comes first.
    high = CellFacts("high", 3, 2, watch=True)
    assert opening_trigger(POLICIES["GM0034"], high, major_incident=False) == "band_crossed"


def test_the_workflow_view_sees_the_watch_of_a_slow_burn() -> None:
    # The fifth day's signal: on watch, although the fast band is normal.
    cell = view_after(5, 4 * DAY + 61).cell("GM0034-haven", AZC)
    assert cell is not None and cell.watch and cell.band == "normal"
    assert opening_trigger(POLICIES["GM0034"], cell, major_incident=False) == "slow_burn"
    # The fourth day's: not yet.
    before = view_after(4, 3 * DAY + 61).cell("GM0034-haven", AZC)
    assert before is not None and not before.watch


def test_the_view_does_not_judge_the_slow_scale_where_the_policy_ignores_it() -> None:
    view = view_after(5, 4 * DAY + 61)
    gm = parse_policies("[default]\n" + LEVEL)
    quiet = LiveView(view.read, gm, view.now)
    cell = quiet.cell("GM0034-haven", AZC)
    assert cell is not None and not cell.watch
    assert timedelta(days=7) == TensionMapProjection().config.slow_half_life
