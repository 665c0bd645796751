"""The crisis dashboard's Dutch: every word the browser shows comes from :func:`dashboard_texts`
(rendered into the page as JSON), so the page's script carries no text of its own."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from services.texts_nl.console import (
    REPORTER_LABELS,
    RSVP_LABELS,
    STATUS_LABELS,
    TIMELINE_LABELS,
    TRIGGER_LABELS,
)
from services.texts_nl.labels import (
    AVAILABILITY_LABELS,
    BAND_LABELS,
    CALL_OUTCOME_LABELS,
    COMMUNITY_LABELS,
    MODE_LABELS,
    THEME_LABELS,
    TREND_LABELS,
    UNREACHABLE_REASON_LABELS,
)

TITLE: Final = "Bondgenoten: situatiebeeld"

UI: Final[Mapping[str, str]] = MappingProxyType(
    {
        "title": TITLE,
        "skip": "Naar de inhoud",
        "login_title": "Inloggen",
        "login_intro": "Log in om het situatiebeeld te zien. Wat u ziet en mag doen hangt af "
        "van uw rol.",
        "login_demo": "Demo: kies een rol",
        "login_demo_note": "Alleen in de demo- of testomgeving: de ingebouwde uitgever geeft u "
        "een token voor deze rol.",
        "login_token": "Token plakken",
        "login_token_help": "Een toegangstoken van uw identiteitsprovider (OIDC) of van "
        "'bondgenoten token --role … --id …'.",
        "login_token_label": "Toegangstoken",
        "login_submit": "Inloggen",
        "login_failed": "Inloggen mislukt: {reason}",
        "logout": "Uitloggen",
        "signed_in_as": "Ingelogd als {role}: {id}",
        "live": "live",
        "offline": "verbinding verbroken, opnieuw verbinden…",
        "connecting": "verbinden…",
        "as_of": "stand van {time}",
        "tz": "(Nederlandse tijd)",
        "print": "Afdrukken",
        "map_title": "Spanningskaart",
        "map_theme": "Thema",
        "map_all_themes": "alle thema's",
        "map_legend": "Legenda",
        "map_note": "De wijkgrenzen in de demo zijn bij benadering getekend.",
        "map_no_area": "geen signalen",
        "map_area_summary": "{name}: {band}, {trend} (score {score})",
        "map_table": "Gebieden met spanning",
        "map_time": "Tijdstip op de kaart",
        "map_time_live": "nu (live)",
        "map_time_past": "situatie op {time}, met alles wat nu bekend is",
        "map_watch": "waakzaam: aanhoudende spanning (meerdere melders, meerdere dagen)",
        "watch": "waakzaam",
        "area": "gebied",
        "theme": "thema",
        "band": "niveau",
        "trend": "trend",
        "score": "score",
        "reporters": "melders",
        "escalations_title": "Open escalaties",
        "escalations_none": "Geen open escalaties.",
        "status": "status",
        "level": "alarmniveau",
        "level_value": "niveau {level}, ronde {round}",
        "not_alerted": "nog niet gealarmeerd",
        "alerted": "gealarmeerd",
        "alerted_at": "{level} (ronde {round}) om {time}",
        "ack": "bevestiging",
        "ack_due": "bevestigen binnen",
        "signal_level": "niveau",
        "ack_overdue": "termijn verstreken",
        "ack_by": "bevestigd door {actor} om {time}",
        "exhausted": "alle niveaus gealarmeerd",
        "opened": "geopend",
        "trigger": "aanleiding",
        "reason": "reden",
        "grip": "GRIP-advies",
        "grip_value": "GRIP {grip}",
        "grip_none": "geen GRIP",
        "signals": "bijdragende signalen",
        "communities": "gemeenschappen",
        "none": "geen",
        "timeline": "tijdlijn",
        "actions": "acties",
        "act_acknowledge": "Bevestigen",
        "act_de_escalate": "Afschalen",
        "act_resolve": "Opgelost",
        "act_close": "Afsluiten",
        "act_call_convening": "Netwerk bijeenroepen",
        "act_call_list": "Bellijst",
        "act_done": "Gedaan: {action}.",
        "act_failed": "Niet gelukt: {reason}",
        "confirm_close": "Escalatie afsluiten? Een geplande bijeenkomst wordt afgezegd.",
        "call_list_title": "Bellijst",
        "call_list_for": "Bellijst voor {area}, {theme}",
        "call_list_none": "Kies bij een escalatie 'Bellijst'.",
        "call_list_empty": "Niemand op de lijst.",
        "name": "naam",
        "phone": "telefoon",
        "availability": "bereikbaarheid",
        "last_call": "laatste gesprek",
        "outcome": "uitkomst",
        "pseudonym_note": "Uw rol ziet geen contactgegevens: bondgenoten staan onder een "
        "pseudoniem.",
        "coverage_gaps": "Niet vertegenwoordigd",
        "coverage_ok": "Alle betrokken gemeenschappen zijn vertegenwoordigd.",
        "duty_contacts": "Dienstdoende contactpersonen",
        "unreachable": "Niet te bellen",
        "convening_title": "Bijeenkomsten",
        "convening_none": "Geen bijeenkomst bijeengeroepen.",
        "invited": "uitgenodigd",
        "answered": "gereageerd",
        "attending": "komt",
        "not_answered": "nog geen reactie",
        "missing_communities": "ontbrekende gemeenschappen",
        "quorum": "quorum",
        "quorum_value": "{attending} van {quorum}",
        "quorate": "voltallig",
        "not_quorate": "nog niet voltallig",
        "convened": "bijeengekomen om {time}",
        "cancelled": "afgezegd",
        "starts_at": "aanvang",
        "deadline": "reageren vóór",
        "feed_title": "Recente signalen",
        "feed_none": "Geen recente signalen.",
        "feed_item": "{theme} in {area}: niveau {level}, {evidence}",
        "reporter": "melder",
        "health_title": "Netwerken",
        "health_none": "Geen netwerken.",
        "members": "leden",
        "consented": "toestemming om te bellen",
        "covered": "gemeenschappen",
        "duty": "dienstdoende",
        "last_reached": "laatst bereikt",
        "days_ago": "{days} dagen geleden",
        "never": "nooit",
        "yes": "ja",
        "no": "nee",
        "close": "Sluiten",
        "seconds": "{s} s",
    }
)

EVIDENCE_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {"observed": "waargenomen", "heard": "gehoord", "expected": "verwacht"}
)

ROLE_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ally": "bondgenoot",
        "police": "politie",
        "municipality": "gemeente (OOV)",
        "coordinator": "netwerkcoördinator",
        "crisis": "crisisorganisatie",
        "reviewer": "evaluator",
        "admin": "functioneel beheerder",
    }
)
"""The roles of people who log in (domain.access.Role), as the login page names them."""


def dashboard_texts() -> dict[str, Any]:
    """Everything the dashboard shows in Dutch: its own sentences and every code's label."""
    return {
        "ui": dict(UI),
        "band": {str(k): v for k, v in BAND_LABELS.items()},
        "trend": {str(k): v for k, v in TREND_LABELS.items()},
        "theme": dict(THEME_LABELS),
        "community": dict(COMMUNITY_LABELS),
        "status": dict(STATUS_LABELS),
        "trigger": dict(TRIGGER_LABELS),
        "rsvp": dict(RSVP_LABELS),
        "timeline": dict(TIMELINE_LABELS),
        "outcome": {str(k): v for k, v in CALL_OUTCOME_LABELS.items()},
        "availability": {str(k): v for k, v in AVAILABILITY_LABELS.items()},
        "unreachable": {str(k): v for k, v in UNREACHABLE_REASON_LABELS.items()},
        "mode": dict(MODE_LABELS),
        "reporter": dict(REPORTER_LABELS),
        "evidence": dict(EVIDENCE_LABELS),
        "role": dict(ROLE_NAMES),
    }
