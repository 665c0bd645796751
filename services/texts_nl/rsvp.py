"""The answer page an ally opens from an invitation (reageerpagina): plain HTML, in Dutch,
usable on any phone without scripts. Values are escaped by the caller."""

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
