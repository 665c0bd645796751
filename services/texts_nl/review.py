"""Dutch texts of the after-action review (evaluatierapport): the moment labels here, the HTML and
Markdown templates next to this module (``templates/review.*.j2``, Jinja2). The HTML report is
self-contained: inline CSS and SVG, no external asset, readable on screen and printed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

MOMENT_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "first_signal": "eerste melding",
        "band_crossed": "drempel overschreden",
        "opened": "escalatie geopend",
        "alerted": "gealarmeerd",
        "acknowledged": "bevestigd",
        "convening_called": "bijeenkomst belegd",
        "quorate": "quorum bereikt",
        "convened": "bijeengekomen",
        "de_escalated": "afgeschaald",
        "resolved": "opgelost",
        "closed": "gesloten",
    }
)
TRIGGER_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "band_crossed": "spanning boven de drempel",
        "declared": "opgeschaald door politie of gemeente",
        "major_incident": "groot incident",
        "slow_burn": "langzaam oplopende spanning",
    }
)
CORRECTION_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "signal_recorded_later": "melding later ingevoerd",
        "convening_moved": "bijeenkomst verplaatst",
    }
)
ROUTED_TO: Final[Mapping[str, str]] = MappingProxyType(
    {"police": "politie", "municipality": "gemeente"}
)
NOT_YET: Final = "nog niet"
AFTER: Final = "{when} (na {duration})"
QUESTION_ESCALATED: Final = "{when} (niveau {level})"
TITLE: Final = "Evaluatie {escalation_id}"
TIMES_IN: Final = "Tijden in Nederlandse tijd (Europe/Amsterdam)."
CSV_HEADER: Final = (
    "escalatie",
    "gebied",
    "thema",
    "aanleiding",
    "geopend",
    "gesloten",
    "tot alarmering (s)",
    "tot bevestiging (s)",
    "tot quorum (s)",
    "meldingen",
    "later ingevoerd",
)


def moment_label(key: str, level: int | None) -> str:
    label = MOMENT_LABELS.get(key, key)
    return f"{label} (niveau {level})" if level is not None else label


def duration_nl(seconds: float | None) -> str:
    """``1 u 05 min``, ``8 min 00 s``, ``45 s``; ``–`` when unknown."""
    if seconds is None:
        return "–"
    total = round(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} u {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


TEMPLATES: Final = Path(__file__).parent / "templates"
