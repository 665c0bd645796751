"""Build the situation picture (situatiebeeld) an alert carries, from the live read models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.policy import suggest_grip
from events.escalation import CallListSummary, ContributingSignal, SituationPicture
from events.network import DutyRole
from projections.tension_map import CellView, tension_view
from services.app.readmodels import ReadModels


def area_name(read: ReadModels, area: str) -> str:
    for network in read.networks.networks.values():
        if network.area == area or area in network.areas:
            return network.name
    return area


def cell_now(read: ReadModels, area: str, theme: str, at: datetime) -> CellView | None:
    view = tension_view(
        read.tension.state, at, read.tension_projection.config, area=area, theme=theme
    )
    return next((c for c in view.cells if c.area == area and c.theme == theme), None)


def situation(
    read: ReadModels,
    area: str,
    theme: str,
    communities: Sequence[str],
    at: datetime,
    *,
    major_incident: bool = False,
) -> SituationPicture:
    cell = cell_now(read, area, theme, at)
    # The incident's affected communities: the ones given and those its signals name.
    named = [c for s in (cell.signals if cell else ()) for c in s.communities]
    communities = tuple(dict.fromkeys([*communities, *named]))
    calls = read.call_list(area, [theme], communities)
    duty: dict[DutyRole, int] = {}
    for contact in calls.duty_contacts:
        duty[contact.role] = duty.get(contact.role, 0) + 1
    band = cell.band.value if cell else "normal"
    return SituationPicture(
        area=area,
        area_name=area_name(read, area),
        themes=(theme,),
        band=band,
        trend=(cell.trend.value if cell else "steady"),
        score=cell.score if cell else 0.0,
        as_of=at,
        contributing=tuple(
            ContributingSignal(
                signal_id=s.signal_id, role=s.role, evidence=s.evidence, level=s.level
            )
            for s in (cell.signals if cell else ())
        ),
        call_list_summary=CallListSummary(callable_allies=len(calls.entries), duty_contacts=duty),
        coverage_gaps=tuple(calls.coverage_gaps),
        communities=tuple(dict.fromkeys(communities)),
        suggested_grip=suggest_grip(band, [theme], major_incident),  # type: ignore[arg-type]
    )
