"""Escalation policy: parsing the TOML, clear errors, thresholds and the GRIP suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.policy import PolicyError, parse_policies, policy_for, should_open, suggest_grip

CONFIG = Path(__file__).resolve().parents[1] / "services" / "config" / "escalation-policy.toml"

LEVEL = """
[[default.levels]]
name = "OOV"
ack_timeout_s = 300
[[default.levels.recipients]]
name = "OOV-piket"
channels = ["webhook", "email"]
addresses = { webhook = "https://h.example/oov", email = "oov@gemeente.example" }
"""


def test_the_shipped_policy_parses_with_almere_and_the_default() -> None:
    policies = parse_policies(CONFIG.read_text(encoding="utf-8"))
    assert set(policies) == {"default", "GM0034"}
    default = policies["default"]
    assert [lv.ack_timeout_s for lv in default.levels] == [300, 300, 600]
    assert [lv.repeat for lv in default.levels] == [2, 1, 1]
    assert default.levels[2].recipients[0].channels == ("cap", "email")
    assert policy_for(policies, "GM0034-haven") is policies["GM0034"]
    assert policy_for(policies, "GM0344-overvecht") is default  # Utrecht: no own entry


def test_a_municipality_inherits_what_it_omits() -> None:
    policies = parse_policies(
        "[default]\nmin_roles = 3\n" + LEVEL + '\n[GM0034]\nopen_band = "critical"\n'
    )
    almere = policies["GM0034"]
    assert (almere.open_band, almere.min_roles) == ("critical", 3)
    assert almere.levels == policies["default"].levels


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[default", "not valid TOML"),
        ("[GM0034]\n" + LEVEL.replace("default", "GM0034"), "needs a [default] table"),
        ("[default]\n" + LEVEL + "\n[Almere]\n", "[Almere]: key must be 'default' or a CBS"),
        ('[default]\nopen_band = "hot"\n' + LEVEL, "[default]: open_band: Input should be"),
        ("[default]\nlevels = []", "levels: Tuple should have at least 1 item"),
        (
            "[default]\n" + LEVEL.replace("ack_timeout_s = 300", "ack_timeout_s = -5"),
            "level 1 ('OOV') ack_timeout_s: Input should be greater than 0",
        ),
        (
            "[default]\n" + LEVEL.replace('"webhook", "email"', '"webhook", "fax"'),
            "level 1 ('OOV') level: Value error, recipient 'OOV-piket': unknown channel(s) ['fax']",
        ),
        (
            "[default]\n" + LEVEL.replace(', email = "oov@gemeente.example"', ""),
            "recipient 'OOV-piket' has no address for channel(s) ['email']",
        ),
        (
            "[default]\n" + LEVEL.replace("= 300", "= 300\nrepeat = 0"),
            "level 1 ('OOV') repeat: Input should be greater than or equal to 1",
        ),
        ("[default]\nsurprise = 1\n" + LEVEL, "surprise: Extra inputs are not permitted"),
    ],
)
def test_policy_errors_name_the_municipality_level_and_field(toml: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies(toml)
    assert expected in str(info.value)


def test_should_open_needs_the_band_and_corroboration() -> None:
    policy = parse_policies("[default]\n" + LEVEL)["default"]
    assert not should_open(policy, "elevated", 5, 3, major_incident=False)
    assert not should_open(policy, "high", 1, 1, major_incident=False)  # one ally, repeating
    assert should_open(policy, "high", 2, 1, major_incident=False)  # two allies
    assert should_open(policy, "critical", 1, 2, major_incident=False)  # an ally and the police
    assert should_open(policy, "normal", 1, 1, major_incident=True)


@pytest.mark.parametrize(
    ("band", "themes", "major", "grip"),
    [
        ("critical", ("attack",), False, 2),
        ("critical", ("violent_incident", "polarisation"), False, 2),
        ("critical", ("demonstration",), False, 1),
        ("high", ("demonstration",), True, 1),
        ("high", ("attack",), True, 2),
        ("high", ("demonstration",), False, 0),
        ("elevated", ("youth_nuisance",), False, 0),
        ("elevated", ("attack",), True, 1),
    ],
)
def test_suggest_grip(band: str, themes: tuple[str, ...], major: bool, grip: int) -> None:
    assert suggest_grip(band, themes, major) == grip  # type: ignore[arg-type]


def test_convening_defaults_need_answers_before_the_meeting() -> None:
    toml = """
[default]
[default.convening]
lead_min = 20
rsvp_min = 30
[[default.levels]]
name = "OOV"
ack_timeout_s = 60
[[default.levels.recipients]]
name = "oov"
channels = ["console"]
addresses = { console = "-" }
"""
    with pytest.raises(PolicyError, match="rsvp_min must be less than lead_min"):
        parse_policies(toml)
    ok = parse_policies(toml.replace("rsvp_min = 30", "rsvp_min = 10"))
    assert ok["default"].convening.lead_min == 20 and ok["default"].convening.mode == "call"


PLACES = """
[default]
[default.convening]
place = "Belbrug Almere"
[default.convening.places]
GM0034-poort = "Buurtcentrum Poort"
GM0034-stad = "Stadhuis, Stadhuisplein 1"
[[default.levels]]
name = "OOV"
ack_timeout_s = 60
[[default.levels.recipients]]
name = "oov"
channels = ["console"]
addresses = { console = "-" }
"""


def test_each_area_may_have_its_own_convening_place() -> None:
    convening = parse_policies(PLACES)["default"].convening
    assert convening.place_for("GM0034-poort") == "Buurtcentrum Poort"
    assert convening.place_for("GM0034-stad") == "Stadhuis, Stadhuisplein 1"
    assert convening.place_for("GM0034-haven") == "Belbrug Almere"  # no own place: the default
    head, tail = PLACES.split("[default.convening.places]")
    without = head + tail.split('Stadhuisplein 1"')[1]  # no per-area table at all
    assert parse_policies(without)["default"].convening.place_for("GM0034-poort") == (
        "Belbrug Almere"
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [('almere-poort = "Poort"', "convening.places"), ('GM0034-poort = ""', "convening.places")],
)
def test_a_place_needs_an_area_code_and_a_name(line: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        parse_policies(PLACES.replace('GM0034-poort = "Buurtcentrum Poort"', line))


def test_every_demo_area_has_its_own_convening_place() -> None:
    from services.demo import data
    from services.settings import DEMO_POLICY

    convening = parse_policies(DEMO_POLICY.read_text(encoding="utf-8"))["default"].convening
    areas = {a for network in data.NETWORKS for a in network["areas"]}
    places = {convening.place_for(a) for a in areas}
    assert set(convening.places) == areas and len(places) == len(areas)
    assert convening.place not in places
