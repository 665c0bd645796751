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
for times well before the watermark may miss pruned signals (use an as-of rebuild for those).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Self

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


class TensionState(BaseModel):
    watermark: AwareDatetime | None = None
    """Latest ``occurred_at`` applied: the fold's notion of 'now' for pruning."""
    next_expiry: AwareDatetime | None = None
    """Earliest ``expires_at`` held, so most events skip the prune scan entirely."""
    cells: dict[str, Cell] = Field(default_factory=dict)


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


class TensionMapProjection:
    """Folds ``SignalReceived`` into per-cell contributions; other event types are ignored."""

    name: str = "tension_map"
    version: int = 3  # 2: contributions keep the affected communities; 3: pulse answers
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
        for theme in themes:
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
    cells = (
        c
        for c in state.cells.values()
        if (area is None or in_area(c.area, area)) and (theme is None or c.theme == theme)
    )
    views = [v for v in (_view(c, at, config) for c in cells) if v is not None]
    views.sort(key=lambda v: (-v.score, v.area, v.theme))
    return TensionMapView(at=at, cells=tuple(views))


def _view(cell: Cell, at: datetime, config: TensionConfig) -> CellView | None:
    now = _score(cell, at, config)
    score = round(now.score, 2)
    if score < config.min_visible_score:
        return None
    before = _score(cell, at - config.trend_window, config).score
    return CellView(
        area=cell.area,
        theme=cell.theme,
        score=score,
        # The band follows the displayed score, so "4.0 normaal" can never appear.
        band=band_of(score, config),
        trend=trend_of(now.score, before, config),
        distinct_reporters=now.reporters,
        distinct_roles=now.roles,
        signals=_top_signals(now.values, config.top_signals),
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
