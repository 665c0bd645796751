"""The pages people open from a link (reageerpagina, bevestigingspagina): plain HTML in
Dutch, usable on any phone without scripts. Values are escaped by the caller."""

from __future__ import annotations

from typing import Final

PAGE: Final = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
button{{display:block;width:100%;margin:.5rem 0;padding:.9rem;font-size:1.1rem}}</style>
</head><body>
<h1>{title}</h1>
{body}
</body></html>
"""

INVITATION_TITLE: Final = "Uitnodiging: {mode} over {theme}"
INVITATION_BODY: Final = """<p>Het netwerk wordt bijeengeroepen over <strong>{theme}</strong>
in {area_name}: {mode}{place}, <strong>{starts}</strong>.</p>
<p>Kunt u erbij zijn? Laat het weten vóór {deadline}.</p>
{current}
<form method="post" action="?answer=attending"><button>Ik kom</button></form>
<form method="post" action="?answer=not_attending"><button>Ik kom niet</button></form>
<form method="post" action="?answer=later"><button>Ik laat het later weten</button></form>
"""
CURRENT_ANSWER: Final = "<p>Uw antwoord tot nu toe: <strong>{answer}</strong>.</p>"
THANKS_TITLE: Final = "Dank u wel"
THANKS_BODY: Final = """<p>Uw antwoord is doorgegeven: <strong>{answer}</strong>.</p>
<p>U kunt het via dezelfde link nog wijzigen.</p>"""
UNKNOWN_TITLE: Final = "Link niet geldig"
UNKNOWN_BODY: Final = """<p>Deze link is onbekend of niet (meer) geldig. Neem contact op met uw
contactpersoon bij de gemeente.</p>"""
EXPIRED_TITLE: Final = "Link verlopen"
EXPIRED_BODY: Final = """<p>Deze persoonlijke link is verlopen en kan niet meer worden gebruikt.
Neem zo nodig contact op met uw contactpersoon bij de gemeente.</p>"""
CLOSED_TITLE: Final = "Niet meer nodig"
CLOSED_BODY: Final = """<p>Deze bijeenkomst gaat niet (meer) door of heeft al plaatsgevonden.
Dank voor uw betrokkenheid.</p>"""
BUSY_TITLE: Final = "Even geduld"
BUSY_BODY: Final = """<p>Uw antwoord kon nu niet worden doorgegeven. Probeer het over een
minuut nog eens via dezelfde link.</p>"""
RSVP_ANSWERS: Final = {
    "attending": "ik kom",
    "not_attending": "ik kom niet",
    "later": "ik laat het later weten",
}

# The page behind the acknowledge link in an alert (bevestigingspagina).
ACK_TITLE: Final = "Alarm bevestigen"
ACK_BODY: Final = """<p>Escalatie <strong>{escalation_id}</strong>: {theme} in {area_name}.</p>
<p>Status: {status}. Door te bevestigen laat u weten dat u het oppakt; het alarm gaat dan niet
verder naar het volgende niveau.</p>
<form method="post"><button>Ik bevestig en pak het op</button></form>
"""
ACK_DONE_TITLE: Final = "Bevestigd"
ACK_DONE_BODY: Final = """<p>Dank u wel. Escalatie <strong>{escalation_id}</strong> is bevestigd
door {by}.</p>"""
ACK_ALREADY_TITLE: Final = "Al bevestigd"
ACK_ALREADY_BODY: Final = """<p>Escalatie <strong>{escalation_id}</strong> is al opgepakt
(status: {status}).</p>"""
STATUS_LABELS: Final = {
    "alerted": "gealarmeerd, nog niet bevestigd",
    "acknowledged": "bevestigd",
    "de_escalated": "afgeschaald",
    "resolved": "opgelost",
    "closed": "afgesloten",
}
