"""A small, realistic demo: Almere (GM0034) with three allies networks. Fictional people."""

from __future__ import annotations

from typing import Any

MUNICIPALITY = "GM0034"
STAD = "GM0034-stad"
POORT = "GM0034-poort"
STAD_COMMUNITIES = ["youth", "moroccan", "turkish"]

# Who acts in the demo, each with its own bearer token: the municipality's public-order
# advisor, the police chief, the crisis team (reads the call list and the review) and the
# network coordinator (enters the answers allies phone in, and marks the meeting held).
OOV = "municipality:oov-almere"
TEAMCHEF = "police:teamchef-almere"
CRISIS = "crisis:sgbo-almere"
COORDINATOR = "coordinator:netwerk-almere"
ACTORS = (OOV, TEAMCHEF, CRISIS, COORDINATOR)

FORECAST_HOURS = 3
"""After the de-escalation the demo shows the tension map this many hours ahead."""

# The convening the crisis organisation calls for the demonstration, and who answers what.
CONVENING: dict[str, Any] = {
    "mode": "in_person",
    "place": "Buurthuis De Schakel, Stadhuisplein",
    "quorum": 2,
}
# What the people in the demo type (content, not interface text).
NOTES = {
    "declare": "Melding ME: groepen jongeren onderweg naar de demonstratie",
    "acknowledged_by": "De teamchef van politie Almere",
    "acknowledge": "Teamchef pakt op, ME stand-by",
    "de_escalate": "Groepen verspreid, gesprek met jongeren gevoerd",
    "close": "Rust teruggekeerd, evaluatie gepland",
    "follow_up_acknowledge": "OOV neemt het vervolg op zich",
}
RSVPS_BEFORE_QUORUM = [("a-stad-1", "attending"), ("a-stad-2", "not_attending")]
RSVPS_TO_QUORUM = [("a-stad-3", "attending")]

# The follow-up that ends the demo: the Poort network meets about the azc before the council
# meeting its signals mention. Nobody answers for them, so this convening stays open and its
# links work for as long as the service runs. Time, mode and place come from the proposal.
FOLLOW_UP: dict[str, Any] = {
    "network": "Bondgenoten Almere Poort",
    "declare": {
        "area": POORT,
        "theme": "asylum_reception",
        "reason": "Vervolgoverleg met de bondgenoten over de komst van het azc, vóór de"
        " raadsvergadering",
        "communities": ["residents"],
    },
    "convening": {},
}

NETWORKS: list[dict[str, Any]] = [
    {
        "network_id": "almere-haven",
        "name": "Bondgenoten Almere Haven",
        "area": "GM0034-haven",
        "areas": ["GM0034-haven"],
        "size_cap": 12,
    },
    {
        "network_id": "almere-poort",
        "name": "Bondgenoten Almere Poort",
        "area": "GM0034-poort",
        "areas": ["GM0034-poort"],
        "size_cap": 12,
    },
    {
        "network_id": "almere-stad",
        "name": "Bondgenoten Almere Stad",
        "area": "GM0034-stad",
        "areas": ["GM0034-stad", "GM0034-haven"],
        "size_cap": 12,
    },
]


def _ally(
    ally_id: str,
    name: str,
    phone: str,
    communities: list[str],
    areas: list[str],
    themes: list[str],
    consent: bool = True,
    availability: str = "always",
) -> dict[str, Any]:
    return {
        "ally_id": ally_id,
        "areas": areas,
        "themes": themes,
        "availability": availability,
        "consent_to_be_called": consent,
        "personal": {"name": name, "phone": phone, "communities": communities},
    }


ALLIES: dict[str, list[dict[str, Any]]] = {
    "almere-haven": [
        _ally(
            "a-haven-1",
            "Fatima el Amrani",
            "+31 6 1000 0001",
            ["moroccan", "muslim"],
            ["GM0034-haven"],
            ["youth_nuisance", "polarisation"],
        ),
        _ally(
            "a-haven-2",
            "Henk de Vries",
            "+31 6 1000 0002",
            ["residents"],
            ["GM0034-haven"],
            ["youth_nuisance"],
        ),
        _ally(
            "a-haven-3",
            "Priya Ramdin",
            "+31 6 1000 0003",
            ["surinamese", "schools"],
            ["GM0034-haven"],
            ["accident", "violent_incident"],
        ),
        _ally(
            "a-haven-4",
            "Kevin Bakker",
            "+31 6 1000 0004",
            ["sports", "youth"],
            ["GM0034-haven"],
            ["youth_nuisance"],
            availability="evenings",
        ),
    ],
    "almere-poort": [
        _ally(
            "a-poort-1",
            "Yusuf Demir",
            "+31 6 2000 0001",
            ["turkish", "muslim"],
            ["GM0034-poort"],
            ["asylum_reception", "polarisation"],
        ),
        _ally(
            "a-poort-2",
            "Marieke Jansen",
            "+31 6 2000 0002",
            ["residents", "christian"],
            ["GM0034-poort"],
            ["asylum_reception"],
        ),
        _ally(
            "a-poort-3",
            "Ahmed Yilmaz",
            "+31 6 2000 0003",
            ["entrepreneurs", "turkish"],
            ["GM0034-poort"],
            ["undermining"],
        ),
        _ally(
            "a-poort-4",
            "Sanne Visser",
            "+31 6 2000 0004",
            ["lgbti"],
            ["GM0034-poort"],
            ["discrimination"],
            consent=False,
        ),
    ],
    "almere-stad": [
        _ally(
            "a-stad-1",
            "Ronald Kromo",
            "+31 6 3000 0001",
            ["surinamese", "youth"],
            ["GM0034-stad"],
            ["demonstration", "public_order"],
        ),
        _ally(
            "a-stad-2",
            "Esther Cohen",
            "+31 6 3000 0002",
            ["jewish"],
            ["GM0034-stad"],
            ["discrimination", "demonstration"],
        ),
        _ally(
            "a-stad-3",
            "Mohamed Bouzid",
            "+31 6 3000 0003",
            ["moroccan", "youth"],
            ["GM0034-stad", "GM0034-haven"],
            ["demonstration", "youth_nuisance"],
        ),
        _ally(
            "a-stad-4",
            "Ingrid Smit",
            "+31 6 3000 0004",
            ["schools"],
            ["GM0034-stad"],
            ["accident"],
            availability="office_hours",
        ),
    ],
}


def ally_name(ally_id: str) -> str:
    """The demo ally's name, or the id for someone the demo did not enrol."""
    for allies in ALLIES.values():
        for ally in allies:
            if ally["ally_id"] == ally_id:
                name: str = ally["personal"]["name"]
                return name
    return ally_id


DUTY_CONTACTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        nid,
        role,
        {
            "contact_id": f"{nid}-{role}",
            "function": function,
            "personal": {"name": name, "phone": phone},
        },
    )
    for nid, role, function, name, phone in [
        ("almere-haven", "police", "wijkagent", "Wijkagent Haven", "+31 6 9000 0001"),
        ("almere-haven", "municipality", "OOV-adviseur", "OOV Almere", "+31 6 9000 0002"),
        ("almere-poort", "police", "wijkagent", "Wijkagent Poort", "+31 6 9000 0003"),
        ("almere-poort", "municipality", "OOV-adviseur", "OOV Almere", "+31 6 9000 0002"),
        ("almere-stad", "police", "teamchef", "Teamchef Almere", "+31 6 9000 0004"),
        ("almere-stad", "municipality", "OOV-adviseur", "OOV Almere", "+31 6 9000 0002"),
    ]
]


def signal(
    key: str,
    reporter: str,
    role: str,
    network: str,
    area: str,
    themes: list[str],
    level: int,
    evidence: str,
    minutes_ago: float,
    summary: str,
    communities: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "reporter": reporter,
        "source_role": role,
        "network_id": network,
        "area": area,
        "themes": themes,
        "level": level,
        "evidence": evidence,
        "minutes_ago": minutes_ago,
        "summary": summary,
        "communities": communities or [],
    }


# An asylum centre (azc) is coming to Poort: slowly rising tension over two days.
AZC_SIGNALS = [
    signal(
        "azc-1",
        "a-poort-2",
        "ally",
        "almere-poort",
        "GM0034-poort",
        ["asylum_reception"],
        2,
        "heard",
        2880,
        "Buurtbewoners praten onrustig over de komst van het azc.",
    ),
    signal(
        "azc-2",
        "a-poort-1",
        "ally",
        "almere-poort",
        "GM0034-poort",
        ["asylum_reception"],
        3,
        "observed",
        1500,
        "Flyers tegen het azc in de brievenbussen.",
        ["residents"],
    ),
    signal(
        "azc-3",
        "wijkagent-poort",
        "police",
        "almere-poort",
        "GM0034-poort",
        ["asylum_reception"],
        4,
        "observed",
        180,
        "Groepsapp roept op tot protest bij raadsvergadering.",
    ),
]

# A demonstration in Stad: an ally warns about youths on scooters; police and municipality confirm.
DEMONSTRATION_SIGNALS = [
    signal(
        "demo-1",
        "a-stad-1",
        "ally",
        "almere-stad",
        "GM0034-stad",
        ["demonstration"],
        4,
        "observed",
        12,
        "Grote groep jongeren op scooters onderweg naar de demonstratie, "
        "via WhatsApp opgeroepen om stenen te gooien.",
        ["youth", "moroccan"],
    ),
    signal(
        "demo-2",
        "wijkagent-stad",
        "police",
        "almere-stad",
        "GM0034-stad",
        ["demonstration"],
        4,
        "observed",
        8,
        "Meerdere groepen jongeren gezien richting Stadhuisplein.",
        ["youth"],
    ),
    signal(
        "demo-3",
        "oov-almere",
        "municipality",
        "almere-stad",
        "GM0034-stad",
        ["demonstration"],
        4,
        "heard",
        5,
        "Signalen via jongerenwerk: spanning loopt op.",
        ["youth", "moroccan"],
    ),
]


# Peacetime upkeep of the Haven network (network lifecycle): its next meeting and evaluation.
HAVEN_MEETING_PLACE = "Buurthuis De Roef, Almere Haven"
HAVEN_EVALUATION_NOTE = "Samenstelling besproken in de kerngroep"

# Sounding out the allies of one community (the Turkey coup attempt, 2016): what the police
# ask, who answers what (the second after the deadline), and the framework drawn up.
PULSE: dict[str, Any] = {
    "area": POORT,
    "theme": "polarisation",
    "community": "turkish",
    "question": "Na de couppoging in Turkije: hoe is de stemming in uw achterban, en wat"
    " raadt u ons aan?",
    "answers": [
        {
            "ally_id": "a-poort-1",
            "level": 4,
            "note": "Felle discussies tussen aanhangers en tegenstanders, ook online",
            "advice": "Houd de wijkagent zichtbaar bij de moskee en het buurthuis",
        },
        {
            "ally_id": "a-poort-3",
            "level": 3,
            "note": "Ondernemers maken zich zorgen over hun zaak",
            "advice": "Spreek de ondernemers aan in het winkelcentrum",
        },
    ],
    "framework_title": "Handelingskader Almere Poort na de couppoging",
    "measures": [
        "Wijkagent dagelijks zichtbaar bij moskee en buurthuis",
        "Gesprek met de ondernemers in het winkelcentrum",
    ],
}

# A question of the constituency, its answer, and to whom it was brought back.
QUESTION: dict[str, Any] = {
    "network_id": "almere-poort",
    "ally_id": "a-poort-1",
    "routed_to": "municipality",
    "text": "Mogen we vrijdag na het gebed samenkomen op het plein voor de moskee?",
    "answer": "Ja, de burgemeester staat het toe; de wijkagent is erbij.",
    "relayed_to": "het bestuur van de moskee",
}

# The crisis organisation asks the allies of the community to talk in the street.
MOBILISATION: dict[str, Any] = {
    "area": POORT,
    "community": "turkish",
    "task": "street_conversations",
    "message": "Wilt u vanavond bij het winkelcentrum in gesprek gaan met de jongeren?",
    "answers": [("a-poort-1", "accept"), ("a-poort-3", "decline")],
    "report": ("a-poort-1", "Gesproken met een groep van tien jongeren; het bleef rustig."),
}
