"""The slow scale of the tension map (reporter-days, 7-day half-life): a slow burn raises watch,
a burst does not (projections/tension_map.py, "Slow burns")."""

from __future__ import annotations

from datetime import timedelta

from events.envelope import Envelope
from events.signals import Evidence, SignalReceived
from projections.base import fold
from projections.tension_map import (
    Band,
    CellView,
    TensionMapProjection,
    TensionState,
    Trend,
    tension_view,
)
from tests.factories import at, signal, signal_envelope

DAY = 24 * 60  # minutes
AZC = "asylum_reception"
P = TensionMapProjection()


def daily(
    days: int, *, same_reporter: bool = False, level: int = 3
) -> list[Envelope[SignalReceived]]:
    """One moderate observed signal a day, at 10:00 UTC, from a new neighbour each day."""
    return [
        signal_envelope(
            signal(
                f"azc-{d}",
                themes=(AZC,),
                level=level,
                reporter_id="ally-1" if same_reporter else f"ally-{d}",
            ),
            minutes=d * DAY + 60,
        )
        for d in range(days)
    ]


def cell(state: TensionState, minutes: float) -> CellView | None:
    view = tension_view(state, at(minutes), P.config, theme=AZC)
    return view.cells[0] if view.cells else None


def test_one_moderate_signal_a_day_from_different_reporters_raises_watch() -> None:
    events = daily(10)
    seen = []
    for d in range(10):
        state = fold(P, events[: d + 1])
        now = cell(state, d * DAY + 61)
        assert now is not None
        seen.append(now)
    # The fast score never gets past elevated: every signal has decayed before the next.
    assert all(c.band in (Band.NORMAL, Band.ELEVATED) for c in seen)
    # The slow scale: 1 + 2^(-1/7) + … reaches 4 on the fifth day; watch from then on.
    assert [c.watch for c in seen] == [False] * 4 + [True] * 6
    assert seen[4].slow == 4.14 and seen[4].slow_reporters == 5 and seen[4].slow_days == 5
    assert seen[4].slow_trend == Trend.RISING
    assert seen[9].slow > seen[4].slow


def test_slow_burn_stays_on_the_map_after_the_fast_score_has_faded() -> None:
    state = fold(P, daily(10))
    # Four days after the last signal the fast score has faded below what the map shows;
    # the cell still shows, because of the watch.
    later = cell(state, 13 * DAY)
    assert later is not None and later.watch and later.score < P.config.min_visible_score
    assert later.band == Band.NORMAL
    assert later.slow_trend == Trend.FALLING
    # The week without signals ends the watch: nobody reported in the last seven days.
    assert cell(state, 17 * DAY + 120) is None


def test_one_person_every_day_is_no_slow_burn() -> None:
    state = fold(P, daily(10, same_reporter=True))
    now = cell(state, 9 * DAY + 61)
    assert now is not None and not now.watch and now.slow_reporters == 1


def test_a_burst_is_high_on_the_fast_scale_but_not_a_slow_burn() -> None:
    """Twenty reporters within one hour: the fast score goes to critical. The slow sum is large
    (twenty reporter-days) but all on one day: a burst is not persistence, so no watch; if
    nothing follows on later days it never becomes one."""
    burst = [
        signal_envelope(
            signal(f"b-{i}", themes=(AZC,), level=3, reporter_id=f"ally-{i}"), minutes=i * 3
        )
        for i in range(20)
    ]
    state = fold(P, burst)
    now = cell(state, 60)
    assert now is not None and now.band == Band.CRITICAL
    assert now.slow == 19.96 and now.slow_days == 1 and not now.watch
    assert all(not (c := cell(state, m)) or not c.watch for m in (DAY, 3 * DAY, 6 * DAY))


def test_slow_scale_is_the_same_whatever_the_order_and_redelivery() -> None:
    events = daily(10)
    forward = fold(P, events)
    backward = fold(P, list(reversed(events)))
    twice = fold(P, [e for e in events for _ in (0, 1)])
    assert forward.slow == twice.slow
    # Reversed, the watermark starts at the last day: nothing is old enough to be dropped.
    assert forward.slow == backward.slow


def test_slow_marks_are_pruned_after_about_a_month() -> None:
    events = daily(3)
    late = signal_envelope(signal("late", themes=("demonstration",)), minutes=40 * DAY)
    state = fold(P, [*events, late])
    assert "GM0034-haven/asylum_reception" not in state.slow
    assert P.load(P.dump(state)) == state


def test_heard_evidence_counts_less_on_the_slow_scale() -> None:
    heard = [
        signal_envelope(
            signal(f"h-{d}", themes=(AZC,), evidence=Evidence.HEARD, reporter_id=f"r-{d}"),
            minutes=d * DAY + 60,
        )
        for d in range(5)
    ]
    now = cell(fold(P, heard), 4 * DAY + 61)
    five_days = sum(2 ** (-k / 7) for k in range(5))
    assert now is not None and now.slow == round(0.6 * five_days, 2) and not now.watch


def test_watch_uses_the_last_week_only() -> None:
    state = fold(P, daily(10))
    assert (c := cell(state, 9 * DAY + 61)) is not None
    assert c.slow_reporters == 7 and c.slow_days == 7  # days 3..9
    assert timedelta(days=7) == P.config.slow_window
