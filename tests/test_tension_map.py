"""Tension map: given signals, then bands, trends and state (pure, no NATS)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from events.envelope import Envelope
from events.signals import Evidence, SourceRole
from projections.base import fold
from projections.tension_map import (
    Band,
    TensionConfig,
    TensionMapProjection,
    TensionState,
    Trend,
    band_of,
    cell_facts,
    cell_score,
    tension_view,
)
from services.texts_nl.labels import BAND_LABELS, TREND_LABELS
from tests.builders_network import envelope, network_formed
from tests.factories import at, signal_envelope

H = 60  # minutes per hour
AREA = "GM0034-poort"
AZC = "asylum_reception"
ALLY, POLICE, MUNICIPALITY = SourceRole.ALLY, SourceRole.POLICE, SourceRole.MUNICIPALITY
OBS, HEARD = Evidence.OBSERVED, Evidence.HEARD

# An AZC (asylum centre) is coming: over three days more allies, then the municipality and the
# police, report groups organising against it. (hour, role, reporter, level, evidence)
AZC_SERIES = [
    (0, ALLY, "ally-1", 2, HEARD),
    (12, ALLY, "ally-1", 2, OBS),
    (24, ALLY, "ally-2", 2, HEARD),
    (30, ALLY, "ally-1", 3, OBS),
    (36, MUNICIPALITY, "oov-adviseur", 2, OBS),
    (40, ALLY, "ally-2", 3, OBS),
    (44, ALLY, "ally-3", 3, OBS),
    (48, ALLY, "ally-1", 3, OBS),
    (51, POLICE, "wijkagent", 2, HEARD),
    (54, MUNICIPALITY, "oov-adviseur", 3, OBS),
    (57, ALLY, "ally-2", 3, HEARD),
    (60, ALLY, "ally-4", 3, HEARD),
    (63, POLICE, "wijkagent", 4, OBS),
    (66, ALLY, "ally-3", 4, OBS),
    (69, MUNICIPALITY, "oov-adviseur", 4, OBS),
]


def azc_events() -> list[tuple[int, Envelope[Any]]]:
    return [
        (
            hour,
            signal_envelope(
                signal_id=f"azc-{i}",
                area=AREA,
                themes=(AZC,),
                role=role,
                reporter_id=reporter,
                level=level,
                evidence=evidence,
                minutes=hour * H,
            ),
        )
        for i, (hour, role, reporter, level, evidence) in enumerate(AZC_SERIES)
    ]


def demo(signal_id: str, role: SourceRole, reporter: str, minutes: float) -> Envelope[Any]:
    return signal_envelope(
        signal_id=signal_id,
        themes=("demonstration",),
        role=role,
        reporter_id=reporter,
        level=4,
        minutes=minutes,
    )


def test_slowly_rising_azc_tension_steps_up_through_every_band_and_decays_back() -> None:
    projection = TensionMapProjection()
    state = projection.initial()
    pending = azc_events()
    bands: list[tuple[int, Band]] = []
    # Live: apply each signal when it happens and look at the map every hour for six days.
    for hour in range(0, 6 * 24):
        while pending and pending[0][0] <= hour:
            state = projection.evolve(state, pending.pop(0)[1])
        band = band_of(cell_score(state, AREA, AZC, at(hour * H)))
        if not bands or bands[-1][1] is not band:
            bands.append((hour, band))

    assert [b for _, b in bands] == [
        Band.NORMAL,
        Band.ELEVATED,
        Band.HIGH,
        Band.CRITICAL,
        Band.HIGH,
        Band.ELEVATED,
        Band.NORMAL,
    ]
    # Critical only once the police and the municipality confirm what several allies report.
    assert dict((b, h) for h, b in bands)[Band.CRITICAL] == 63


def test_three_independent_sources_make_a_demonstration_critical() -> None:
    events = [
        demo("d1", ALLY, "ally-1", 0),
        demo("d2", POLICE, "wijkagent", 5),
        demo("d3", MUNICIPALITY, "oov-adviseur", 10),
    ]
    state = fold(TensionMapProjection(), events)

    (cell,) = tension_view(state, at(15)).cells
    assert cell.band is Band.CRITICAL
    assert (cell.distinct_reporters, cell.distinct_roles) == (3, 3)
    assert BAND_LABELS[cell.band] == "kritiek"


def test_one_ally_repeating_themselves_adds_no_heat() -> None:
    events = [demo(f"d{i}", ALLY, "ally-1", i * 5) for i in range(3)]
    state = fold(TensionMapProjection(), events)

    (cell,) = tension_view(state, at(10)).cells
    assert cell.band is not Band.CRITICAL
    assert cell.band is Band.ELEVATED
    assert cell.score == 4.0  # the max of ally-1's signals, not their sum
    assert (cell.distinct_reporters, cell.distinct_roles) == (1, 1)
    assert len(cell.signals) == 3


def test_decay_follows_the_theme_half_life() -> None:
    state = fold(
        TensionMapProjection(),
        [
            demo("d1", ALLY, "ally-1", 0),
            signal_envelope(signal_id="a1", area=AREA, themes=(AZC,), level=4),
        ],
    )

    assert cell_score(state, "GM0034-haven", "demonstration", at(3 * H)) == pytest.approx(2.0)
    assert cell_score(state, AREA, AZC, at(12 * H)) == pytest.approx(2.0)
    assert cell_score(state, AREA, AZC, at(-1)) == 0.0  # nothing before it happened
    shorter = TensionConfig().with_half_life(AZC, timedelta(hours=6))
    assert cell_score(state, AREA, AZC, at(6 * H), shorter) == pytest.approx(2.0)
    assert shorter.half_life("demonstration") == timedelta(hours=3)


def test_evidence_weight_and_one_signal_in_each_of_its_themes() -> None:
    heard = signal_envelope(
        signal_id="s1", themes=("polarisation", "discrimination"), level=5, evidence=HEARD
    )
    state = fold(TensionMapProjection(), [heard])

    view = tension_view(state, at(0))
    assert [(c.theme, c.score) for c in view.cells] == [
        ("discrimination", 3.0),
        ("polarisation", 3.0),
    ]
    assert view.cells[0].signals[0].evidence is HEARD


def test_trend_rising_steady_and_falling() -> None:
    projection = TensionMapProjection()
    azc = fold(projection, [signal_envelope(signal_id="a1", area=AREA, themes=(AZC,), level=3)])
    demo_state = fold(projection, [signal_envelope(signal_id="d1", level=5)])

    def trend(state: TensionState, minutes: float) -> Trend:
        (cell,) = tension_view(state, at(minutes)).cells
        return cell.trend

    assert trend(azc, 5) is Trend.RISING  # an hour ago there was nothing
    assert trend(azc, 2 * H) is Trend.STEADY  # 12 h half-life: barely moved in an hour
    assert trend(demo_state, 2 * H) is Trend.FALLING  # 3 h half-life: 3.97 -> 3.15
    assert TREND_LABELS[Trend.FALLING] == "dalend"


def test_view_filters_by_municipality_prefix_and_theme_and_sorts_hottest_first() -> None:
    events = [
        signal_envelope(signal_id="h1", area="GM0034-haven", level=2),
        signal_envelope(signal_id="p1", area="GM0034-poort", level=5),
        signal_envelope(signal_id="u1", area="GM0344", level=4, themes=("youth_nuisance",)),
    ]
    state = fold(TensionMapProjection(), events)

    assert [c.area for c in tension_view(state, at(1)).cells] == [
        "GM0034-poort",
        "GM0344",
        "GM0034-haven",
    ]
    assert [c.area for c in tension_view(state, at(1), area="GM0034").cells] == [
        "GM0034-poort",
        "GM0034-haven",
    ]
    assert tension_view(state, at(1), area="GM0034-hav").cells == ()
    assert [c.area for c in tension_view(state, at(1), theme="youth_nuisance").cells] == ["GM0344"]


def test_contributing_signals_are_ranked_and_capped() -> None:
    events = [
        signal_envelope(signal_id=f"s{i}", reporter_id=f"ally-{i}", level=1 + i % 5, minutes=i)
        for i in range(25)
    ]
    (cell,) = tension_view(fold(TensionMapProjection(), events), at(30)).cells

    assert len(cell.signals) == 20
    contributions = [s.contribution for s in cell.signals]
    assert contributions == sorted(contributions, reverse=True)
    assert cell.signals[0].level == 5


def test_cells_below_the_visible_minimum_are_omitted() -> None:
    state = fold(TensionMapProjection(), [signal_envelope(signal_id="d1", level=1)])
    assert tension_view(state, at(0)).cells != ()
    assert tension_view(state, at(24 * H)).cells == ()  # 1 × 2^-8 ≈ 0.004


def test_redelivered_event_changes_nothing() -> None:
    projection = TensionMapProjection()
    events = [e for _, e in azc_events()]
    state = fold(projection, events)
    before = projection.dump(state)

    for e in (events[0], events[5], events[-1]):
        state = projection.evolve(state, e)

    assert projection.dump(state) == before


def test_redelivery_of_a_pruned_signal_changes_nothing() -> None:
    projection = TensionMapProjection()
    first = signal_envelope(signal_id="old", level=1)
    state = fold(projection, [first, signal_envelope(signal_id="new", minutes=7 * 24 * H)])
    assert [c.signal_id for cell in state.cells.values() for c in cell.contributions] == ["new"]
    before = projection.dump(state)

    assert projection.dump(projection.evolve(state, first)) == before


def test_pruning_follows_event_time_not_a_clock() -> None:
    projection = TensionMapProjection()
    state = fold(projection, [e for _, e in azc_events()])
    assert len(state.cells[f"{AREA}/{AZC}"].contributions) == len(AZC_SERIES)

    # Days later a signal elsewhere advances the watermark: the AZC cell has fully decayed.
    later = signal_envelope(signal_id="x", area="GM0034-haven", minutes=10 * 24 * H)
    state = projection.evolve(state, later)
    assert list(state.cells) == ["GM0034-haven/demonstration"]
    assert state.watermark == at(10 * 24 * H)


def test_prefix_then_rest_equals_all_and_dump_load_round_trips() -> None:
    projection = TensionMapProjection()
    events = [e for _, e in azc_events()] + [
        demo("d1", ALLY, "ally-1", 70 * H),
        demo("d2", POLICE, "wijkagent", 70 * H + 5),
        signal_envelope(signal_id="late", area=AREA, themes=(AZC,), minutes=9 * 24 * H),
    ]
    whole = fold(projection, events)

    for k in (1, 7, len(events) - 1):
        prefix = fold(projection, events[:k])
        resumed = fold(projection, events[k:], projection.load(projection.dump(prefix)))
        assert resumed == whole
        assert projection.dump(resumed) == projection.dump(whole)

    assert projection.load(projection.dump(whole)) == whole


def test_other_event_types_are_ignored() -> None:
    projection = TensionMapProjection()
    state = projection.evolve(projection.initial(), envelope(network_formed()))
    assert state == TensionState()


def test_config_rejects_unordered_bands() -> None:
    with pytest.raises(ValueError, match="band thresholds"):
        TensionConfig(elevated_from=8, high_from=4)


def test_cell_facts_are_what_the_map_shows_for_that_cell_at_every_hour() -> None:
    """The workflow's cheap judgement (no trend, no top signals) agrees with the map, also
    where the map shows no cell at all."""
    events = azc_events()
    state = fold(TensionMapProjection(), [e for _, e in events])
    for hour in range(0, 24 * 6, 3):
        shown = tension_view(state, at(hour * H), area=AREA, theme=AZC).cells
        expected = (
            (shown[0].band, shown[0].distinct_reporters, shown[0].distinct_roles) if shown else None
        )
        assert cell_facts(state, AREA, AZC, at(hour * H)) == expected
    assert cell_facts(state, AREA, "demonstration", at(0)) is None


@pytest.mark.parametrize("seed", range(5))
def test_the_live_judgement_equals_the_full_score_for_any_mix_of_reporters(seed: int) -> None:
    """cell_facts keeps each reporter's strongest signal instead of scoring every signal:
    the same band, reporters and roles as the map, live and in replays, while signals arrive
    out of order and old ones are pruned."""
    import random

    rng = random.Random(seed)
    projection = TensionMapProjection()
    state = projection.initial()
    reporters = [(ALLY, "a1"), (ALLY, "a2"), (POLICE, "wijkagent"), (MUNICIPALITY, "oov")]
    minute = 0.0
    for i in range(120):
        minute += rng.uniform(0, 40)
        role, reporter = rng.choice(reporters)
        event = signal_envelope(
            signal_id=f"r{seed}-{i}",
            area=AREA,
            themes=(AZC,),
            role=role,
            reporter_id=reporter,
            level=rng.randint(1, 5),
            evidence=rng.choice(list(Evidence)),
            minutes=minute - rng.uniform(0, 30),  # a little out of order
        )
        state = projection.evolve(state, event)
        for when in (minute, minute - rng.uniform(0, 120), minute + rng.uniform(0, 600)):
            shown = tension_view(state, at(when), area=AREA, theme=AZC).cells
            expected = (
                (shown[0].band, shown[0].distinct_reporters, shown[0].distinct_roles)
                if shown
                else None
            )
            assert cell_facts(state, AREA, AZC, at(when)) == expected, (i, when)
