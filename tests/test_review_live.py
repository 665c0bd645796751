"""The after-action review against a real server: a scripted incident with known timestamps (the
service's clock is fixed and moved by the script) driven through the public API, then reviewed
over HTTP and the CLI. Every key moment and duration exactly right; a signal typed in late sits at
when it occurred and is flagged; a reviewer's exports name no ally; the HTML report opens in
headless Chromium without errors or outside requests; the same log gives the same report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Browser, expect

from services.adapters.clock import FixedClock
from services.bootstrap import Service
from services.entrypoints.cli import parse_moment
from services.settings import Settings
from tests.api_helpers import ACTOR, AREA, NETWORK, bearer, client_for, seed_network, signal_body
from tests.conftest import MASTER_KEY, serve_in_background, settled
from tests.service_process import run_cli, service_env
from tests.test_dashboard_browser import Offline, browser, chromium, screenshot  # noqa: F401

POLICE = {"X-Actor": "police:teamchef-almere"}
OOV = {"X-Actor": "municipality:oov"}
COORDINATOR = {"X-Actor": "coordinator:netwerk-stad"}
REVIEWER = "reviewer:evaluatie"
A3 = {
    "name": "Yasmina El Amrani",
    "phone": "+31 6 4444 5555",
    "email": "yasmina@voorbeeld.nl",
    "communities": ["berber"],
}
PERSONAL = [
    "Bondgenoot a1",
    "Bondgenoot a2",
    "+31 6 1234 5678",
    A3["name"],
    A3["phone"],
    A3["email"],
    "moroccan",
    "surinamese",
    "youth",
    "berber",
]
"""Everything personal the allies were enrolled with (seed_network's a1 and a2, and a3)."""
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
"""The script's start: just before the real now, so no durable timer the script sets (rsvp
deadline, acknowledgement timeout, all an hour or more after T0) goes off during the test."""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Incident:
    service: Service
    settings: Settings
    clock: FixedClock
    escalation_id: str
    signals: dict[str, str]
    """The script's names of its signals (``s0``, ``s1``) → the ids the service gave them."""


async def step(service: Service, clock: FixedClock, minute: float) -> None:
    """Move the service's clock once everything before has been handled (the workflow reacts
    at the time it is told)."""
    await settled(service)
    clock.advance(seconds=(at(minute) - clock.now()).total_seconds())


async def play(
    service: Service, clock: FixedClock, client: httpx.AsyncClient, signals: dict[str, str]
) -> str:
    """The scripted incident; returns its escalation id and fills in ``signals``.

    minute  0.5  ally a1 sees something (entered at minute 1)
    minute  5    the police declare: opened and alerted (level 1)
    minute  8    acknowledged
    minute 10    convening called (Moroccan and Surinamese communities at the table)
    minute 12/13 a1 and a2 say they will come: quorate at 13
    minute 15    question raised about the incident, answered at 20, relayed at 22
    minute 18    a1 called and reached
    minute 30    convened
    minute 40    a2's report of minute -10 is typed in: the first signal, recorded late
    minute 60    closed
    """
    await step(service, clock, 0)
    await seed_network(client, service)
    r = await client.post(
        f"/api/v1/networks/{NETWORK}/allies",
        json={"ally_id": "a3", "areas": [AREA], "consent_to_be_called": True, "personal": A3},
        headers=ACTOR,
    )
    assert r.status_code == 201, r.text
    await step(service, clock, 1)
    first = signal_body(reporter="a1", level=3, occurred_at=at(0.5).isoformat())
    r = await client.post("/api/v1/signals", json=first)
    assert r.status_code == 201, r.text
    signals["s1"] = r.json()["signal_id"]
    await step(service, clock, 5)
    r = await client.post(
        "/api/v1/escalations",
        json={"area": AREA, "theme": "demonstration", "reason": "oproep via sociale media"},
        headers=POLICE,
    )
    assert r.status_code == 201, r.text
    escalation_id: str = r.json()["escalation_id"]
    url = f"/api/v1/escalations/{escalation_id}"
    await step(service, clock, 8)
    r = await client.post(f"{url}/acknowledge", json={}, headers=OOV)
    assert r.status_code == 200, r.text
    await step(service, clock, 10)
    r = await client.post(
        f"{url}/convenings",
        json={
            "starts_at": at(120).isoformat(),
            "mode": "in_person",
            "place": "Buurthuis De Schakel",
            "communities": ["moroccan", "surinamese"],
            "rsvp_deadline": at(90).isoformat(),
            "quorum": 2,
            "invited": ["a1", "a2", "a3"],
        },
        headers=ACTOR,
    )
    assert r.status_code == 201, r.text
    await settled(service)
    (convening_id,) = (await client.get(url)).json()["convenings"]
    for minute, ally in ((12, "a1"), (13, "a2")):
        await step(service, clock, minute)
        r = await client.post(
            f"/api/v1/convenings/{convening_id}/rsvps",
            json={"ally_id": ally, "answer": "attending"},
            headers=COORDINATOR,
        )
        assert r.status_code == 201, r.text
    await step(service, clock, 15)
    r = await client.post(
        "/api/v1/questions",
        json={
            "question_id": "q1",
            "network_id": NETWORK,
            "ally_id": "a1",
            "text": "Komt er vanavond politie bij de moskee?",
            "routed_to": "police",
            "escalation_id": escalation_id,
        },
        headers=COORDINATOR,
    )
    assert r.status_code == 201, r.text
    await step(service, clock, 18)
    r = await client.post(
        f"/api/v1/networks/{NETWORK}/call-outcomes",
        json={
            "ally_id": "a1",
            "outcome": "reached",
            "caller": "wijkagent",
            "escalation_id": escalation_id,
        },
        headers=POLICE,
    )
    assert r.status_code == 201, r.text
    await step(service, clock, 20)
    r = await client.post(
        "/api/v1/questions/q1/answer", json={"answer": "Ja, twee agenten."}, headers=POLICE
    )
    assert r.status_code == 200, r.text
    await step(service, clock, 22)
    r = await client.post(
        "/api/v1/questions/q1/relayed", json={"to": "de bondgenoot"}, headers=COORDINATOR
    )
    assert r.status_code == 201, r.text
    await step(service, clock, 30)
    r = await client.post(
        f"/api/v1/convenings/{convening_id}/convened", json={}, headers=COORDINATOR
    )
    assert r.status_code == 200, r.text
    await step(service, clock, 40)
    late = signal_body(reporter="a2", level=3, occurred_at=at(-10).isoformat())
    r = await client.post("/api/v1/signals", json=late)
    assert r.status_code == 201, r.text
    signals["s0"] = r.json()["signal_id"]
    await step(service, clock, 60)
    r = await client.post(f"{url}/close", json={}, headers=OOV)
    assert r.status_code == 200, r.text
    await settled(service)
    return escalation_id


@pytest.fixture
async def incident(settings: Settings) -> AsyncIterator[Incident]:
    clock = FixedClock(T0)
    async with serve_in_background(settings, clock=clock) as service:
        async with client_for(service) as client:
            signals: dict[str, str] = {}
            escalation_id = await play(service, clock, client, signals)
        yield Incident(service, settings, clock, escalation_id, signals)


async def get(incident: Incident, path: str, actor: str = REVIEWER) -> httpx.Response:
    async with httpx.AsyncClient(base_url=incident.service.http_url) as client:
        r = await client.get(path, headers=bearer(incident.service, actor))
    assert r.status_code == 200, r.text
    return r


def review_path(incident: Incident, fmt: str = "json") -> str:
    return f"/api/v1/escalations/{incident.escalation_id}/review?format={fmt}"


async def test_every_key_moment_and_duration_of_a_scripted_incident(incident: Incident) -> None:
    review = (await get(incident, review_path(incident))).json()
    moments = [(m["key"], m["level"], m["occurred_at"]) for m in review["moments"]]
    assert moments == [
        ("first_signal", None, iso(at(-10))),
        ("opened", None, iso(at(5))),
        ("alerted", 1, iso(at(5))),
        ("acknowledged", None, iso(at(8))),
        ("convening_called", None, iso(at(10))),
        ("quorate", None, iso(at(13))),
        ("convened", None, iso(at(30))),
        ("closed", None, iso(at(60))),
    ]
    assert [(d["from_key"], d["to_key"], d["seconds"]) for d in review["durations"]] == [
        ("first_signal", "opened", 900.0),
        ("opened", "alerted:1", 0.0),
        ("alerted:1", "acknowledged", 180.0),
        ("acknowledged", "convening_called", 120.0),
        ("convening_called", "quorate", 180.0),
        ("quorate", "convened", 1020.0),
        ("convened", "closed", 1800.0),
    ]
    # The first signal is the one typed in at minute 40 about minute -10: at when it occurred,
    # flagged as recorded later, and listed as a correction.
    first = review["moments"][0]
    assert (first["recorded_at"], first["recorded_later"]) == (iso(at(40)), True)
    s0, s1 = incident.signals["s0"], incident.signals["s1"]
    assert [s["signal_id"] for s in review["signals"]] == [s0, s1]  # by when they occurred
    late, early = review["signals"]
    assert (late["occurred_at"], late["recorded_at"]) == (iso(at(-10)), iso(at(40)))
    assert late["recorded_later"] and first["ref"] == s0
    assert (early["occurred_at"], early["recorded_at"]) == (iso(at(0.5)), iso(at(1)))
    assert not early["recorded_later"]
    assert all(s["joined"] for s in review["signals"])
    assert [(c["kind"], c["ref"]) for c in review["corrections"]] == [("signal_recorded_later", s0)]
    [convening] = review["convenings"]
    assert (convening["invited"], convening["answered"], convening["attending"]) == (3, 2, 2)
    assert convening["quorate_at"] == iso(at(13)) and convening["missing_communities"] == []
    [question] = review["questions"]
    assert (question["raised_at"], question["answered_at"]) == (iso(at(15)), iso(at(20)))
    assert (question["seconds_to_answer"], question["seconds_to_relay"]) == (300.0, 420.0)
    [call] = review["calls"]
    assert (call["outcome"], call["at"]) == ("reached", iso(at(18)))
    assert review["deliveries"] and all(d["delivered_at"] for d in review["deliveries"])
    # The area's tension from an hour before the first key moment until the closing.
    curve = review["tension"]
    assert (curve[0]["at"], curve[-1]["at"]) == (iso(at(-70)), iso(at(60)))
    assert max(p["score"] for p in curve) > 0


def iso(value: datetime) -> str:
    """As the JSON export writes a time."""
    return value.isoformat().replace("+00:00", "Z")


async def test_a_reviewers_exports_name_no_ally_and_the_same_log_gives_the_same_report(
    incident: Incident,
) -> None:
    exports = {fmt: (await get(incident, review_path(incident, fmt))).text for fmt in FORMATS}
    for fmt, text in exports.items():
        for personal in PERSONAL:
            assert personal not in text, (fmt, personal)
        assert '"a1"' not in text and "ally:a1" not in text and ">a1<" not in text
    review = json.loads(exports["json"])
    assert review["calls"][0]["ally"].startswith("Bondgenoot ")  # a pseudonym
    assert review["convenings"][0]["required_communities"] == ["community-1", "community-2"]
    # The crisis organisation sees who was called.
    crisis = (await get(incident, review_path(incident), "crisis:hoofd-oov")).json()
    assert crisis["calls"][0]["ally"] == "a1"
    assert crisis["convenings"][0]["required_communities"] == ["moroccan", "surinamese"]
    # Deterministic: later, the same log gives the same report, apart from when it was made.
    incident.clock.advance(hours=1)
    again = {fmt: (await get(incident, review_path(incident, fmt))).text for fmt in FORMATS}
    assert again["json"] == exports["json"]
    for fmt in ("html", "markdown"):
        assert again[fmt] != exports[fmt]  # the generation time
        assert without_generation_time(again[fmt]) == without_generation_time(exports[fmt])


FORMATS = ("json", "html", "markdown")


def without_generation_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "Gemaakt op" not in line)


async def test_the_multi_incident_view_and_its_csv(incident: Incident) -> None:
    period = f"from={at(-60).isoformat()}&to={at(60).isoformat()}".replace("+", "%2B")
    [row] = (await get(incident, f"/api/v1/reviews?{period}")).json()
    assert row["escalation_id"] == incident.escalation_id
    expected = {
        "seconds_to_alert": 0.0,
        "seconds_to_acknowledgement": 180.0,
        "seconds_to_quorum": 180.0,
        "signals": 2,
        "late_signals": 1,
    }
    assert {k: row[k] for k in expected} == expected
    text = (await get(incident, f"/api/v1/reviews?{period}&format=csv")).text
    header, line = list(csv.reader(io.StringIO(text)))
    assert header[0] == "escalatie" and line[0] == incident.escalation_id
    assert line[6:] == ["0", "180", "180", "2", "1"]
    later = f"from={at(6).isoformat()}&to={at(60).isoformat()}".replace("+", "%2B")
    assert (await get(incident, f"/api/v1/reviews?{later}")).json() == []


async def test_the_cli_review_agrees_with_the_api_and_shows_its_progress(
    incident: Incident,
) -> None:
    env = service_env(incident.settings, BONDGENOTEN_MASTER_KEY=MASTER_KEY)
    code, out, err = await run_cli(env, "review", incident.escalation_id, "--format", "json")
    assert code == 0, err
    api = (await get(incident, review_path(incident))).json()
    assert json.loads(out) == api  # pseudonymised like a reviewer's, with the same pseudonyms
    assert "gebeurtenissen gelezen" in err
    code, out, err = await run_cli(
        env, "reviews", "--from", at(-60).isoformat(), "--to", at(60).isoformat(), "--csv"
    )
    assert code == 0, err
    assert out.splitlines()[1].split(",")[0] == incident.escalation_id
    code, _, err = await run_cli(env, "review", "GM0034-stad_demonstration-99")
    assert code == 1 and "Onbekende escalatie" in err


@pytest.mark.browser
async def test_the_html_report_opens_offline_in_chromium_and_shows_the_timeline(
    incident: Incident,
    browser: Browser,  # noqa: F811
) -> None:
    context = await browser.new_context(
        viewport={"width": 1100, "height": 900},
        extra_http_headers=bearer(incident.service, REVIEWER),
    )
    offline = Offline()
    await context.route("**/*", offline.route)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = await page.goto(incident.service.http_url + review_path(incident, "html"))
    assert response is not None and response.status == 200
    await expect(page.locator("h1")).to_contain_text(incident.escalation_id)
    timeline = page.locator("svg").first
    await expect(timeline).to_be_visible()
    await expect(timeline).to_contain_text("escalatie geopend")
    await expect(page.get_by_role("cell", name="escalatie geopend")).to_be_visible()
    box = await timeline.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    await screenshot(page, "review-report")
    assert errors == [] and offline.outside == []
    await context.close()


def test_a_period_is_given_as_dates_in_amsterdam_or_times_with_their_zone() -> None:
    assert parse_moment("2026-11-01") == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert parse_moment("2026-07-01") == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert parse_moment("2026-11-01T08:00:00+01:00") == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_moment("2026-11-01T08:00:00")  # whose eight o'clock?


async def test_a_cli_period_without_a_zone_is_refused_in_dutch(settings: Settings) -> None:
    env = service_env(settings, BONDGENOTEN_MASTER_KEY=MASTER_KEY)
    code, _, err = await run_cli(env, "reviews", "--from", "2026-11-01T08:00", "--to", "2026-12-01")
    assert code == 2 and "Ongeldige periode" in err
