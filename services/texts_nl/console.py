"""Dutch sentences for the console: the demo and the after-action review (format with
``str.format``), and the labels of incident timeline entries."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Sentences shown to users by the console demo and reports (format with str.format).
SENTENCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "tension_map_title": "Spanningsbeeld {area} op {at}",
        "tension_cell": "  {area:<14} {theme:<26} {band:<9} {trend:<9} score {score:>5}"
        " ({reporters} melders, {roles} rollen)",
        "tension_empty": "  Geen verhoogde spanning.",
        "call_list_title": "Bellijst {area} voor {themes}; getroffen gemeenschappen: {communities}",
        "call_entry": "  {rank:>2}. {name:<20} {phone:<16} {reasons}",
        "duty_entry": "      dienstdoend {role}: {function} {name} {phone}",
        "coverage_gap": "  Dekkingsgat: niemand op de lijst vertegenwoordigt {community}.",
        "no_gaps": "  Alle getroffen gemeenschappen zijn gedekt.",
        "unreachable": "  Niet te bellen: {ally} ({reason})",
        "rejected": "Afgewezen melding ({status}): {field}: {message}",
        "demo_step": "\n== {text} ==",
        "step_networks": "Netwerken, bondgenoten en dienstdoende contacten ({municipality})",
        "step_azc": "Langzaam oplopende spanning rond de komst van een azc ({area})",
        "step_demonstration": "Demonstratie: jongeren op scooters onderweg ({area})",
        "step_call_list": "Wie bellen we? (bellijst)",
        "step_rejected": "Een onvolledige melding wordt afgewezen, en bewaard",
        "step_escalation": "Escalatie: de crisisorganisatie wordt gealarmeerd",
        "step_no_ack": "Niemand bevestigt binnen {seconds} seconden:"
        " het volgende niveau wordt gealarmeerd",
        "step_acknowledge": "{who} bevestigt en pakt op",
        "step_convening": "Het netwerk wordt bijeengeroepen",
        "step_de_escalate": "De spanning neemt af: afschalen en afsluiten",
        "step_review": "Evaluatie: de tijdlijn van het incident,"
        " opnieuw afgespeeld uit het logboek",
        "escalation_opened": "  Escalatie {escalation_id} geopend ({trigger}); GRIP-advies: {grip}",
        "convening_status": "  Bijeenkomst {place} om {starts_at}: uitgenodigd {invited},"
        " komt {attending},"
        " quorum {quorum}; ontbrekende gemeenschappen: {missing}; {quorate}",
        "convening_proposal": "  Voorstel: {mode} {place}om {starts_at}, reageren voor {deadline};"
        " {invited} bondgenoten uitnodigen; aan tafel: {communities}; quorum {quorum}",
        "convening_choice": "  De crisisorganisatie kiest: {mode}, {place}, quorum {quorum}",
        "quorate_yes": "voltallig",
        "quorate_no": "nog niet voltallig",
        "rsvp": "  {name}: {answer}",
        "timeline_entry": "  {at}  {what:<46} {actor}",
        "review_summary": "  {events} gebeurtenissen in het logboek,"
        " waarvan {receipts} afleverbewijzen",
        "demo_ready": "\nDe demo draait door; de API blijft beschikbaar. Stoppen met Ctrl-C.",
    }
)

TRIGGER_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "band_crossed": "spanningsdrempel overschreden",
        "declared": "afgekondigd",
        "major_incident": "groot incident",
    }
)

RSVP_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {"attending": "komt", "not_attending": "komt niet", "later": "laat het later weten"}
)

TIMELINE_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "opened": "escalatie geopend ({trigger})",
        "signal_joined": "signaal toegevoegd",
        "alert_issued": "gealarmeerd: niveau {level}, ronde {round}",
        "ack_timer_set": "wachten op bevestiging (niveau {level})",
        "ack_timeout": "geen bevestiging: niveau {level} opnieuw of verder",
        "ack_timeout_exhausted": "geen bevestiging, alle niveaus gealarmeerd",
        "acknowledged": "bevestigd",
        "convening_called": "netwerk bijeengeroepen",
        "rsvp_attending": "{ally_id} komt",
        "rsvp_not_attending": "{ally_id} komt niet",
        "rsvp_later": "{ally_id} laat het later weten",
        "convening_quorate": "bijeenkomst voltallig",
        "rsvp_reminder": "herinnering aan {count} bondgenoten",
        "rsvp_deadline_passed": "reactietermijn verstreken",
        "convened": "bijeengekomen met {count} bondgenoten",
        "de_escalated": "afgeschaald",
        "resolved": "opgelost",
        "closed": "afgesloten",
    }
)


def timeline_label(key: str, params: Mapping[str, str]) -> str:
    key = key.removeprefix("escalation.")
    template = TIMELINE_LABELS.get(key)
    if template is None:
        return key
    values = dict(params)  # levels count from 1 in events, as for people
    if "trigger" in values:
        values["trigger"] = TRIGGER_LABELS.get(values["trigger"], values["trigger"])
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template.split(" (")[0]
