"""Dutch texts of pulse checks (thermometeren), constituency questions (vragen uit de
achterban), mobilisation requests (inzetverzoeken) and the framework for action
(handelingskader): messages, pages and the rendered framework. Values are escaped by the
caller where HTML is made."""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------- messages

PULSE_HEADLINE: Final = "Peiling: hoe is de stemming rond {theme_nl} in {area_name}?"
PULSE_BODY: Final = """{question}

Geef vóór {deadline_nl} door hoe gespannen het is (1 rustig - 5 acuut), met een toelichting
en eventueel een advies, via uw persoonlijke link: {link_nl}
"""
MOBILISATION_HEADLINE: Final = "Inzetverzoek: {task_nl} in {area_name}"
MOBILISATION_BODY: Final = """{message}

Laat vóór {deadline_nl} weten of u het oppakt, en meld daarna kort terug, via uw persoonlijke
link: {link_nl}
"""
QUESTION_ESCALATED_HEADLINE: Final = "Onbeantwoorde vraag uit de achterban ({area_name})"
QUESTION_ESCALATED_BODY: Final = """Een vraag uit de achterban, gesteld op {raised_nl} en
gericht aan {routed_nl}, is nog niet beantwoord. Zij wordt nu aan u voorgelegd ({level_name}).
Vraag: {question_id}
"""
OUTREACH_CONSOLE: Final = "[{label} aan {recipient}] {headline}{tail}\n"
OUTREACH_LABEL: Final = {
    "pulse": "PEILING",
    "mobilisation": "INZETVERZOEK",
    "question_escalated": "VRAAG OPGESCHAALD",
}
OUTREACH_TAIL: Final = " | via {link_nl}"
NO_LINK: Final = "uw contactpersoon bij de gemeente"

TASKS_NL: Final = {
    "street_conversations": "de-escalerende gesprekken op straat",
    "relay_explanation": "uitleg doorgeven aan de achterban",
}
ROUTED_NL: Final = {"police": "de politie", "municipality": "de gemeente"}

# ---------------------------------------------------------------- pages

LEVELS_NL: Final = {
    1: "1 - rustig",
    2: "2 - onrust",
    3: "3 - spanning",
    4: "4 - hoog",
    5: "5 - acuut",
}
PULSE_TITLE: Final = "Peiling over {theme}"
PULSE_PAGE: Final = """<p>{question}</p>
<p>Gebied: {area_name}. Graag antwoord vóór <strong>{deadline}</strong>.</p>
{late}
<form method="post">
<fieldset><legend>Hoe gespannen is het?</legend>
{levels}
</fieldset>
<p><label>Toelichting<br><textarea name="note" rows="4" maxlength="1000"
style="width:100%"></textarea></label></p>
<p><label>Advies (optioneel)<br><textarea name="advice" rows="4" maxlength="1000"
style="width:100%"></textarea></label></p>
<button>Versturen</button>
</form>
"""
PULSE_LEVEL_OPTION: Final = (
    '<label style="display:block"><input type="radio" name="level" value="{value}" required> '
    "{label}</label>"
)
PULSE_LATE: Final = """<p><em>De termijn is verstreken; uw antwoord wordt nog wel gebruikt en
als laat gemarkeerd.</em></p>"""
PULSE_ANSWERED_TITLE: Final = "Al beantwoord"
PULSE_ANSWERED_BODY: Final = """<p>U hebt deze peiling al beantwoord. Dank u wel.</p>"""
PULSE_THANKS_BODY: Final = """<p>Uw antwoord is doorgegeven (spanning {level}).</p>"""
PULSE_INVALID_TITLE: Final = "Antwoord onvolledig"
PULSE_INVALID_BODY: Final = """<p>Kies een spanningsniveau van 1 tot en met 5 en gebruik gewone
tekst. Ga terug om het opnieuw te proberen.</p>"""

MOBILISATION_TITLE: Final = "Inzetverzoek: {task}"
MOBILISATION_PAGE: Final = """<p>{message}</p>
<p>Gebied: {area_name}. Graag antwoord vóór <strong>{deadline}</strong>.</p>
{current}
<form method="post" action="?answer=accept"><button>Ik pak het op</button></form>
<form method="post" action="?answer=decline"><button>Ik kan niet</button></form>
{report}
"""
MOBILISATION_REPORT_FORM: Final = """<form method="post" action="?answer=report">
<p><label>Korte terugmelding<br><textarea name="report" rows="4" maxlength="1000"
style="width:100%" required></textarea></label></p>
<button>Terugmelding versturen</button>
</form>"""
MOBILISATION_ANSWERS: Final = {"accept": "ik pak het op", "decline": "ik kan niet"}
MOBILISATION_CURRENT: Final = "<p>Uw antwoord tot nu toe: <strong>{answer}</strong>.</p>"
MOBILISATION_THANKS_BODY: Final = "<p>Uw antwoord is doorgegeven: <strong>{answer}</strong>.</p>"
MOBILISATION_REPORTED_BODY: Final = "<p>Uw terugmelding is doorgegeven. Dank u wel.</p>"

# ---------------------------------------------------------------- framework for action

FRAMEWORK_MD: Final = """# Handelingskader: {title}

- Peiling: {pulse_id} ({theme_nl}, {area_name})
- Escalatie: {escalation}
- Opgesteld: {compiled_nl} door {compiled_by}
- Vraag: {question}
- Spanning volgens de bondgenoten: {spread} (gemiddeld {mean})

## Overgenomen adviezen

{advice}

## Maatregelen

{measures}
"""
FRAMEWORK_NO_ESCALATION: Final = "geen (gebiedsgebonden)"
FRAMEWORK_NONE: Final = "- (geen)"
FRAMEWORK_ADVICE_ITEM: Final = "- {who}: {advice}"
FRAMEWORK_ERASED: Final = "(gewist op verzoek van de bondgenoot)"
FRAMEWORK_NOT_COMPILED: Final = "Voor deze peiling is nog geen handelingskader opgesteld."
