"""Dutch labels for the codes in events and read models: bands, trends, roles, call outcomes,
availability, themes and communities. Code and events use the English codes; only the UI speaks
Dutch. The mappings are read-only so no caller can change a label for everyone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from events.network import Availability, CallOutcome, DutyRole
from projections.call_lists import UnreachableReason
from projections.tension_map import Band, Trend

BAND_LABELS: Final[Mapping[Band, str]] = MappingProxyType(
    {
        Band.NORMAL: "normaal",
        Band.ELEVATED: "verhoogd",
        Band.HIGH: "hoog",
        Band.CRITICAL: "kritiek",
    }
)

TREND_LABELS: Final[Mapping[Trend, str]] = MappingProxyType(
    {Trend.RISING: "stijgend", Trend.STEADY: "stabiel", Trend.FALLING: "dalend"}
)

CALL_OUTCOME_LABELS: Final[Mapping[CallOutcome, str]] = MappingProxyType(
    {
        CallOutcome.REACHED: "bereikt",
        CallOutcome.NO_ANSWER: "geen gehoor",
        CallOutcome.CALL_BACK_LATER: "later terugbellen",
    }
)

AVAILABILITY_LABELS: Final[Mapping[Availability, str]] = MappingProxyType(
    {
        Availability.ALWAYS: "altijd bereikbaar",
        Availability.OFFICE_HOURS: "kantooruren",
        Availability.EVENINGS: "avonden en weekend",
        Availability.UNAVAILABLE: "tijdelijk niet beschikbaar",
    }
)

MODE_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "in_person": "bijeenkomst ter plaatse",
        "call": "belafspraak",
        "app_group": "overleg in de appgroep",
    }
)
"""How a convening meets."""

ROLE_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {"ally": "bondgenoten", "police": "politie", "municipality": "gemeente"}
)
"""Source roles of signals, plural as in "signalen van bondgenoten en politie"."""

DUTY_ROLE_LABELS: Final[Mapping[DutyRole, str]] = MappingProxyType(
    {DutyRole.POLICE: "politie", DutyRole.MUNICIPALITY: "gemeente"}
)

UNREACHABLE_REASON_LABELS: Final[Mapping[UnreachableReason, str]] = MappingProxyType(
    {
        UnreachableReason.NO_CONSENT: "geen toestemming om gebeld te worden",
        UnreachableReason.UNAVAILABLE: "tijdelijk niet beschikbaar",
    }
)

THEME_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "youth_nuisance": "jeugdoverlast",
        "discrimination": "discriminatie",
        "polarisation": "polarisatie",
        "radicalisation": "radicalisering",
        "demonstration": "demonstratie",
        "asylum_reception": "asielopvang (azc)",
        "attack": "aanslag",
        "violent_incident": "geweldsincident",
        "accident": "ongeval",
        "public_order": "openbare orde",
        "undermining": "ondermijning",
        "lgbti": "lhbti-acceptatie",
        "unrest": "maatschappelijke onrust",
    }
)

COMMUNITY_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "turkish": "Turkse gemeenschap",
        "moroccan": "Marokkaanse gemeenschap",
        "surinamese": "Surinaamse gemeenschap",
        "muslim": "moslimgemeenschap",
        "christian": "christelijke gemeenschap",
        "jewish": "joodse gemeenschap",
        "lgbti": "lhbti-gemeenschap",
        "youth": "jongeren",
        "sports": "sportverenigingen",
        "residents": "bewoners",
        "entrepreneurs": "ondernemers",
        "schools": "scholen",
    }
)


def theme_label(theme: str) -> str:
    # The vocabulary is open: an unknown code is shown as is rather than hidden.
    return THEME_LABELS.get(theme, theme)


def community_label(community: str) -> str:
    return COMMUNITY_LABELS.get(community, community)


def band_label(band: str) -> str:
    try:
        return BAND_LABELS[Band(band)]
    except ValueError:
        return band


def trend_label(trend: str) -> str:
    try:
        return TREND_LABELS[Trend(trend)]
    except ValueError:
        return trend


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


def call_reason_label(code: str) -> str:
    """Explain a call-list reason code (``covers:turkish``, ``theme:demonstration``, ...)."""
    kind, _, value = code.partition(":")
    if kind == "covers":
        return f"vertegenwoordigt {community_label(value)}"
    if kind == "theme":
        return f"kent thema {theme_label(value)}"
    if kind == "recent" and value in CallOutcome.__members__.values():
        return f"recent gebeld: {CALL_OUTCOME_LABELS[CallOutcome(value)]}"
    return _PLAIN_REASONS.get(code, code)


_PLAIN_REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "area": "actief in dit gebied",
        "municipality": "actief in dezelfde gemeente",
        "always_available": "altijd bereikbaar",
        "not_called_yet": "nog niet gebeld",
    }
)
