"""The Dutch text of what recipients receive: alerts to the crisis organisation (headline, body,
e-mail, console and CAP) and invitations and reminders to allies.

Codes (``high``, ``rising``, ``demonstration``, ``turkish``) stay English in events and
messages; only this package turns them into Dutch (labels in :mod:`services.texts_nl.labels`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.texts_nl import labels

# The headline says first what happened: a tension report only when the band crossed the
# threshold; a declaration or a major incident must not read like a calm tension report.
HEADLINES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "band_crossed": "Spanning {band_nl} in {area_name}: {themes_nl}",
        "declared": "Opgeschaald door politie/gemeente in {area_name}: {themes_nl}{reason_tail}",
        "major_incident": "Groot incident in {area_name}: {themes_nl}",
        "slow_burn": "Aanhoudende spanning in {area_name}: {themes_nl}",
    }
)
TRIGGER_NL: Final[Mapping[str, str]] = MappingProxyType(
    {
        "band_crossed": "spanningsdrempel overschreden",
        "declared": "opgeschaald door politie/gemeente",
        "major_incident": "groot incident gemeld",
        "slow_burn": "aanhoudende signalen van meerdere melders over meerdere dagen",
    }
)
REASON_TAIL: Final = " – {reason}"
REASON_LINE: Final = "Reden: {reason}\n"
HEADLINE_REASON_CHARS: Final = 80
BODY: Final = (
    "Escalatie {escalation_id}: {level_name} (ronde {round}).\n"
    "Aanleiding: {trigger_nl}.\n"
    "{reason_line}"
    "Spanningsniveau: {band_nl} (score {score}), trend {trend_nl}.\n"
    "Gebied: {area_name} ({area}).\n"
    "Thema's: {themes_nl}.\n"
    "Signalen: {signal_count} ({roles_nl}).\n"
    "GRIP-advies: {grip_nl}.\n"
    "Bellijst: {allies} bondgenoten te bellen, {unreachable} niet bereikbaar, "
    "{duty_contacts} dienstdoende contactpersonen.\n"
    "Dekkingsgaten: {gaps_nl}.\n"
    "Verzonden: {sent_nl}.\n"
    "\n"
    "Bevestig ontvangst via {ack_nl}."
)
NO_GRIP: Final = "geen GRIP (reguliere afhandeling)"
GRIP: Final = "GRIP {level}"
NO_GAPS: Final = "geen"
NO_ROLES: Final = "geen bron"
DEFAULT_ACK: Final = "het dashboard van de crisisorganisatie"
NONE_THEMES: Final = "geen thema"

CONSOLE: Final = (
    "[ALARM {alert_id}] {headline}\n"
    "  Aan: {level_name} (ronde {round}) | escalatie {escalation_id}\n"
    "  GRIP-advies: {grip_nl} | trend {trend_nl} | signalen {signal_count} | "
    "dekkingsgaten: {gaps_nl}\n"
)

INVITATION: Final = "Uitnodiging: {mode_nl} over {theme_nl} in {area_name}"
REMINDER: Final = "Herinnering: reageer op de uitnodiging over {theme_nl} in {area_name}"
INVITATION_BODY: Final = (
    "Het netwerk wordt bijeengeroepen: {mode_nl}{place_nl}, {starts_nl}.\n"
    "Onderwerp: {theme_nl} in {area_name}.\n"
    "Kunt u erbij zijn? Laat het vóór {deadline_nl} weten (ik kom / ik kom niet / later)"
    " via {rsvp_nl}."
)
INVITATION_CONSOLE: Final = "[{label} aan {ally_id}] {headline}{tail}\n"
INVITATION_LABEL: Final = {
    "invitation": "UITNODIGING",
    "reminder": "HERINNERING",
    "cancellation": "AFGELAST",
}
CANCELLATION: Final = "Gaat niet door: {mode_nl} van {starts_nl} over {theme_nl} in {area_name}"
INVITATION_HEADLINES: Final = {
    "invitation": INVITATION,
    "reminder": REMINDER,
    "cancellation": CANCELLATION,
}
CANCELLATION_BODY: Final = (
    "Deze afspraak gaat niet door: {mode_nl}{place_nl}, {starts_nl}, over {theme_nl} in"
    " {area_name}.\n"
    "Als er een nieuwe afspraak is, krijgt u daarvoor een aparte uitnodiging."
)
INVITATION_TAIL: Final = " | reageren vóór {deadline_nl} via {rsvp_nl}"
DEFAULT_RSVP: Final = "uw contactpersoon bij de gemeente"

CAP_EVENT: Final = "Maatschappelijke spanning"
CAP_RESTRICTION: Final = (
    "Alleen voor de crisisorganisatie; bevat gevoelige informatie over gemeenschappen"
)
CAP_INSTRUCTION: Final = "GRIP-advies: {grip_nl}. Bevestig ontvangst via {ack_nl}."
CAP_SENDER_NAME: Final = "Bondgenotenaanpak"

_TIMEZONE_NAME: Final = "Europe/Amsterdam"
TIME_ZONE_LABEL: Final = "Nederlandse tijd"


def theme_nl(theme: str) -> str:
    return labels.theme_label(theme)


def community_nl(community: str) -> str:
    return labels.community_label(community)


def band_nl(band: str) -> str:
    return labels.band_label(band)


def trend_nl(trend: str) -> str:
    return labels.trend_label(trend)


def mode_nl(mode: str) -> str:
    return labels.MODE_LABELS.get(mode, mode)


def join_nl(items: Iterable[str], empty: str) -> str:
    """``a``, ``a en b``, ``a, b en c``."""
    values = list(items)
    if not values:
        return empty
    if len(values) == 1:
        return values[0]
    return ", ".join(values[:-1]) + " en " + values[-1]


def themes_nl(themes: Iterable[str]) -> str:
    return join_nl((theme_nl(t) for t in themes), NONE_THEMES)


def gaps_nl(communities: Iterable[str]) -> str:
    return join_nl((community_nl(c) for c in communities), NO_GAPS)


def roles_nl(roles: Iterable[str]) -> str:
    return join_nl((labels.role_label(r) for r in roles), NO_ROLES)


def grip_nl(level: int | None) -> str:
    return NO_GRIP if not level else GRIP.format(level=level)


def score_nl(score: float) -> str:
    """Dutch decimal comma: ``3,4``."""
    return f"{score:.1f}".replace(".", ",")


@cache
def _local_zone() -> ZoneInfo | None:
    try:
        return ZoneInfo(_TIMEZONE_NAME)
    except ZoneInfoNotFoundError:  # no tz database on this host: show UTC
        return None


def datetime_nl(value: datetime, fmt: str = "%d-%m-%Y %H:%M") -> str:
    """``14-03-2025 21:05`` in Dutch local time (or ``... UTC`` without a tz database)."""
    zone = _local_zone()
    if zone is None:
        return value.strftime(f"{fmt} UTC")
    return value.astimezone(zone).strftime(fmt)


def when_nl(value: datetime, fmt: str = "%d-%m-%Y %H:%M") -> str:
    """A time shown to people, with its zone named: ``14-03-2025 21:05 (Nederlandse tijd)``
    (``14-03-2025 20:05 UTC`` without a tz database)."""
    if _local_zone() is None:
        return datetime_nl(value, fmt)
    return f"{datetime_nl(value, fmt)} ({TIME_ZONE_LABEL})"


def ack_nl(ack_url: str | None) -> str:
    return ack_url or DEFAULT_ACK


def trigger_nl(trigger: str) -> str:
    return TRIGGER_NL.get(trigger, trigger)


def stated_reason(trigger: str, reason: str) -> str:
    """The reason to show: what police or municipality wrote when they declared, on one line
    (it goes into an e-mail subject and a CAP headline) without control characters. Other
    openings carry the workflow's own summary of numbers the alert already shows in Dutch
    (band, signals, roles): not repeated."""
    if trigger != "declared":
        return ""
    printable = "".join(" " if unicodedata.category(c) == "Cc" else c for c in reason)
    return " ".join(printable.split())


def shortened(text: str, limit: int = HEADLINE_REASON_CHARS) -> str:
    """``text`` cut at a word to at most ``limit`` characters, with an ellipsis if cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"


def reason_fields(trigger: str, reason: str) -> dict[str, str]:
    """The template fields for the reason: ``reason_tail`` (headline) and ``reason_line``
    (body), both empty when there is no stated reason."""
    stated = stated_reason(trigger, reason)
    if not stated:
        return {"reason_tail": "", "reason_line": ""}
    return {
        "reason_tail": REASON_TAIL.format(reason=shortened(stated)),
        "reason_line": REASON_LINE.format(reason=stated),
    }
