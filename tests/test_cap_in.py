"""CAP 1.2 in: a police system posts an alert over HTTP (the real server) and it becomes a
signal; a malformed, invalid, unmappable or hostile (XXE) one is refused naming the element,
and kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from domain.access import Principal, Role
from domain.intake import InvalidInput
from events.signals import SIGNAL_KINDS
from services.adapters.cap_in import parse_cap
from services.adapters.notify.cap import format_cap_datetime
from services.app.cap_intake import ServedArea, cap_key, signal_from_cap
from services.bootstrap import Service
from tests.api_helpers import AREA, NETWORK, bearer, client_for, seed_network
from tests.conftest import eventually, stream_messages

CAP = "application/cap+xml"
POLICE = Principal(Role.POLICE, "meldkamer-oost")
THEMES = frozenset({"demonstration", "public_order", "accident", "unrest"})
NETWORKS = [ServedArea(NETWORK, "Netwerk Stad", AREA, frozenset({AREA}))]


def cap_alert(
    *,
    identifier: str = "NL-POL-2025-0042",
    sent: datetime | None = None,
    status: str = "Actual",
    msg_type: str = "Alert",
    category: str = "Security",
    event: str = "demonstratie",
    urgency: str = "Expected",
    severity: str = "Severe",
    certainty: str = "Likely",
    area: str = f"<geocode><valueName>bondgenoten-gebied</valueName><value>{AREA}</value>"
    "</geocode>",
    extra_info: str = "",
    prolog: str = '<?xml version="1.0" encoding="UTF-8"?>',
) -> bytes:
    sent = sent or datetime.now(UTC) - timedelta(minutes=2)
    return f"""{prolog}
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>meldkamer-oost@politie.nl</sender>
  <sent>{format_cap_datetime(sent)}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Restricted</scope>
  <restriction>politie en gemeente</restriction>
  <info>
    <language>nl-NL</language>
    <category>{category}</category>
    <event>{event}</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>{certainty}</certainty>{extra_info}
    <headline>Groep jongeren op scooters onderweg naar de demonstratie</headline>
    <area>
      <areaDesc>Almere Stad</areaDesc>
      {area}
    </area>
  </info>
</alert>""".encode()


def mapped(**kw: Any) -> Any:
    alert = parse_cap(cap_alert(**kw), CAP)
    return signal_from_cap(alert, POLICE, networks=NETWORKS, themes=THEMES)


# ---------------------------------------------------------------- the mapping (pure)


def test_the_mapping_takes_area_theme_level_and_reporter_from_the_alert_and_the_token() -> None:
    signal = mapped()
    assert (signal.area, signal.network_id, signal.themes) == (AREA, NETWORK, ["demonstration"])
    assert (signal.level, signal.evidence.value, signal.major_incident) == (4, "expected", False)
    assert (signal.reporter, signal.source_role.value) == ("meldkamer-oost", "police")
    assert signal.idempotency_key == cap_key(parse_cap(cap_alert(), CAP))


def test_extreme_and_immediate_is_a_major_incident_at_level_5() -> None:
    signal = mapped(severity="Extreme", urgency="Immediate", certainty="Observed")
    assert (signal.level, signal.major_incident, signal.evidence.value) == (5, True, "observed")
    assert mapped(severity="Extreme", urgency="Future").major_incident is False
    assert mapped(severity="Minor", certainty="Unlikely").level == 1


def test_a_municipality_code_or_the_category_place_and_theme_it() -> None:
    by_code = "<geocode><valueName>CBS-gemeentecode</valueName><value>0034</value></geocode>"
    alert = parse_cap(cap_alert(area=by_code, event="iets anders", category="Transport"), CAP)
    municipal = [ServedArea("nw-gemeente", "Almere", "GM0034", frozenset({"GM0034"}))]
    signal = signal_from_cap(alert, POLICE, networks=municipal, themes=THEMES)
    assert (signal.area, signal.themes) == ("GM0034", ["accident"])


@pytest.mark.parametrize(
    ("kw", "element", "code"),
    [
        ({"event": "hittegolf", "category": "Met"}, "alert.info.event", "unmappable_theme"),
        ({"area": ""}, "alert.info.area.geocode", "unknown_area"),
        (
            {"area": "<geocode><valueName>CBS-gemeentecode</valueName><value>GM0363</value>"
             "</geocode>"},
            "alert.info.area.geocode",
            "unknown_area",
        ),
        ({"status": "Exercise"}, "alert.status", "not_actual"),
        ({"msg_type": "Cancel"}, "alert.msgType", "unsupported_msg_type"),
    ],
)  # fmt: skip
def test_an_unmappable_alert_names_the_element(kw: dict[str, Any], element: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        mapped(**kw)
    assert [(e.field, e.code) for e in refused.value.errors] == [(element, code)]


# ---------------------------------------------------------------- over HTTP, real server


async def _kept(service: Service, nc: NatsClient) -> list[Any]:
    return await stream_messages(nc, service.infra.topology.rejected_stream)


async def test_a_police_cap_alert_becomes_a_signal_once(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        alert = cap_alert(severity="Extreme", urgency="Immediate", certainty="Observed")
        headers = {"Content-Type": CAP, **bearer(service, "police:meldkamer-oost")}
        first = await client.post("/api/v1/cap", content=alert, headers=headers)
        assert first.status_code == 201, first.text
        again = await client.post("/api/v1/cap", content=alert, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True
        assert again.json()["signal_id"] == first.json()["signal_id"]

        # The major incident opens an escalation, visible to an API client.
        async def opened() -> Any:
            return (await client.get("/api/v1/escalations")).json()

        assert await eventually(opened, what="an escalation opened by the major incident")
    stored = [e async for e in service.infra.store.read(kinds=SIGNAL_KINDS)]
    assert len(stored) == 1
    event = stored[0]
    assert event.actor == "police:meldkamer-oost"  # the token's, not <sender>'s
    assert event.data.major_incident and event.data.level == 5


async def test_who_may_not_report_cap_is_refused_before_the_body_is_read(
    service: Service,
) -> None:
    async with client_for(service) as client:
        r = await client.post(
            "/api/v1/cap",
            content=cap_alert(),
            headers={"Content-Type": CAP, **bearer(service, "ally:a1")},
        )
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "forbidden"


XXE = cap_alert(
    identifier="&xxe;",
    prolog='<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
)
BOMB = cap_alert(
    identifier="&b;",
    prolog='<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field", "code"),
    [
        (b"<alert><unclosed>", CAP, 400, "$", "invalid_xml"),
        (XXE, CAP, 400, "$", "dtd_forbidden"),
        (BOMB, CAP, 400, "$", "dtd_forbidden"),
        (cap_alert(urgency="Now"), CAP, 422, "alert.info.urgency", "cap_invalid"),
        (
            cap_alert().replace(b"<certainty>Likely</certainty>", b""),
            CAP,
            422,
            "alert.info.certainty",
            "cap_invalid",
        ),
        (cap_alert(event="hittegolf", category="Met"), CAP, 422, "alert.info.event",
         "unmappable_theme"),
        (cap_alert(area=""), "application/xml", 422, "alert.info.area.geocode", "unknown_area"),
        (cap_alert(), "application/json", 415, "Content-Type", "unsupported_media_type"),
    ],
)  # fmt: skip
async def test_a_bad_alert_is_refused_naming_the_element_and_kept(
    service: Service,
    nc: NatsClient,
    body: bytes,
    content_type: str,
    status: int,
    field: str,
    code: str,
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        r = await client.post(
            "/api/v1/cap",
            content=body,
            headers={"Content-Type": content_type, **bearer(service, "police:meldkamer-oost")},
        )
    assert r.status_code == status, r.text
    assert (field, code) in [(e["field"], e["code"]) for e in r.json()["errors"]], r.text
    assert b"root:" not in r.content  # nothing of /etc/passwd, ever
    [kept] = await _kept(service, nc)
    assert kept.data == body  # the alert itself, as sent
    reasons = json.loads(kept.headers["Bg-Rejected-Reason"])
    assert (field, code) in [(e["field"], e["code"]) for e in reasons]
    assert [e async for e in service.infra.store.read(kinds=["signal"])] == []


async def test_the_plain_json_webhook_is_the_signals_route_for_a_system_identity(
    service: Service,
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        body = {
            "reporter": "meldkamer-oost",
            "source_role": "police",
            "network_id": NETWORK,
            "area": AREA,
            "themes": ["demonstration"],
            "level": 3,
            "evidence": "observed",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "summary": "Melding uit het meldkamersysteem",
        }
        r = await client.post(
            "/api/v1/signals", json=body, headers=bearer(service, "police:meldkamer-oost")
        )
    assert r.status_code == 201, r.text
