"""Builders for test events: realistic defaults, override what the test is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from events.envelope import AggregateRef, Envelope, new_envelope
from events.signals import Evidence, Reporter, SignalReceived, SourceRole

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def signal(
    signal_id: str = "s1",
    *,
    area: str = "GM0034-haven",
    network_id: str = "nw-haven",
    themes: tuple[str, ...] = ("demonstration",),
    communities: tuple[str, ...] = (),
    level: int = 3,
    evidence: Evidence = Evidence.OBSERVED,
    role: SourceRole = SourceRole.ALLY,
    reporter_id: str = "ally-1",
    major_incident: bool = False,
) -> SignalReceived:
    return SignalReceived(
        signal_id=signal_id,
        reporter=Reporter(role=role, id=reporter_id),
        network_id=network_id,
        area=area,
        themes=themes,
        communities=communities,
        level=level,
        evidence=evidence,
        summary="Groep jongeren op scooters onderweg naar de demonstratie",
        major_incident=major_incident,
    )


def signal_envelope(
    s: SignalReceived | None = None, *, minutes: float = 0, **kw: Any
) -> Envelope[SignalReceived]:
    s = s or signal(**kw)
    return new_envelope(
        s,
        aggregate=AggregateRef(kind=s.lane, area=s.area, id=s.signal_id),
        actor=f"{s.reporter.role.value}:{s.reporter.id}",
        source="/bondgenoten/test",
        recorded_at=at(minutes),
        occurred_at=at(minutes),
    )
