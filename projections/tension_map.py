"""Tension map (spanningsbeeld): how hot each area × theme is, from decaying, corroborated signals.

Formula (t is the query time; every constant lives in :class:`TensionConfig`)::

    c_i(t) = level_i × w(evidence_i) × 2^(-(t - occurred_at_i) / half_life(theme_i))
             for t ≥ occurred_at_i, and 0 before the signal occurred

    w: observed 1.0, heard 0.6, expected 0.4
    half_life: 12 h; demonstration 3 h, public_order 3 h, violent_incident 6 h, attack 6 h

A signal with several themes counts in each of its (area, theme) cells. Within a cell, with R the
distinct reporters (role + id)::

    m_r(t)   = max of reporter r's contributions c_i(t)      one person repeating adds no heat
    roles(t) = distinct roles of the reporters with m_r(t) > 0.05
    score(t) = sum_r m_r(t) × (1 + 0.25 × (|roles(t)| - 1))  independent corroboration

Pulse answers (thermometeren) count as corroboration in the ally's role: an answer of ally
``a`` to a pulse on area × theme is folded like a signal of source role ``ally``, reporter
``ally:a``, evidence ``heard`` (the ally sounds out their constituency: what they report is
what they heard there), level = the answer's level, at the moment the answer was recorded
(late answers too: they are the latest picture). It decays and is pruned by the same rules, and
the max-per-reporter rule means an ally who also sent a signal adds no heat twice.

Bands: normal < 4 ≤ elevated < 8 ≤ high < 14 ≤ critical (normaal, verhoogd, hoog, kritiek).

Trend: before = score(t - 1 h), counting only signals that had occurred by then, and
δ = max(0.5, 10 % of before): rising if score(t) > before + δ, falling if score(t) < before - δ,
else steady.

The fold keeps, per cell, the contributions that can still matter. It prunes against the latest
event time seen (the watermark), never a clock, so live and rebuilt state are identical; queries
for times well before the watermark may miss pruned signals (use an as-of rebuild for those,
``services.app.readmodels.replay``, which folds in occurred order up to the moment asked).

Slow burns (``slow``, ``watch``)
--------------------------------
The score above forgets within a day or two: one moderate signal a day for ten days, about an
asylum centre's arrival, never gets past "elevated". What such a slow burn shows is not
intensity (the fast score measures that) but *persistence and breadth*: more and more different
people, on more and more days, worry about the same thing. So the slow scale counts
**reporter-days**, with a 7-day half-life::

    mark (r, d) = reporter r sent at least one signal on calendar day d (Europe/Amsterdam)
                  into the cell; first_at = its first that day, w = its strongest evidence
                  weight that day (observed 1.0, heard 0.6, expected 0.4); level is ignored
    slow(t)     = sum over marks with first_at ≤ t of w × 2^(-(t - first_at) / 7 days)
    reporters(t), days(t) = distinct reporters and distinct days among the marks of the last
                  7 days (first_at in (t - 7 days, t])
    watch(t)    = slow(t) ≥ 4  and  reporters(t) ≥ 4  and  days(t) ≥ 3
    slow trend  = the fast trend's rule, comparing slow(t) with slow(t - 3 days)

Why these choices: one reporter counts once a day whatever they repeat (the unit of evidence is
an independent person noticing something that day, as for the fast score); the 7-day half-life
matches the rhythm in which a neighbourhood's mood turns (a week of daily signals keeps the sum
near 5, a single day's worth halves in a week and is gone, below 0.05, after about a month); a
steady stream of one observed signal a day from different people reaches watch on its fifth
day (1 + 2^(-1/7) + … + 2^(-4/7) = 4.14), three in a week do not (2.7). ``days ≥ 3`` makes watch
mean *persistent*: a burst of twenty reporters within an hour scores slow = 20 but on one day,
so it does not raise watch; it is the fast score's business (high or critical) and it never
becomes a slow burn unless signals keep coming on later days. ``reporters ≥ 4`` keeps one
worried person writing daily from raising watch alone. The slow trend looks back three days:
a day's decay alone (9 %) would hide inside the trend's 10 % margin, three days of silence
(-26 %) show as falling. Pulse answers count as the ally's
reporter-days, like signals.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from events.envelope import AwareDatetime, Envelope
from events.pulse import PULSE_KIND, PulseAnswerRecorded
from events.signals import SIGNAL_KINDS, Evidence, SignalReceived, SourceRole

_HOUR = timedelta(hours=1)


class TensionConfig(BaseModel):
    """All tuning constants of the tension map. Changing the fold-relevant ones (weights,
    half-lives, ``prune_below``) requires bumping :attr:`TensionMapProjection.version`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence_weights: dict[Evidence, float] = Field(
        default_factory=lambda: {
            Evidence.OBSERVED: 1.0,
            Evidence.HEARD: 0.6,
            Evidence.EXPECTED: 0.4,
        }
    )
    default_half_life: timedelta = 12 * _HOUR
    half_life_by_theme: dict[str, timedelta] = Field(
        default_factory=lambda: {
            "demonstration": 3 * _HOUR,
            "public_order": 3 * _HOUR,
            "violent_incident": 6 * _HOUR,
            "attack": 6 * _HOUR,
        }
    )
    corroboration_bonus: float = 0.25
    """Extra weight per additional independent source role in a cell."""
    active_role_min: float = 0.05
    """A reporter's role counts towards corroboration only while its contribution exceeds this."""
    elevated_from: float = 4.0
    high_from: float = 8.0
    critical_from: float = 14.0
    trend_window: timedelta = _HOUR
    trend_min_delta: float = 0.5
    trend_relative_delta: float = 0.10
    top_signals: int = 20
    prune_below: float = 0.01
    min_visible_score: float = 0.05
    slow_half_life: timedelta = 7 * 24 * _HOUR
    """Half-life of a reporter-day on the slow scale (see the module's "Slow burns")."""
    slow_window: timedelta = 7 * 24 * _HOUR
    """The recent past in which watch counts distinct reporters and days."""
    slow_watch_from: float = 4.0
    slow_min_reporters: int = 4
    slow_min_days: int = 3
    slow_trend_window: timedelta = 3 * 24 * _HOUR
    slow_prune_below: float = 0.05
    slow_day_zone: str = "Europe/Amsterdam"
    """Calendar days are the reporters' days."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not 0 < self.elevated_from < self.high_from < self.critical_from:
            raise ValueError("band thresholds must satisfy 0 < elevated < high < critical")
        half_lives = [self.default_half_life, *self.half_life_by_theme.values()]
        if any(h <= timedelta(0) for h in half_lives):
            raise ValueError("half-lives must be positive")
        if set(self.evidence_weights) != set(Evidence):
            raise ValueError("evidence_weights needs a weight for every kind of evidence")
        return self

    def half_life(self, theme: str) -> timedelta:
        return self.half_life_by_theme.get(theme, self.default_half_life)

    def with_half_life(self, theme: str, half_life: timedelta) -> TensionConfig:
        """A copy with one theme's half-life overridden, keeping the other overrides."""
        merged = {**self.half_life_by_theme, theme: half_life}
        return self.model_validate({**self.model_dump(), "half_life_by_theme": merged})


DEFAULT_TENSION_CONFIG = TensionConfig()


class Band(StrEnum):
    NORMAL = "normal"
    ELEVATED = "elevated"
    HIGH = "high"
    CRITICAL = "critical"


class Trend(StrEnum):
    RISING = "rising"
    STEADY = "steady"
    FALLING = "falling"


# ---------------------------------------------------------------- state (what the fold keeps)


class Contribution(BaseModel):
    """One signal's stake in one cell; its value at any time follows from these fields."""

    model_config = ConfigDict(frozen=True)

    signal_id: str
    reporter: str  # "<role>:<id>", the unit of independence
    role: SourceRole
    evidence: Evidence
    level: int
    occurred_at: AwareDatetime
    communities: tuple[str, ...] = ()
    """Affected communities the signal names (about the incident, not about a person)."""
    expires_at: AwareDatetime
    """When its value falls below ``prune_below``; precomputed so pruning is a date comparison."""


class Cell(BaseModel):
    area: str
    theme: str
    contributions: list[Contribution] = Field(default_factory=list)
    # The ids of ``contributions``, always in step with it: the redelivery check per event
    # must not scan a busy cell (it made the fold quadratic).
    _ids: set[str] = PrivateAttr(default_factory=set)
    # Each reporter's strongest contribution once all of them have occurred (see _strongest):
    # judging a cell on every signal then costs its reporters, not its signals. Built on first
    # use for a config, kept up to date by add, dropped by keep_after.
    _strongest: tuple[TensionConfig, dict[str, Contribution]] | None = PrivateAttr(default=None)
    _latest: datetime | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        self._ids = {c.signal_id for c in self.contributions}
        self._latest = max((c.occurred_at for c in self.contributions), default=None)

    def holds(self, signal_id: str) -> bool:
        return signal_id in self._ids

    def add(self, contribution: Contribution) -> None:
        self.contributions.append(contribution)
        self._ids.add(contribution.signal_id)
        if self._latest is None or contribution.occurred_at > self._latest:
            self._latest = contribution.occurred_at
        if self._strongest is not None:
            config, best = self._strongest
            _keep_stronger(best, contribution, self.theme, config)

    def keep_after(self, watermark: datetime) -> None:
        self.contributions = [c for c in self.contributions if c.expires_at > watermark]
        self._ids = {c.signal_id for c in self.contributions}
        self._latest = max((c.occurred_at for c in self.contributions), default=None)
        self._strongest = None

    def strongest(self, config: TensionConfig) -> dict[str, Contribution]:
        """Each reporter's contribution of the greatest value at any time after all of them
        occurred: values decay at one rate per theme, so their order never changes then."""
        if self._strongest is None or self._strongest[0] is not config:
            best: dict[str, Contribution] = {}
            for c in self.contributions:
                _keep_stronger(best, c, self.theme, config)
            self._strongest = (config, best)
        return self._strongest[1]

    @property
    def latest(self) -> datetime | None:
        return self._latest

    def __eq__(self, other: object) -> bool:
        # What the cell holds, not what it has cached (a rebuilt cell equals the live one).
        if not isinstance(other, Cell):
            return NotImplemented
        return (self.area, self.theme, self.contributions) == (
            other.area,
            other.theme,
            other.contributions,
        )


def _strength(c: Contribution, theme: str, config: TensionConfig) -> float:
    """log2 of the value at the epoch: the order of values at any later common moment."""
    initial = c.level * config.evidence_weights[c.evidence]
    return math.log2(initial) + c.occurred_at.timestamp() / config.half_life(theme).total_seconds()


def _keep_stronger(
    best: dict[str, Contribution], c: Contribution, theme: str, config: TensionConfig
) -> None:
    held = best.get(c.reporter)
    if held is None or _strength(c, theme, config) > _strength(held, theme, config):
        best[c.reporter] = c


class SlowMark(BaseModel):
    """A reporter's presence in a cell on one calendar day (the slow scale's unit)."""

    model_config = ConfigDict(frozen=True)

    reporter: str
    day: date
    first_at: AwareDatetime
    """Their first signal in the cell that day."""
    weight: float
    """Their strongest evidence weight that day."""


class SlowCell(BaseModel):
    area: str
    theme: str
    marks: dict[str, SlowMark] = Field(default_factory=dict)
    """By ``reporter|day``."""


class TensionState(BaseModel):
    watermark: AwareDatetime | None = None
    """Latest ``occurred_at`` applied: the fold's notion of 'now' for pruning."""
    next_expiry: AwareDatetime | None = None
    """Earliest ``expires_at`` held, so most events skip the prune scan entirely."""
    cells: dict[str, Cell] = Field(default_factory=dict)
    slow: dict[str, SlowCell] = Field(default_factory=dict)
    """The slow scale per cell (reporter-days), kept for about a month."""
    slow_next_expiry: AwareDatetime | None = None


def cell_key(area: str, theme: str) -> str:
    # Areas and themes never contain '/', so the key is unambiguous and JSON-friendly.
    return f"{area}/{theme}"


def contribution_value(c: Contribution, theme: str, at: datetime, config: TensionConfig) -> float:
    if at < c.occurred_at:
        return 0.0
    age = (at - c.occurred_at) / config.half_life(theme)
    return c.level * config.evidence_weights[c.evidence] * math.pow(2.0, -age)


def _expiry(
    level: int, evidence: Evidence, theme: str, occurred_at: datetime, config: TensionConfig
) -> datetime:
    initial = level * config.evidence_weights[evidence]
    if initial < config.prune_below:
        return occurred_at
    return occurred_at + config.half_life(theme) * math.log2(initial / config.prune_below)


def _slow_expiry(first_at: datetime, weight: float, config: TensionConfig) -> datetime:
    if weight < config.slow_prune_below:
        return first_at
    return first_at + config.slow_half_life * math.log2(weight / config.slow_prune_below)


def _add_slow(
    state: TensionState,
    area: str,
    theme: str,
    reporter: str,
    weight: float,
    at: datetime,
    watermark: datetime,
    config: TensionConfig,
) -> None:
    """Mark ``reporter``'s day in the cell. Min of the times and max of the weights: the same
    marks whatever the order and however often an event is delivered."""
    if _slow_expiry(at, weight, config) <= watermark:
        return  # too old to count any more (and pruned already if it was here)
    key = cell_key(area, theme)
    cell = state.slow.get(key)
    if cell is None:
        cell = state.slow[key] = SlowCell(area=area, theme=theme)
    day = at.astimezone(_zone(config.slow_day_zone)).date()
    mark_key = f"{reporter}|{day.isoformat()}"
    held = cell.marks.get(mark_key)
    if held is not None:
        if held.first_at <= at and held.weight >= weight:
            return
        at, weight = min(held.first_at, at), max(held.weight, weight)
    cell.marks[mark_key] = SlowMark(reporter=reporter, day=day, first_at=at, weight=weight)
    expiry = _slow_expiry(at, weight, config)
    if state.slow_next_expiry is None or expiry < state.slow_next_expiry:
        state.slow_next_expiry = expiry


def _prune_slow(state: TensionState, watermark: datetime, config: TensionConfig) -> None:
    if state.slow_next_expiry is None or state.slow_next_expiry > watermark:
        return
    expiries: list[datetime] = []
    for key in list(state.slow):
        cell = state.slow[key]
        kept = {
            k: m
            for k, m in cell.marks.items()
            if _slow_expiry(m.first_at, m.weight, config) > watermark
        }
        if not kept:
            del state.slow[key]
            continue
        cell.marks = kept
        expiries.extend(_slow_expiry(m.first_at, m.weight, config) for m in kept.values())
    state.slow_next_expiry = min(expiries, default=None)


_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


class TensionMapProjection:
    """Folds ``SignalReceived`` into per-cell contributions; other event types are ignored."""

    name: str = "tension_map"
    # 2: contributions keep the affected communities; 3: pulse answers; 4: the slow scale
    version: int = 4
    kinds: tuple[str, ...] = (*SIGNAL_KINDS, PULSE_KIND)

    def __init__(self, config: TensionConfig = DEFAULT_TENSION_CONFIG) -> None:
        self.config = config

    def initial(self) -> TensionState:
        return TensionState()

    def evolve(self, state: TensionState, event: Envelope[Any]) -> TensionState:
        s = event.data
        if isinstance(s, SignalReceived):
            reporter = f"{s.reporter.role.value}:{s.reporter.id}"
            self._add(
                state, s.signal_id, s.area, s.themes, reporter, s.reporter.role, s.evidence,
                s.level, tuple(s.communities), event.occurred_at,
            )  # fmt: skip
        elif isinstance(s, PulseAnswerRecorded):
            # The answer's event id stands in for a signal id: unique, and the same on replay.
            self._add(
                state, event.id, s.area, (s.theme,), f"ally:{s.ally_id}", SourceRole.ALLY,
                Evidence.HEARD, s.level, (), event.occurred_at,
            )  # fmt: skip
        return state

    def _add(
        self,
        state: TensionState,
        signal_id: str,
        area: str,
        themes: Iterable[str],
        reporter: str,
        role: SourceRole,
        evidence: Evidence,
        level: int,
        communities: tuple[str, ...],
        at: datetime,
    ) -> None:
        if state.watermark is None or at > state.watermark:
            state.watermark = at
        watermark = state.watermark
        weight = self.config.evidence_weights[evidence]
        for theme in themes:
            _add_slow(state, area, theme, reporter, weight, at, watermark, self.config)
            key = cell_key(area, theme)
            cell = state.cells.get(key)
            # Idempotence: a redelivered signal is already here, or it was pruned, and then its
            # expiry still lies before the (never decreasing) watermark, so it is skipped again.
            if cell is not None and cell.holds(signal_id):
                continue
            expires_at = _expiry(level, evidence, theme, at, self.config)
            if expires_at <= watermark:
                continue
            if cell is None:
                cell = state.cells[key] = Cell(area=area, theme=theme)
            cell.add(
                Contribution(
                    signal_id=signal_id,
                    reporter=reporter,
                    role=role,
                    evidence=evidence,
                    level=level,
                    occurred_at=at,
                    communities=communities,
                    expires_at=expires_at,
                )
            )
            if state.next_expiry is None or expires_at < state.next_expiry:
                state.next_expiry = expires_at
        _prune(state, watermark)
        _prune_slow(state, watermark, self.config)

    def dump(self, state: TensionState) -> bytes:
        return state.model_dump_json().encode()

    def load(self, data: bytes) -> TensionState:
        return TensionState.model_validate_json(data)


def _prune(state: TensionState, watermark: datetime) -> None:
    if state.next_expiry is not None and state.next_expiry > watermark:
        return
    for key in list(state.cells):
        cell = state.cells[key]
        cell.keep_after(watermark)
        if not cell.contributions:
            del state.cells[key]
    expiries = [c.expires_at for cell in state.cells.values() for c in cell.contributions]
    state.next_expiry = min(expiries, default=None)


# ---------------------------------------------------------------- queries (pure)


class ContributingSignal(BaseModel):
    model_config = ConfigDict(frozen=True)

    signal_id: str
    contribution: float
    role: SourceRole
    evidence: Evidence
    level: int
    occurred_at: datetime
    communities: tuple[str, ...] = ()


class CellView(BaseModel):
    model_config = ConfigDict(frozen=True)

    area: str
    theme: str
    score: float
    band: Band
    trend: Trend
    distinct_reporters: int
    """Reporters whose signals had occurred by the query time (those summed in the score)."""
    distinct_roles: int
    """Source roles counted for corroboration (reporters still above ``active_role_min``)."""
    signals: tuple[ContributingSignal, ...]
    slow: float = 0.0
    """The slow scale: reporter-days with a 7-day half-life (module docstring)."""
    slow_trend: Trend = Trend.STEADY
    watch: bool = False
    """A slow burn: persistent signals from several independent reporters on several days."""
    slow_reporters: int = 0
    """Distinct reporters in the last week (the slow window)."""
    slow_days: int = 0
    """Distinct calendar days with signals in the last week."""


class TensionMapView(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    cells: tuple[CellView, ...]


@dataclass(frozen=True)
class _Scored:
    score: float
    reporters: int
    roles: int
    values: tuple[tuple[Contribution, float], ...]


def _score(cell: Cell, at: datetime, config: TensionConfig) -> _Scored:
    values = tuple(
        (c, contribution_value(c, cell.theme, at, config))
        for c in cell.contributions
        if c.occurred_at <= at
    )
    best: dict[str, tuple[SourceRole, float]] = {}
    for c, v in values:
        if c.reporter not in best or v > best[c.reporter][1]:
            best[c.reporter] = (c.role, v)
    roles = {role for role, v in best.values() if v > config.active_role_min}
    total = sum(v for _, v in best.values())
    score = total * (1 + config.corroboration_bonus * max(len(roles) - 1, 0))
    return _Scored(score, len(best), len(roles), values)


@dataclass(frozen=True)
class SlowView:
    slow: float
    trend: Trend
    watch: bool
    reporters: int
    days: int


def _slow_sum(cell: SlowCell, at: datetime, config: TensionConfig) -> float:
    half_life = config.slow_half_life
    return sum(
        m.weight * math.pow(2.0, -((at - m.first_at) / half_life))
        for m in cell.marks.values()
        if m.first_at <= at
    )


def slow_view(
    state: TensionState,
    area: str,
    theme: str,
    at: datetime,
    config: TensionConfig = DEFAULT_TENSION_CONFIG,
) -> SlowView:
    """The slow scale of one cell at ``at`` (zeros where nothing was marked)."""
    cell = state.slow.get(cell_key(area, theme))
    if cell is None:
        return SlowView(0.0, Trend.STEADY, False, 0, 0)
    now = _slow_sum(cell, at, config)
    before = _slow_sum(cell, at - config.slow_trend_window, config)
    recent = [m for m in cell.marks.values() if at - config.slow_window < m.first_at <= at]
    reporters = len({m.reporter for m in recent})
    days = len({m.day for m in recent})
    watch = (
        round(now, 2) >= config.slow_watch_from
        and reporters >= config.slow_min_reporters
        and days >= config.slow_min_days
    )
    return SlowView(round(now, 2), trend_of(now, before, config), watch, reporters, days)


def band_of(score: float, config: TensionConfig = DEFAULT_TENSION_CONFIG) -> Band:
    if score >= config.critical_from:
        return Band.CRITICAL
    if score >= config.high_from:
        return Band.HIGH
    if score >= config.elevated_from:
        return Band.ELEVATED
    return Band.NORMAL


def trend_of(now: float, before: float, config: TensionConfig = DEFAULT_TENSION_CONFIG) -> Trend:
    delta = max(config.trend_min_delta, config.trend_relative_delta * before)
    if now > before + delta:
        return Trend.RISING
    if now < before - delta:
        return Trend.FALLING
    return Trend.STEADY


def cell_score(
    state: TensionState,
    area: str,
    theme: str,
    at: datetime,
    config: TensionConfig = DEFAULT_TENSION_CONFIG,
) -> float:
    """The unrounded score of one cell at ``at`` (0.0 for a cell without live signals)."""
    cell = state.cells.get(cell_key(area, theme))
    return 0.0 if cell is None else _score(cell, at, config).score


def cell_facts(
    state: TensionState,
    area: str,
    theme: str,
    at: datetime,
    config: TensionConfig = DEFAULT_TENSION_CONFIG,
) -> tuple[Band, int, int] | None:
    """Band, distinct reporters and roles of one cell at ``at``, as its :class:`CellView`
    would show them (``None`` where the map shows no cell), without the trend and the top
    signals: what the workflow judges on every signal."""
    cell = state.cells.get(cell_key(area, theme))
    if cell is None:
        return None
    if cell.latest is not None and at >= cell.latest:  # live: every signal has occurred
        strongest = cell.strongest(config)
        # In the order the slow path sums them (first seen), so the sums are the same floats.
        best = {r: (c.role, contribution_value(c, theme, at, config)) for r, c in strongest.items()}
        active = {role for role, v in best.values() if v > config.active_role_min}
        total = sum(v for _, v in best.values())
        raw = total * (1 + config.corroboration_bonus * max(len(active) - 1, 0))
        reporters, roles = len(best), len(active)
    else:  # a moment before some of its signals (a replay): judge from all of them
        now = _score(cell, at, config)
        raw, reporters, roles = now.score, now.reporters, now.roles
    score = round(raw, 2)
    if score < config.min_visible_score:
        return None
    return band_of(score, config), reporters, roles


def in_area(area: str, prefix: str) -> bool:
    """``GM0034`` matches ``GM0034`` and ``GM0034-haven``, but ``GM0034-haven`` does not match
    ``GM0034-havenkwartier``: prefixes match on whole area segments."""
    return area == prefix or area.startswith(prefix + "-")


def tension_view(
    state: TensionState,
    at: datetime,
    config: TensionConfig = DEFAULT_TENSION_CONFIG,
    *,
    area: str | None = None,
    theme: str | None = None,
) -> TensionMapView:
    """The tension map at ``at``, hottest cell first; ``area`` may be a municipality code."""
    # A cell shows while its fast score is visible or it is on watch (a slow burn whose
    # signals have long decayed on the fast scale).
    keys = dict.fromkeys([*state.cells, *state.slow])
    views = []
    for key in keys:
        cell = state.cells.get(key)
        where: Cell | SlowCell = cell if cell is not None else state.slow[key]
        if (area is not None and not in_area(where.area, area)) or (
            theme is not None and where.theme != theme
        ):
            continue
        view = _view(where.area, where.theme, cell, state, at, config)
        if view is not None:
            views.append(view)
    views.sort(key=lambda v: (-v.score, v.area, v.theme))
    return TensionMapView(at=at, cells=tuple(views))


def _view(
    area: str,
    theme: str,
    cell: Cell | None,
    state: TensionState,
    at: datetime,
    config: TensionConfig,
) -> CellView | None:
    now = _score(cell, at, config) if cell is not None else _Scored(0.0, 0, 0, ())
    score = round(now.score, 2)
    slow = slow_view(state, area, theme, at, config)
    if score < config.min_visible_score and not slow.watch:
        return None
    before = _score(cell, at - config.trend_window, config).score if cell is not None else 0.0
    return CellView(
        area=area,
        theme=theme,
        score=score,
        # The band follows the displayed score, so "4.0 normaal" can never appear.
        band=band_of(score, config),
        trend=trend_of(now.score, before, config),
        distinct_reporters=now.reporters,
        distinct_roles=now.roles,
        signals=_top_signals(now.values, config.top_signals),
        slow=slow.slow,
        slow_trend=slow.trend,
        watch=slow.watch,
        slow_reporters=slow.reporters,
        slow_days=slow.days,
    )


def _top_signals(
    values: Iterable[tuple[Contribution, float]], limit: int
) -> tuple[ContributingSignal, ...]:
    # The few highest of a busy cell, without sorting all of it.
    ranked = heapq.nsmallest(
        limit, values, key=lambda cv: (-cv[1], -cv[0].occurred_at.timestamp(), cv[0].signal_id)
    )
    return tuple(
        ContributingSignal(
            signal_id=c.signal_id,
            contribution=round(v, 3),
            role=c.role,
            evidence=c.evidence,
            level=c.level,
            occurred_at=c.occurred_at,
            communities=c.communities,
        )
        for c, v in ranked
    )
