"""How the demo prints what it reads from the API: the tension map, a call list, a convening."""

from __future__ import annotations

from projections.call_lists import CallList
from projections.escalations import ConveningStatus
from projections.tension_map import Band, TensionMapView
from services.demo.api import Story, when
from services.texts_nl.alerts import NO_GAPS, gaps_nl, score_nl
from services.texts_nl.console import SENTENCES
from services.texts_nl.labels import (
    BAND_LABELS,
    DUTY_ROLE_LABELS,
    TREND_LABELS,
    call_reason_label,
    community_label,
    theme_label,
)


def print_tension_map(
    story: Story, view: TensionMapView, area: str, *, forecast: bool = False
) -> None:
    title = "tension_forecast_title" if forecast else "tension_map_title"
    story.say(title, area=area, at=when(view.at))
    shown = [c for c in view.cells if c.band is not Band.NORMAL]
    for cell in shown:
        story.say(
            "tension_cell",
            area=cell.area,
            theme=theme_label(cell.theme),
            band=BAND_LABELS[cell.band],
            trend=TREND_LABELS[cell.trend],
            score=score_nl(cell.score),
            reporters=cell.distinct_reporters,
            roles=cell.distinct_roles,
        )
    if not shown:
        story.say("tension_empty")


def print_call_list(story: Story, calls: CallList) -> None:
    story.say(
        "call_list_title",
        area=calls.area,
        themes=", ".join(theme_label(t) for t in calls.themes),
        communities=", ".join(community_label(c) for c in calls.communities),
    )
    for entry in calls.entries:
        reasons = "; ".join(call_reason_label(r) for r in entry.reasons)
        story.say(
            "call_entry", rank=entry.rank, name=entry.name, phone=entry.phone, reasons=reasons
        )
    if not calls.entries:
        story.say("call_list_empty")
    for duty in calls.duty_contacts:
        story.say(
            "duty_entry",
            role=DUTY_ROLE_LABELS[duty.role],
            function=duty.function,
            name=duty.name,
            phone=duty.phone,
        )
    for gap in calls.coverage_gaps:
        story.say("coverage_gap", community=community_label(gap))
    if not calls.coverage_gaps:
        story.say("no_gaps")


def print_convening(story: Story, status: ConveningStatus) -> None:
    story.say(
        "convening_status",
        place=status.place,
        starts_at=when(status.starts_at, "%H:%M"),
        invited=len(status.invited),
        attending=len(status.attending),
        quorum=status.quorum,
        missing=gaps_nl(status.missing_communities) or NO_GAPS,
        quorate=SENTENCES["quorate_yes" if status.quorate else "quorate_no"],
    )
