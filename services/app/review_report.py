"""The review as a report people read: self-contained HTML (inline SVG timeline and tension
curve, no external asset) and Markdown, in Dutch; the CSV of the multi-incident view. The
same review gives the same report, apart from the generation time it names."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from projections.incident import IncidentReview, Moment
from projections.tension_map import DEFAULT_TENSION_CONFIG, Band
from services.app.review import IncidentSummary
from services.texts_nl import review as texts
from services.texts_nl.alerts import band_nl, datetime_nl, theme_nl
from services.texts_nl.labels import CALL_OUTCOME_LABELS

# Escaped in both: free text (a reason) must not become markup, and Markdown viewers render
# HTML entities as the characters they stand for.
_TEMPLATES = Environment(
    loader=FileSystemLoader(texts.TEMPLATES), autoescape=True, undefined=StrictUndefined
)
WIDTH, LEFT, RIGHT = 900, 20, 880
BAND_FILLS = {
    Band.NORMAL: "#eef5ee",
    Band.ELEVATED: "#fbf3d9",
    Band.HIGH: "#fbe3cf",
    Band.CRITICAL: "#f6d0d0",
}


def render_html(review: IncidentReview, generated_at: datetime) -> str:
    template = _TEMPLATES.get_template("review.html.j2")
    html: str = template.render(
        **_context(review, generated_at), chart=_chart(review), curve=_curve(review)
    )
    return html


def render_markdown(review: IncidentReview, generated_at: datetime) -> str:
    template = _TEMPLATES.get_template("review.md.j2")
    markdown: str = template.render(**_context(review, generated_at))
    return markdown.rstrip() + "\n"


def summaries_csv(rows: list[IncidentSummary]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(texts.CSV_HEADER)
    for r in rows:
        writer.writerow(
            [
                r.escalation_id,
                r.area,
                r.theme,
                r.trigger,
                r.opened_at.isoformat(),
                r.closed_at.isoformat() if r.closed_at else "",
                _number(r.seconds_to_alert),
                _number(r.seconds_to_acknowledgement),
                _number(r.seconds_to_quorum),
                r.signals,
                r.late_signals,
            ]
        )
    return out.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _when(value: datetime | None) -> str:
    return datetime_nl(value, "%d-%m-%Y %H:%M:%S") if value is not None else "–"


def _after(at: datetime | None, seconds: float | None) -> str:
    """When, and how long after the question was raised (its age then)."""
    if at is None:
        return texts.NOT_YET
    return texts.AFTER.format(when=_when(at), duration=texts.duration_nl(seconds))


def _context(review: IncidentReview, generated_at: datetime) -> dict[str, Any]:
    previous: Moment | None = None
    moments = []
    for m in review.moments:
        since = (m.occurred_at - previous.occurred_at).total_seconds() if previous else None
        moments.append(
            {
                "label": texts.moment_label(m.key, m.level),
                "occurred": _when(m.occurred_at),
                "recorded": _when(m.recorded_at),
                "late": m.recorded_later,
                "since": texts.duration_nl(since) if previous else "–",
            }
        )
        previous = m
    return {
        "title": texts.TITLE.format(escalation_id=review.escalation_id),
        "area": review.area,
        "theme": theme_nl(review.theme),
        "trigger": texts.TRIGGER_LABELS.get(review.trigger, review.trigger),
        "reason": review.reason,
        "times_in": texts.TIMES_IN,
        "generated": _when(generated_at),
        "moments": moments,
        "signals": [
            {
                "signal_id": s.signal_id,
                "reporter": s.reporter,
                "level": s.level,
                "major": s.major_incident,
                "occurred": _when(s.occurred_at),
                "recorded": _when(s.recorded_at),
                "late": s.recorded_later,
                "joined": s.joined,
            }
            for s in review.signals
        ],
        "deliveries": [
            {
                "level": d.level,
                "round": d.round,
                "recipient": d.recipient,
                "channel": d.channel or "–",
                "delivered": _when(d.delivered_at),
                "failures": d.failures,
            }
            for d in review.deliveries
        ],
        "calls": [
            {
                "ally": c.ally,
                "outcome": CALL_OUTCOME_LABELS.get(c.outcome, c.outcome),  # type: ignore[call-overload]
                "when": _when(c.at),
                "caller": c.caller,
            }
            for c in review.calls
        ],
        "questions": [
            {
                "question_id": q.question_id,
                "ally": q.ally,
                "routed_to": texts.ROUTED_TO.get(q.routed_to, q.routed_to),
                "raised": _when(q.raised_at),
                "answered": _after(q.answered_at, q.seconds_to_answer),
                "relayed": _after(q.relayed_at, q.seconds_to_relay),
                "escalated": (
                    texts.QUESTION_ESCALATED.format(
                        when=_when(q.escalated_at), level=q.escalated_level
                    )
                    if q.escalated_at
                    else "–"
                ),
            }
            for q in review.questions
        ],
        "convenings": [
            {
                "convening_id": c.convening_id,
                "superseded_by": c.superseded_by,
                "called": _when(c.called_at),
                "invited": c.invited,
                "answered": c.answered,
                "attending": c.attending,
                "covered": ", ".join(c.covered_communities) or "–",
                "missing": ", ".join(c.missing_communities) or "–",
                "quorate": _when(c.quorate_at),
                "convened": _when(c.convened_at),
            }
            for c in review.convenings
        ],
        "corrections": [
            {
                "label": texts.CORRECTION_LABELS.get(c.kind, c.kind),
                "ref": c.ref,
                "occurred": _when(c.occurred_at),
                "recorded": _when(c.recorded_at),
            }
            for c in review.corrections
        ],
    }


def _span(review: IncidentReview) -> tuple[datetime, datetime]:
    times = [m.occurred_at for m in review.moments] + [m.recorded_at for m in review.moments]
    times += [s.occurred_at for s in review.signals if s.joined]
    start, end = min(times), max(times)
    if end - start < timedelta(minutes=10):
        end = start + timedelta(minutes=10)
    return start, end


def _x(at: datetime, start: datetime, end: datetime) -> float:
    return round(LEFT + (RIGHT - LEFT) * (at - start) / (end - start), 1)


def _ticks(start: datetime, end: datetime, n: int = 6) -> list[dict[str, Any]]:
    return [
        {"x": _x(at, start, end), "label": datetime_nl(at, "%H:%M")}
        for at in (start + (end - start) * i / n for i in range(n + 1))
    ]


def _chart(review: IncidentReview) -> dict[str, Any]:
    if not review.moments:
        return {"width": WIDTH, "height": 40, "left": LEFT, "right": RIGHT, "axis_y": 20,
                "ticks": [], "moments": [], "signals": []}  # fmt: skip
    start, end = _span(review)
    row = 18
    axis_y = 30 + row * len(review.moments)
    moments = []
    for i, m in enumerate(review.moments):
        moments.append(
            {
                "x": _x(m.occurred_at, start, end),
                "y": 20 + row * i,
                "label": texts.moment_label(m.key, m.level),
                "when": _when(m.occurred_at),
                "learned_x": _x(m.recorded_at, start, end) if m.recorded_later else None,
                "learned": _when(m.recorded_at),
            }
        )
    signals = [
        {"x": _x(s.occurred_at, start, end), "late": s.recorded_later, "when": _when(s.occurred_at)}
        for s in review.signals
        if s.joined
    ]
    return {
        "width": WIDTH,
        "height": axis_y + 30,
        "left": LEFT,
        "right": RIGHT,
        "axis_y": axis_y,
        "ticks": _ticks(start, end),
        "moments": moments,
        "signals": signals,
    }


def _curve(review: IncidentReview) -> dict[str, Any]:
    height, top, bottom = 180, 10, 150
    points = review.tension
    config = DEFAULT_TENSION_CONFIG
    thresholds = [0.0, config.elevated_from, config.high_from, config.critical_from]
    ceiling = max([p.score for p in points] + [config.critical_from * 1.25])

    def y(score: float) -> float:
        return round(bottom - (bottom - top) * min(score, ceiling) / ceiling, 1)

    bands = []
    for band, low, high in zip(list(Band), thresholds, [*thresholds[1:], ceiling], strict=True):
        bands.append(
            {"y": y(high), "h": round(y(low) - y(high), 1), "fill": BAND_FILLS[band],
             "label": band_nl(band)}
        )  # fmt: skip
    if not points:
        return {"width": WIDTH, "height": height, "left": LEFT, "right": RIGHT, "bands": bands,
                "points": "", "ticks": []}  # fmt: skip
    start, end = points[0].at, points[-1].at
    line = " ".join(f"{_x(p.at, start, end)},{y(p.score)}" for p in points)
    return {
        "width": WIDTH,
        "height": height,
        "left": LEFT,
        "right": RIGHT,
        "bands": bands,
        "points": line,
        "ticks": _ticks(start, end),
    }
