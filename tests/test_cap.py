"""CAP 1.2 builder and validator for the crisis-organisation channel (no network, no NATS)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from services.adapters.notify.cap import (
    CAP_NAMESPACE,
    CAP_XSD_PATH,
    CapAlertInput,
    CapValidationError,
    build_cap_alert,
    cap_reference,
    format_cap_datetime,
    validate_cap,
)

NS = {"cap": CAP_NAMESPACE}
CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
SENDER = "crisisorganisatie@veiligheidsregio-flevoland.nl"
CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")


def _alert(**overrides: Any) -> CapAlertInput:
    fields: dict[str, Any] = {
        "identifier": "NL-BGA-2025-000123",
        "sender": SENDER,
        "sent": datetime(2025, 3, 14, 21, 5, 33, 123456, tzinfo=CET),
        "restriction": "Alleen voor de crisisorganisatie en bondgenoten (gemeente, politie)",
        "event": "Spanning rond demonstratie",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Likely",
        "headline": "Oplopende spanning rond demonstratie in Almere Stad",
        "description": (
            "Politie, gemeente en sleutelfiguren signaleren oplopende spanning rond een "
            "aangekondigde demonstratie op het Stadhuisplein."
        ),
        "instruction": "Beleidsteam paraat; wijkagenten en jongerenwerk extra inzetten.",
        "area_desc": "Almere, Stadhuisplein en omgeving",
        "geocodes": [("CBS-gemeentecode", "GM0034")],
        "web": "https://bondgenoten.example.nl/incidenten/NL-BGA-2025-000123",
        "parameters": [("spanningsniveau", "3"), ("bron", "politie")],
        "sender_name": "Veiligheidsregio Flevoland",
        "expires": datetime(2025, 3, 15, 6, 0, tzinfo=CET),
    }
    fields.update(overrides)
    return CapAlertInput(**fields)


def _parse(xml: bytes) -> etree._Element:
    root: etree._Element = etree.fromstring(xml)
    return root


def _text(root: etree._Element, path: str) -> str:
    value = root.findtext(path, namespaces=NS)
    assert value is not None, path
    return str(value)


def test_vendored_xsd_is_the_recorded_oasis_copy() -> None:
    data = CAP_XSD_PATH.read_bytes()
    assert (
        hashlib.sha256(data).hexdigest()
        == "b7798ef25868b068c97b268bda02d067c7d4ba9373adc5638bf37105804ee723"
    )
    assert b'targetNamespace = "urn:oasis:names:tc:emergency:cap:1.2"' in data


def test_realistic_dutch_alert_validates() -> None:
    xml = build_cap_alert(_alert())
    validate_cap(xml)

    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = _parse(xml)
    assert root.tag == f"{{{CAP_NAMESPACE}}}alert"
    assert _text(root, "cap:scope") == "Restricted"
    assert _text(root, "cap:restriction").startswith("Alleen voor de crisisorganisatie")
    assert _text(root, "cap:status") == "Actual"
    assert _text(root, "cap:msgType") == "Alert"
    assert root.find("cap:references", NS) is None
    assert _text(root, "cap:info/cap:language") == "nl-NL"
    assert _text(root, "cap:info/cap:category") == "Safety"
    assert _text(root, "cap:info/cap:event") == "Spanning rond demonstratie"
    assert _text(root, "cap:info/cap:area/cap:areaDesc") == "Almere, Stadhuisplein en omgeving"
    assert _text(root, "cap:info/cap:area/cap:geocode/cap:valueName") == "CBS-gemeentecode"
    assert _text(root, "cap:info/cap:area/cap:geocode/cap:value") == "GM0034"
    params = [
        (_text(p, "cap:valueName"), _text(p, "cap:value"))
        for p in root.findall("cap:info/cap:parameter", NS)
    ]
    assert params == [("spanningsniveau", "3"), ("bron", "politie")]


def test_element_order_follows_schema_sequence() -> None:
    root = _parse(build_cap_alert(_alert(references=[cap_reference(SENDER, "X-1", _sent())])))
    top = [etree.QName(e).localname for e in root]
    assert top == [
        "identifier",
        "sender",
        "sent",
        "status",
        "msgType",
        "scope",
        "restriction",
        "references",
        "info",
    ]
    info = [etree.QName(e).localname for e in root.find("cap:info", NS)]
    assert info == [
        "language",
        "category",
        "event",
        "urgency",
        "severity",
        "certainty",
        "expires",
        "senderName",
        "headline",
        "description",
        "instruction",
        "web",
        "parameter",
        "parameter",
        "area",
    ]


def _sent() -> datetime:
    return datetime(2025, 3, 14, 21, 5, 33, tzinfo=CET)


def test_minimal_alert_without_optionals_validates() -> None:
    xml = build_cap_alert(
        _alert(
            instruction=None,
            web=None,
            sender_name=None,
            expires=None,
            geocodes=[],
            parameters=[],
            status="Exercise",
        )
    )
    validate_cap(xml)
    root = _parse(xml)
    assert _text(root, "cap:status") == "Exercise"
    info = [etree.QName(e).localname for e in root.find("cap:info", NS)]
    assert info == [
        "language",
        "category",
        "event",
        "urgency",
        "severity",
        "certainty",
        "headline",
        "description",
        "area",
    ]


@pytest.mark.parametrize("msg_type", ["Update", "Cancel"])
def test_update_and_cancel_with_references_validate(msg_type: str) -> None:
    first = _alert()
    refs = [
        cap_reference(first.sender, first.identifier, first.sent),
        cap_reference(SENDER, "NL-BGA-2025-000124", datetime(2025, 3, 14, 22, 0, tzinfo=UTC)),
    ]
    xml = build_cap_alert(
        _alert(
            identifier="NL-BGA-2025-000125",
            msg_type=msg_type,
            references=refs,
            sent=datetime(2025, 3, 14, 23, 30, tzinfo=CET),
            severity="Severe",
        )
    )
    validate_cap(xml)
    root = _parse(xml)
    assert _text(root, "cap:msgType") == msg_type
    assert _text(root, "cap:references") == (
        f"{SENDER},NL-BGA-2025-000123,2025-03-14T21:05:33+01:00 "
        f"{SENDER},NL-BGA-2025-000124,2025-03-14T22:00:00-00:00"
    )


@pytest.mark.parametrize("msg_type", ["Update", "Cancel"])
def test_update_and_cancel_require_references(msg_type: str) -> None:
    with pytest.raises(ValidationError, match="requires at least one reference"):
        _alert(msg_type=msg_type)


def test_malformed_reference_rejected() -> None:
    with pytest.raises(ValidationError, match="sender,identifier,sent"):
        _alert(msg_type="Update", references=["NL-BGA-2025-000123"])


def test_special_characters_survive_round_trip() -> None:
    tricky = 'Spanning <hoog> & "oplopend" — café, reünie, één, Ĳsselmeer 😟 \'s avonds'
    xml = build_cap_alert(
        _alert(
            event="Spanning & onrust",
            headline=tricky,
            description=f"Regel 1: {tricky}\nRegel 2: ]]> blijft tekst",
            area_desc="Almere-Haven & Muziekwijk <centrum>",
            geocodes=[("CBS-gemeentecode", "GM0034"), ("wijk", "Müziekwijk & co")],
        )
    )
    validate_cap(xml)
    assert b"<hoog>" not in xml  # escaped, not markup
    xml.decode("utf-8")  # strictly valid UTF-8
    root = _parse(xml)
    assert _text(root, "cap:info/cap:event") == "Spanning & onrust"
    assert _text(root, "cap:info/cap:headline") == tricky
    assert _text(root, "cap:info/cap:description") == (
        f"Regel 1: {tricky}\nRegel 2: ]]> blijft tekst"
    )
    assert _text(root, "cap:info/cap:area/cap:areaDesc") == "Almere-Haven & Muziekwijk <centrum>"
    values = [v.text for v in root.findall("cap:info/cap:area/cap:geocode/cap:value", NS)]
    assert values == ["GM0034", "Müziekwijk & co"]


def test_invalid_status_fails_validation_with_schema_message() -> None:
    xml = build_cap_alert(_alert()).replace(
        b"<status>Actual</status>", b"<status>Oefening</status>"
    )
    with pytest.raises(CapValidationError) as excinfo:
        validate_cap(xml)
    message = str(excinfo.value)
    assert "status" in message
    assert "Oefening" in message
    assert excinfo.value.errors
    assert all(e.startswith("line ") for e in excinfo.value.errors)


def test_missing_required_event_fails_validation() -> None:
    root = _parse(build_cap_alert(_alert()))
    event = root.find("cap:info/cap:event", NS)
    assert event is not None
    event.getparent().remove(event)
    with pytest.raises(CapValidationError, match="urgency"):
        validate_cap(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def test_restricted_scope_without_restriction_is_rejected() -> None:
    root = _parse(build_cap_alert(_alert()))
    restriction = root.find("cap:restriction", NS)
    assert restriction is not None
    root.remove(restriction)
    with pytest.raises(CapValidationError, match="restriction"):
        validate_cap(etree.tostring(root))


def test_not_well_formed_xml_is_reported() -> None:
    with pytest.raises(CapValidationError, match="not well-formed"):
        validate_cap(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>")


def test_wrong_namespace_is_rejected() -> None:
    xml = build_cap_alert(_alert()).replace(
        CAP_NAMESPACE.encode(), b"urn:oasis:names:tc:emergency:cap:1.1"
    )
    with pytest.raises(CapValidationError):
        validate_cap(xml)


def test_time_format_has_no_microseconds_and_colon_offset() -> None:
    root = _parse(build_cap_alert(_alert()))
    sent = _text(root, "cap:sent")
    expires = _text(root, "cap:info/cap:expires")
    assert sent == "2025-03-14T21:05:33+01:00"
    assert expires == "2025-03-15T06:00:00+01:00"
    for value in (sent, expires):
        assert CAP_TIME.fullmatch(value)
        assert "." not in value
        assert not value.endswith("Z")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 7, 1, 12, 0, 0, 999999, tzinfo=CEST), "2025-07-01T12:00:00+02:00"),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05-00:00"),
        (
            datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2025-01-02T03:04:05-05:30",
        ),
    ],
)
def test_format_cap_datetime(value: datetime, expected: str) -> None:
    assert format_cap_datetime(value) == expected


def test_format_cap_datetime_rejects_naive_and_second_offsets() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_cap_datetime(datetime(2025, 1, 1, 12, 0))
    with pytest.raises(ValueError, match="seconds"):
        format_cap_datetime(
            datetime(2025, 1, 1, 12, 0, tzinfo=timezone(timedelta(minutes=19, seconds=32)))
        )


def test_naive_sent_rejected_by_model() -> None:
    with pytest.raises(ValidationError):
        _alert(sent=datetime(2025, 3, 14, 21, 5))


@pytest.mark.parametrize(
    "overrides",
    [
        {"identifier": "NL BGA 1"},
        {"identifier": "NL,1"},
        {"sender": "a&b"},
        {"restriction": "   "},
        {"status": "Draft"},
        {"msg_type": "Ack"},
        {"severity": "Hoog"},
        {"language": "nederlands!"},
        {"web": "niet een url"},
        {"headline": "bel\x07l"},
        {"expires": datetime(2025, 3, 14, 20, 0, tzinfo=CET)},
        {"scope": "Public"},
    ],
)
def test_model_rejects_invalid_input(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _alert(**overrides)


def test_model_is_frozen() -> None:
    alert = _alert()
    with pytest.raises(ValidationError):
        alert.headline = "anders"  # type: ignore[misc]
    assert isinstance(alert.geocodes, tuple)


def test_build_is_deterministic() -> None:
    assert build_cap_alert(_alert()) == build_cap_alert(_alert())
