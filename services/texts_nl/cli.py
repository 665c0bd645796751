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
