"""Dutch sentences for the console: the demo and the after-action review (format with
``str.format``), and the labels of incident timeline entries."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Sentences shown to users by the console demo and reports (format with str.format). Times are
# passed in formatted by services.texts_nl.alerts.when_nl (which names the zone), or listed
# under a line that says they are Dutch local time.
SENTENCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "tension_map_title": "Spanningsbeeld {area} op {at}",
        "tension_forecast_title": "Spanningsbeeld {area} op {at}, als er tot dan geen nieuwe"
        " meldingen komen",
        "tension_cell": "  {area:<14} {theme:<26} {band:<9} {trend:<9} score {score:>5}"
        " ({reporters} melders, {roles} rollen)",
        "tension_empty": "  Geen verhoogde spanning.",
        "call_list_title": "Bellijst {area} voor {themes}; getroffen gemeenschappen: {communities}",
        "call_entry": "  {rank:>2}. {name:<20} {phone:<16} {reasons}",
        "duty_entry": "      dienstdoend {role}: {function} {name} {phone}",
        "coverage_gap": "  Dekkingsgat: niemand op de lijst vertegenwoordigt {community}.",
        "no_gaps": "  Alle getroffen gemeenschappen zijn gedekt.",
        "unreachable": "  Niet te bellen: {ally} ({reason})",
        "call_list_empty": "  Niemand op de bellijst.",
        "rejected": "  Afgewezen melding ({status}): {field}: {message}",
        "rejected_not": "  De onvolledige melding werd niet afgewezen (antwoord {status}).",
        "demo_step": "\n== {text} ==",
        "step_networks": "Netwerken, bondgenoten en dienstdoende contacten ({municipality})",
        "seeded": "  Vastgelegd via de API: {new} nieuw, {known} al aanwezig van een eerdere demo.",
        "network_health": "  {name} ({area}): {members} van maximaal {cap} bondgenoten,"
        " {consented} willen gebeld worden; dienstdoend: {duty}",
        "network_flag": "    aandachtspunt: {reason}",
        "no_networks": "  Nog geen netwerken te zien.",
        "step_azc": "Twee dagen meldingen over de komst van een azc ({area})",
        "step_demonstration": "Demonstratie: jongeren op scooters onderweg ({area})",
        "signals_header": "  Meldingen (tijden in Nederlandse tijd):",
        "signal_line": "    {at:<11}  {reporter:<10}  niveau {level}  {summary}{duplicate}",
        "signal_earlier": "eerder",
        "signal_duplicate": " (al eerder ontvangen, telt niet dubbel)",
        "cell_now": "  Spanningsbeeld nu: {theme} in {area} is {band}, {trend} (score {score}).",
        "cell_calm": "  Spanningsbeeld nu: {theme} in {area} is niet verhoogd.",
        "step_call_list": "Wie bellen we? (bellijst)",
        "step_rejected": "Een onvolledige melding wordt afgewezen, en bewaard",
        "step_escalation": "Escalatie: de crisisorganisatie wordt gealarmeerd",
        "escalation_opened": "  Escalatie {escalation_id} geopend ({trigger}) op {at};"
        " GRIP-advies: {grip}",
        "declared_instead": "  De meldingen waren al eerder binnen en openen niets nieuws:"
        " de politie kondigt de escalatie af.",
        "declared_below_threshold": "  De meldingen halen de drempel van het beleid niet:"
        " de politie kondigt de escalatie af.",
        "no_escalation": "  Er is geen escalatie om mee verder te gaan; de demo slaat dit deel"
        " over.",
        "step_no_ack": "Niemand bevestigt binnen {seconds} seconden:"
        " het volgende niveau wordt gealarmeerd",
        "next_level": "  Niveau {level} (ronde {round}) gealarmeerd op {at}.",
        "no_next_level": "  Er is (nog) geen volgend niveau gealarmeerd.",
        "step_acknowledge": "{who} bevestigt en pakt op",
        "acknowledged": "  Bevestigd op {at} door {by}: er wordt niet verder gealarmeerd.",
        "already_acknowledged": "  Niet nodig: de escalatie is al {status}.",
        "step_convening": "Het netwerk wordt bijeengeroepen",
        "convening_proposal": "  Voorstel: {mode} {place}op {starts_at}, reageren vóór {deadline};"
        " {invited} bondgenoten uitnodigen; aan tafel: {communities}; quorum {quorum}",
        "convening_choice": "  De crisisorganisatie kiest: {mode}, {place}, quorum {quorum}",
        "invitations_sent": "  {count} bondgenoten krijgen een uitnodiging met een persoonlijke"
        " link (op dit scherm: [UITNODIGING aan …]).",
        "convening_status": "  Bijeenkomst {place} op {starts_at}: uitgenodigd {invited},"
        " komt {attending},"
        " quorum {quorum}; ontbrekende gemeenschappen: {missing}; {quorate}",
        "quorate_yes": "voltallig",
        "quorate_no": "nog niet voltallig",
        "rsvp": "  {ally}: {answer}",
        "ally": "{name} ({ally_id})",
        "convened": "  Bijeengekomen op {at}, aanwezig: {count}; de links in deze"
        " uitnodigingen zijn daarmee niet meer nodig.",
        "step_de_escalate": "Groepen verspreid: de crisisorganisatie schaalt af en sluit af",
        "finished": "  {what} op {at}: {reason}",
        "map_now": "  Het spanningsbeeld van nu: {theme} in {area} is {band}, {trend}"
        " (score {score}); de oudste melding is {age} oud.",
        "map_now_calm": "  Het spanningsbeeld van nu: {theme} in {area} is niet (meer) verhoogd.",
        "forecast_intro": "  Zo ziet het spanningsbeeld er over {hours} uur uit, als er geen"
        " nieuwe meldingen komen:",
        "age_minutes": "{count} minuten",
        "age_hours": "{count} uur",
        "step_review": "Evaluatie: de tijdlijn van het incident,"
        " opnieuw afgespeeld uit het logboek",
        "timeline_header": "  (tijden in Nederlandse tijd)",
        "timeline_entry": "  {at}  {what:<46} {actor}",
        "review_summary": "  {events} gebeurtenissen in het logboek,"
        " waarvan {receipts} afleverbewijzen",
        "step_follow_up": "Vervolg: {network} praat verder over het azc",
        "follow_up_declared": "  De gemeente roept het netwerk bijeen: escalatie {escalation_id}"
        " geopend ({trigger}) op {at}.",
        "follow_up_existing": "  Escalatie {escalation_id} over het azc staat sinds {at} nog"
        " open; de demo gaat daarmee verder.",
        "follow_up_moved": "  De vervolgbijeenkomst van een eerdere demo wordt verzet: wie"
        " daarvoor was uitgenodigd, hoort dat die niet doorgaat ([AFGELAST aan …]).",
        "follow_up_called": "  Vervolgbijeenkomst: {mode} {place}op {starts_at}, reageren"
        " vóór {deadline}; quorum {quorum}.",
        "follow_up_open": "  Deze bijeenkomst blijft open zolang de dienst draait.",
        "try_link": "  Probeer het zelf: open in een browser de link achter"
        " [UITNODIGING aan {ally_id}] hierboven, de uitnodiging aan {name}, en kies"
        " ik kom, ik kom niet of later.",
        "no_console_link": "  De uitnodigingen gaan volgens het beleid niet naar dit scherm: de"
        " persoonlijke links staan in de berichten aan de bondgenoten.",
        "old_links": "  De links bij de demonstratie zijn niet meer nodig: die bijeenkomst"
        " heeft al plaatsgevonden.",
        "step_pulse": "Thermometeren: na een couppoging in het buitenland peilt de politie"
        " de bondgenoten van de {community} in {area}",
        "pulse_started": "  Peiling uitgezet bij {count} bondgenoten: {names}.",
        "pulse_question": "  Vraag: “{question}” Antwoorden vóór {deadline}.",
        "pulse_summary": "  {answered} van {invited} geantwoord; spreiding per niveau {spread};"
        " gemiddeld {mean}.",
        "pulse_late": "  Na de termijn binnengekomen (vastgelegd als te laat): {names}.",
        "pulse_advice": "  Advies van {name}: {advice}",
        "pulse_on_map": "  De antwoorden tellen mee op de spanningskaart: {theme} in {area} is"
        " {band}, {trend}.",
        "framework_compiled": "  Handelingskader opgesteld: “{title}” (ook als"
        " Markdown of HTML: /api/v1/pulses/{pulse_id}/framework).",
        "step_question": "Vragen uit de achterban: gesteld, beantwoord en teruggekoppeld",
        "question_raised": "  {name} stelt namens de achterban een vraag aan {to}: “{text}”",
        "question_answer": "  Antwoord van de gemeente: “{answer}”",
        "question_moments_header": "  De drie momenten:",
        "question_raised_at": "    gesteld op {at}",
        "question_answered_at": "    beantwoord op {at}",
        "question_relayed_at": "    teruggekoppeld aan {to} op {at}",
        "step_mobilisation": "Inzetverzoek: de crisisorganisatie vraagt bondgenoten de straat op",
        "mobilisation_requested": "  Gevraagd: {task}, aan {count} bondgenoten ({names});"
        " reageren vóór {deadline}.",
        "mobilisation_answers": "  Doet mee: {accepted}. Doet niet mee: {declined}.",
        "mobilisation_report": "  Terugkoppeling van {name} op {at}: “{report}”",
        "refused": "  Geweigerd: {what} ({reason}). De demo gaat verder.",
        "unreachable_service": "  De dienst is niet bereikbaar op {url}; de demo stopt hier.",
        "demo_failed": "\nDe demo stopt hier door een onverwachte fout ({error});"
        " de dienst draait door.",
        "demo_ready": "\nDe demo draait door; de API blijft beschikbaar. Stoppen met Ctrl-C.",
    }
)

# What the demo asked, for a refusal: "Geweigerd: bondgenoot a-stad-3 inschrijven (…)".
DEMO_ACTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "form_network": "netwerk {subject} aanmaken",
        "enrol": "bondgenoot {subject} inschrijven",
        "duty": "dienstdoend contact {subject} vastleggen",
        "meeting": "de volgende bijeenkomst van netwerk {subject} plannen",
        "evaluation": "de halfjaarlijkse evaluatie van netwerk {subject} vastleggen",
        "signal": "melding {subject} insturen",
        "incomplete_signal": "de onvolledige melding insturen",
        "read": "{subject} opvragen",
        "declare": "escalatie afkondigen in {subject}",
        "acknowledge": "escalatie {subject} bevestigen",
        "proposal": "voorstel voor de bijeenkomst van {subject} ophalen",
        "convene": "het netwerk bijeenroepen voor {subject}",
        "rsvp": "antwoord van {subject} vastleggen",
        "convened": "bijeenkomst {subject} als gehouden vastleggen",
        "de-escalate": "escalatie {subject} afschalen",
        "close": "escalatie {subject} afsluiten",
        "pulse": "peiling {subject} uitzetten",
        "pulse_answer": "het antwoord van {subject} op de peiling vastleggen",
        "framework": "het handelingskader van peiling {subject} opstellen",
        "question": "de vraag van {subject} stellen",
        "question_answer": "vraag {subject} beantwoorden",
        "relay": "vraag {subject} als teruggekoppeld vastleggen",
        "mobilisation": "inzetverzoek {subject} versturen",
        "mobilisation_answer": "het antwoord van {subject} op het inzetverzoek vastleggen",
        "mobilisation_report": "de terugkoppeling van {subject} vastleggen",
    }
)

# Why, by HTTP status; the field the service named is added.
REFUSAL_REASONS: Final[Mapping[int, str]] = MappingProxyType(
    {
        0: "de dienst antwoordt niet",
        400: "onleesbaar verzoek",
        404: "onbekend of niet (meer) aanwezig",
        409: "past niet bij hoe het er nu voor staat: al gedaan of intussen gewijzigd",
        410: "niet meer nodig",
        422: "niet toegestaan of ongeldig",
        503: "de dienst is tijdelijk niet beschikbaar",
    }
)
REFUSAL_OTHER: Final = "antwoord {status}"
REFUSAL_FIELD: Final = "{status}, {field}: {reason}"
REFUSAL_STATUS: Final = "{status}, {reason}"

# Who reported a signal, singular ("politie" reports, "een bondgenoot" reports).
REPORTER_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {"ally": "bondgenoot", "police": "politie", "municipality": "gemeente"}
)

STATUS_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "alerted": "gealarmeerd",
        "acknowledged": "bevestigd",
        "de_escalated": "afgeschaald",
        "resolved": "opgelost",
        "closed": "afgesloten",
    }
)

NOBODY: Final = "niemand"

TRIGGER_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "band_crossed": "spanningsdrempel overschreden",
        "declared": "afgekondigd",
        "major_incident": "groot incident",
        "slow_burn": "aanhoudende spanning",
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
