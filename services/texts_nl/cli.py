"""Dutch text of the ``bondgenoten`` command line: help and messages to the operator."""

from __future__ import annotations

from typing import Final

DESCRIPTION: Final = (
    "Escalatiedienst voor de Bondgenotenaanpak: signalen, spanningsbeeld, bellijsten en snel"
    " bijeenroepen. Zonder NATS_URL start een ingebouwde NATS-server."
)
LOG_LEVEL: Final = "logniveau (DEBUG, INFO, WARNING, ERROR)"
RUN: Final = "start de dienst (ingebouwde NATS-server tenzij NATS_URL is gezet)"
RUN_DEMO: Final = "speel daarna de demo af (Almere, in het Nederlands)"
PROJECT: Final = "start alleen de projecties (opschalen, tests)"
REBUILD: Final = "bouw projecties opnieuw op uit het logboek (met de dienst gestopt)"
BACKUP: Final = (
    "maak een back-up van het logboek, de audittrail, de sleutels en de lopende timers naar een"
    " bestand (zonder de hoofdsleutel: bewaar die apart)"
)
BACKUP_FILE: Final = "het back-upbestand (JSON Lines)"
RESTORE: Final = (
    "zet een back-up terug in een nieuwe, lege server; bouw daarna de projecties opnieuw op"
)
BACKED_UP: Final = "{stream}: {count} berichten"
PROGRESS: Final = "… {count} berichten"
RESTORE_REFUSED: Final = (
    "Terugzetten geweigerd: het logboek {stream} is niet leeg. Zet een back-up alleen terug in"
    " een nieuwe server."
)
REBUILD_NAMES: Final = "namen van projecties (standaard: alle): {names}"
ASYNCAPI: Final = "druk het AsyncAPI-document van de NATS-koppeling af"
READY: Final = (
    "Bondgenoten escalatiedienst draait\n"
    "  NATS        {nats}\n"
    "  HTTP API    {http}/api/v1  (OpenAPI: /api/v1/openapi.json, documentatie: /api/v1/docs)\n"
    "  Stoppen met Ctrl-C."
)
REBUILT: Final = "{name} opnieuw opgebouwd tot positie {position}"
UNKNOWN_PROJECTION: Final = "onbekende projectie(s): {unknown}; bekend zijn: {known}"
STILL_RUNNING: Final = (
    "De dienst draait nog (projectie {name} wordt gelezen). Stop de dienst eerst en"
    " probeer het dan opnieuw."
)
INSTANCE_CLASH: Final = (
    "Een andere instantie leest al projectie {name}. Geef elke instantie een eigen naam"
    " (BONDGENOTEN_INSTANCE) en start opnieuw."
)
STORE_IN_USE: Final = "Het logboek is in gebruik: {reason}"
STOPPED: Final = "Gestopt."
LOGS_IN_FILE: Final = "Technische logregels staan in {path}."
BAD_SETTING: Final = "Ongeldige instelling {variable}: {message}"
NATS_CONFIG: Final = (
    "schrijf de NATS-autorisatie (nkeys en rechten) in de datamap; de ingebouwde server"
    " gebruikt haar bij elke start"
)
NATS_CONFIG_DONE: Final = (
    "NATS-autorisatie geschreven: {config}\n"
    "  sleutel van de dienst  {seed}\n"
    "  identiteiten           {users}\n"
    "Alleen deze sleutels kunnen verbinden. Een eigen nats-server neemt het bestand op met"
    " 'include {name}'."
)
NATS_USER: Final = (
    "maak de NATS-sleutel (nkey) van een koppeling aan, bijvoorbeeld de meldkamer van de politie"
)
NATS_USER_ROLE: Final = "rol van de koppeling: {roles}"
NATS_USER_ID: Final = "naam van de koppeling binnen de rol, bijvoorbeeld meldkamer-oost"
NATS_USER_PRINT_SEED: Final = "druk ook de geheime sleutel zelf af (anders alleen het bestand)"
NATS_USER_DONE: Final = (
    "NATS-identiteit {role}:{id}\n"
    "  sleutelbestand    {seed_file}  (geheim: alleen voor deze koppeling)\n"
    "  publieke sleutel  {public_key}\n"
    "  mag aanvragen     {subjects}\n"
    "  mag opvragen      {queries}\n"
    '  antwoorden op     {inbox}.>  (nats-py: inbox_prefix="{inbox}")'
)
NATS_USER_SEED: Final = "  geheime sleutel   {seed}"
NATS_RELOADED: Final = "De draaiende ingebouwde NATS-server heeft de nieuwe rechten geladen."
NATS_NOT_RUNNING: Final = (
    "Er draait geen ingebouwde NATS-server op deze datamap: de volgende start neemt de"
    " nieuwe identiteit mee."
)
NATS_BAD_USER: Final = (
    "Ongeldige naam {id}: alleen kleine letters, cijfers, - en _ (één deel van een"
    " NATS-onderwerp, zonder punten)"
)
ISSUE: Final = (
    "druk een token af van de ingebouwde uitgever (lokaal en voor de demo; met een eigen"
    " identiteitsprovider geeft die de tokens uit)"
)
ISSUE_ROLE: Final = "rol: {roles}"
ISSUE_ID: Final = "wie: kleine letters, cijfers, - en _ (bijv. sgbo-almere)"
ISSUE_TTL: Final = "geldigheidsduur, bijv. 30m, 8h of 2d (hoogstens 30 dagen; standaard 8h)"
ISSUE_BAD_INPUT: Final = (
    "Ongeldige rol, id of geldigheidsduur. Rollen: ally, police, municipality, coordinator,"
    " crisis, reviewer, admin; id: kleine letters, cijfers, - en _; duur: bijv. 8h."
)
ISSUE_EXTERNAL: Final = (
    "Tokens komen van de ingestelde identiteitsprovider ({issuer}), niet van deze opdracht."
)
MATRIX: Final = "druk de autorisatiematrix af (rol × actie), zoals in de README"
MAP: Final = (
    "toon het spanningsbeeld, ook zoals het toen was (--as-of) of zoals de dienst het toen"
    " kende (--as-known-at); leest het logboek (met de dienst gestopt, of via BONDGENOTEN_NATS_URL)"
)
MAP_AS_OF: Final = (
    "geldige tijd: de situatie op dit moment volgens alles wat nu bekend is"
    " (ISO 8601 met tijdzone, bijv. 2026-03-14T21:05:00+01:00)"
)
MAP_AS_KNOWN_AT: Final = "registratietijd: wat de dienst op dit moment wist (ISO 8601 met tijdzone)"
MAP_AREA: Final = "alleen dit gebied of deze gemeente (bijv. GM0034)"
MAP_THEME: Final = "alleen dit thema (bijv. asylum_reception)"
MAP_BAD_TIME: Final = (
    "Ongeldige tijd voor {option}: {value}. Gebruik ISO 8601 met tijdzone,"
    " bijv. 2026-03-14T21:05:00+01:00."
)
QUERY: Final = (
    "vraag een leesmodel op (zoals /api/v1 en NATS), ook zoals het toen was (--as-of) of zoals de"
    " dienst het toen kende (--as-known-at); leest het logboek als beoordelaar (bondgenoten onder"
    " pseudoniem, nooit contactgegevens). Uitvoer: JSON"
)
QUERY_NAME: Final = "welk leesmodel: {names}"
QUERY_PARAM: Final = (
    "een veld van de vraag, bijv. escalation_id=GM0034-haven_demonstration-1 of"
    " themes=demonstration,asylum_reception (lijsten met komma's)"
)
QUERY_BAD_PARAM: Final = "Ongeldig veld {param}: schrijf naam=waarde."
QUERY_REFUSED: Final = "Geweigerd, {field}: {message}"
QUERY_FORBIDDEN: Final = (
    "De opdrachtregel leest als beoordelaar, en die mag {name} niet inzien (daarin staan"
    " bondgenoten met contactgegevens): vraag het op via de API met een eigen login."
)
MAP_HEADER: Final = "Spanningsbeeld op {view} (Nederlandse tijd){known}"
MAP_KNOWN: Final = ", zoals bekend op {known}"
MAP_EMPTY: Final = "Geen spanning boven de drempel."
MAP_ROW: Final = (
    "{area:<22} {theme:<26} {score:>6.2f}  {band:<9} {trend:<7}  traag {slow:>5.2f} {slow_trend}"
)
MAP_WATCH: Final = (
    "    ⚑ waakzaam: aanhoudende signalen van {reporters} melders op {days} dagen in de"
    " afgelopen week"
)
REVIEW: Final = (
    "evaluatie van één escalatie uit het logboek: kernmomenten met wanneer het gebeurde en"
    " wanneer de dienst het wist, meldingen, alarmering, gebeld, bijeenkomsten, vragen en de"
    " spanning; bondgenoten onder schuilnaam"
)
REVIEW_ID: Final = "de escalatie, bijv. GM0034-haven_demonstration-1"
REVIEW_FORMAT: Final = "html (op zichzelf staand rapport, ook af te drukken), markdown of json"
REVIEW_OUTPUT: Final = "schrijf naar dit bestand (standaard: het scherm)"
REVIEW_PROGRESS: Final = "… {read} gebeurtenissen gelezen"
REVIEW_WRITTEN: Final = "Geschreven: {path}"
REVIEW_UNKNOWN: Final = "Onbekende escalatie {escalation_id}: niet in het logboek."
REVIEWS: Final = (
    "alle escalaties die in een periode zijn geopend, met de tijd tot alarmering, tot"
    " bevestiging en tot quorum (voor evaluaties)"
)
REVIEWS_FROM: Final = "begin: datum (2026-11-01, Nederlandse tijd) of tijd met zone"
REVIEWS_TO: Final = "einde (niet meegerekend): datum of tijd met zone"
REVIEWS_CSV: Final = "als CSV (standaard JSON)"
REVIEWS_BAD_PERIOD: Final = (
    "Ongeldige periode: geef --from en --to als datum (2026-11-01) of als tijd met zone"
    " (2026-11-01T08:00:00+01:00)."
)
CLUSTER: Final = (
    "start een NATS-cluster van drie knooppunten met JetStream op deze machine (ontwikkelen en"
    " testen)"
)
CLUSTER_DIR: Final = "map voor de gegevens van de knooppunten (standaard: een tijdelijke map)"
CLUSTER_READY: Final = (
    "NATS-cluster draait (3 knooppunten, JetStream, gegevens in {dir})\n"
    "  NATS_URL    {url}\n"
    "  sleutel     {seed}\n"
    "  Start de dienst ertegen met:\n"
    "    NATS_URL={url} BONDGENOTEN_NATS_SEED_FILE={seed} bondgenoten run\n"
    "  Stoppen met Ctrl-C."
)
CLUSTER_FAILED: Final = "Het NATS-cluster kon niet starten: {reason}"
