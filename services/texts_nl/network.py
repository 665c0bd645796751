"""Dutch text about keeping networks alive: the reason of each health flag and the weekly
digest to the network coordinators.

Flag codes and their parameters come from :mod:`projections.network_health`; times are shown
in Dutch local time with the zone named (:func:`services.texts_nl.alerts.when_nl`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from projections import network_health as nh
from services.texts_nl.alerts import score_nl, when_nl
from services.texts_nl.labels import community_label, theme_label, trend_label

SEAT_NL: Final[Mapping[str, str]] = MappingProxyType(
    {"police": "politie", "municipality": "gemeente"}
)

REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        nh.OVER_CAP: "Het netwerk heeft {members} bondgenoten, meer dan het maximum van {cap}.",
        nh.UNDERSTAFFED: "Het netwerk heeft maar {members} van maximaal {cap} bondgenoten:"
        " werf nieuwe bondgenoten.",
        nh.MEETINGS_BELOW_TARGET: "In de afgelopen 12 maanden {held_nl} bijeenkomst(en) gehouden;"
        " verwacht waren er {expected} (doel: {target} per jaar).",
        nh.NO_NEXT_MEETING: "Er is geen volgende bijeenkomst gepland: plan die direct na elke"
        " bijeenkomst.",
        nh.EVALUATION_OVERDUE: "{evaluation_nl} Evalueer elk half jaar of de juiste mensen aan"
        " tafel zitten.",
        nh.SEAT_VACANT: "De zetel van de {seat_nl} is vacant{since_nl}: stel een opvolger voor aan"
        " het netwerk.",
        nh.HANDOVER_PENDING: "De vertegenwoordiger van de {seat_nl} vertrekt op {leaves_nl}:"
        " de opvolger is nog niet voorgesteld.",
        nh.COMMUNITIES_MISSING: "Niet vertegenwoordigd in het netwerk: {communities_nl}.",
        nh.ALLIES_NOT_REACHED: "{count} bondgenoot/bondgenoten al meer dan {days} dagen niet"
        " gesproken.",
    }
)
EVALUATION_NEVER: Final = "Nog nooit geëvalueerd, het netwerk bestaat al {days} dagen."
EVALUATION_LAST: Final = "De laatste evaluatie is {days} dagen geleden."
NO_HELD: Final = "geen"
SINCE: Final = " sinds {days} dagen"
NEVER_FILLED: Final = " (nooit ingevuld)"

DIGEST_HEADLINE: Final = (
    "Netwerkonderhoud {name}: {count} aandachtspunt(en) (week {week}){watch_headline}"
)
DIGEST_HEADLINE_OK: Final = (
    "Netwerkonderhoud {name}: geen aandachtspunten (week {week}){watch_headline}"
)
DIGEST_BODY: Final = (
    "Weekoverzicht van het bondgenotennetwerk {name} ({area}), opgemaakt op {at_nl}.\n"
    "Bondgenoten: {members} van maximaal {cap}.\n"
    "Bijeenkomsten in de afgelopen 12 maanden: {meetings} (doel: {target} per jaar).\n"
    "Volgende bijeenkomst: {next_nl}.\n"
    "\n"
    "{flags_nl}"
    "{watch_nl}"
)
DIGEST_FLAG_LINE: Final = "- {reason}"
DIGEST_NO_FLAGS: Final = "Geen aandachtspunten: het netwerk is gezond."
DIGEST_NO_NEXT: Final = "niet gepland"
DIGEST_CONSOLE: Final = "[netwerkoverzicht {alert_id}] {headline}\n{body}"

# Slow burns (tension-map cells on watch) in the network's areas when the digest is made up.
# Without any, the digest says nothing about them: it stays about the network's upkeep.
DIGEST_WATCH_HEADLINE: Final = " — {count}× waakzaam (aanhoudende spanning)"
DIGEST_WATCH_HEADER: Final = (
    "\n\nWaakzaam: aanhoudende spanning in het werkgebied van het netwerk (signalen van"
    " meerdere melders op meerdere dagen, trage schaal):"
)
DIGEST_WATCH_LINE: Final = (
    "\n- {theme_nl} in {area}: trage score {slow_nl}, {trend_nl}"
    " ({reporters} melders op {days} dagen in de afgelopen week)."
)


def flag_reason(code: str, params: Mapping[str, Any]) -> str:
    """The Dutch reason of a health flag (the code itself for an unknown one)."""
    template = REASONS.get(code)
    if template is None:
        return code
    fields = dict(params)
    if code == nh.MEETINGS_BELOW_TARGET:
        fields["held_nl"] = params.get("held") or NO_HELD
    elif code == nh.EVALUATION_OVERDUE:
        never = params.get("never")
        fields["evaluation_nl"] = (EVALUATION_NEVER if never else EVALUATION_LAST).format(
            days=params.get("days")
        )
    elif code in (nh.SEAT_VACANT, nh.HANDOVER_PENDING):
        fields["seat_nl"] = SEAT_NL.get(str(params.get("role")), str(params.get("role")))
        days = params.get("days")
        fields["since_nl"] = NEVER_FILLED if days is None else SINCE.format(days=days)
        leaves = params.get("leaves_on")
        if isinstance(leaves, str):
            fields["leaves_nl"] = when_nl(datetime.fromisoformat(leaves), "%d-%m-%Y")
    elif code == nh.COMMUNITIES_MISSING:
        fields["communities_nl"] = _communities(params.get("communities") or ())
    return template.format(**fields)


def _communities(codes: Iterable[str]) -> str:
    return ", ".join(community_label(c) for c in codes)


def watch_line(*, area: str, theme: str, slow: float, trend: str, reporters: int, days: int) -> str:
    """One slow burn in the digest: theme in Dutch, area code, slow score and its trend."""
    return DIGEST_WATCH_LINE.format(
        theme_nl=theme_label(theme),
        area=area,
        slow_nl=score_nl(slow),
        trend_nl=trend_label(trend),
        reporters=reporters,
        days=days,
    )


def digest_fields(
    *,
    name: str,
    area: str,
    at: datetime,
    members: int,
    cap: int,
    meetings: int,
    target: int,
    next_meeting: datetime | None,
    reasons: Iterable[str],
    watch: Sequence[str] = (),
) -> dict[str, Any]:
    """``watch``: the slow burns' lines (:func:`watch_line`); none adds nothing."""
    lines = [DIGEST_FLAG_LINE.format(reason=r) for r in reasons]
    return {
        "name": name,
        "area": area,
        "at_nl": when_nl(at),
        "members": members,
        "cap": cap,
        "meetings": meetings,
        "target": target,
        "next_nl": when_nl(next_meeting) if next_meeting else DIGEST_NO_NEXT,
        "flags_nl": "\n".join(lines) if lines else DIGEST_NO_FLAGS,
        "count": len(lines),
        "watch_nl": DIGEST_WATCH_HEADER + "".join(watch) if watch else "",
        "watch_headline": DIGEST_WATCH_HEADLINE.format(count=len(watch)) if watch else "",
    }
