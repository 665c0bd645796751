"""The dashboard's API: who am I and what may I do, the map layers, the recent signals as the
role may see them, the live stream (Server-Sent Events) and its resume, and the demo login,
which mints only where the settings allow it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.access import MATRIX, Role
from services.bootstrap import Service
from services.settings import Settings
from tests.api_helpers import AREA, NETWORK, bearer, client_for, seed_network, signal_body
from tests.conftest import serve_in_background

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "services/entrypoints/http/static/dashboard"


@pytest.fixture
async def demo_service(settings: Settings) -> AsyncIterator[Service]:
    async with serve_in_background(settings.model_copy(update={"demo_login": True})) as svc:
        yield svc


async def first_update(lines: AsyncIterator[str]) -> dict[str, Any]:
    """The next ``update`` event of a stream (its lines), with its id."""
    event: dict[str, Any] = {}
    async for line in lines:
        if line.startswith("id:"):
            event["id"] = line.removeprefix("id:").strip()
        elif line.startswith("data:"):
            event["data"] = json.loads(line.removeprefix("data:"))
        elif not line and "data" in event:
            return event
    raise AssertionError("the stream ended without an update")


async def test_me_names_the_principal_and_exactly_its_actions(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        for role in (Role.CRISIS, Role.COORDINATOR, Role.REVIEWER):
            r = await client.get("/api/v1/me", headers=bearer(service, f"{role.value}:me-test"))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["actor"] == f"{role.value}:me-test"
            assert set(body["actions"]) == {a for a, roles in MATRIX.items() if role in roles}
        assert "escalation.acknowledge" not in body["actions"]  # the reviewer's
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_the_map_has_the_outlines_and_the_demo_areas(service: Service) -> None:
    async with client_for(service) as client:
        layers = (await client.get("/api/v1/map")).json()
    outlines = {f["id"] for f in layers["outlines"]["features"]}
    assert {"GM0034", "VR25"} <= outlines
    areas = {f["id"] for f in layers["areas"]["features"]}
    assert {"GM0034-stad", "GM0034-poort", "GM0034-haven"} <= areas
    assert "approximate" in layers["areas"]["note"].lower()


async def test_recent_signals_show_allies_by_pseudonym_to_who_does_not_call(
    service: Service,
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        r = await client.post("/api/v1/signals", json=signal_body())
        assert r.status_code == 201, r.text
        position = r.json()["position"]
        seen = {}
        for actor in ("crisis:feed-test", "municipality:feed-test"):
            r = await client.get(
                f"/api/v1/signals/recent?min_position={position}", headers={"X-Actor": actor}
            )
            assert r.status_code == 200, r.text
            seen[actor] = r.json()
    assert [s["reporter"] for s in seen["crisis:feed-test"]] == ["a1"]
    hidden = seen["municipality:feed-test"][0]["reporter"]
    assert hidden != "a1" and hidden.startswith("Bondgenoot ")
    assert seen["crisis:feed-test"][0]["area"] == AREA


async def test_the_live_stream_sends_the_picture_and_resumes_from_the_last_position(
    service: Service,
) -> None:
    headers = bearer(service, "crisis:live-test")
    async with client_for(service) as client:
        await seed_network(client, service)
        async with client.stream("GET", "/api/v1/live", headers=headers) as live:
            assert live.headers["content-type"].startswith("text/event-stream")
            first = await first_update(live.aiter_lines())
        assert set(first["data"]["parts"]) == {
            *("tension", "signals", "escalations", "networks"),
            *("pulses", "questions", "mobilisations"),
        }
        assert [n["network_id"] for n in first["data"]["parts"]["networks"]] == ["nw-stad"]
        position = int(first["id"])
        assert position == first["data"]["position"]

        # A signal while the client was away: resuming from the last id sends the picture again.
        r = await client.post("/api/v1/signals", json=signal_body())
        assert r.status_code == 201, r.text
        resumed = {**headers, "Last-Event-ID": str(position)}
        async with client.stream("GET", "/api/v1/live", headers=resumed) as live:
            update = await first_update(live.aiter_lines())
        assert int(update["id"]) >= r.json()["position"] > position
        signals = update["data"]["parts"]["signals"]
        assert [s["signal_id"] for s in signals] == [r.json()["signal_id"]]

        # Live: a change while connected arrives as an update of the parts it touched.
        async with client.stream("GET", "/api/v1/live", headers=headers) as live:
            lines = live.aiter_lines()
            await first_update(lines)
            r = await client.post("/api/v1/signals", json=signal_body(level=2))
            update = await first_update(lines)
        assert set(update["data"]["parts"]) == {"tension", "signals"}
        assert int(update["id"]) >= r.json()["position"]


async def test_the_live_picture_carries_pulses_questions_and_mobilisations_by_role(
    service: Service,
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)  # a1: moroccan, youth; a2: surinamese
        deadline = datetime.now(UTC) + timedelta(hours=1)
        writes = [
            (
                "/api/v1/pulses",
                {
                    "pulse_id": "p1",
                    "area": AREA,
                    "theme": "polarisation",
                    "question": "Hoe is de stemming?",
                    "deadline": deadline.isoformat(),
                    "communities": ["moroccan"],
                },
                "police:wijkagent-test",
            ),
            (
                "/api/v1/pulses/p1/answers",
                {"ally_id": "a1", "level": 4, "advice": "Praat met de imam"},
                "ally:a1",
            ),
            (
                "/api/v1/questions",
                {
                    "question_id": "q1",
                    "network_id": NETWORK,
                    "ally_id": "a1",
                    "text": "Komt er extra politie?",
                    "routed_to": "police",
                },
                "ally:a1",
            ),
            (
                "/api/v1/mobilisations",
                {
                    "request_id": "m1",
                    "area": AREA,
                    "task": "street_conversations",
                    "message": "Wilt u vanavond de straat op?",
                    "respond_by": deadline.isoformat(),
                },
                "crisis:sgbo-test",
            ),
        ]
        for path, body, actor in writes:
            r = await client.post(path, json=body, headers={"X-Actor": actor})
            assert r.status_code == 201, r.text
        position = r.json()["position"]
        seen = {}
        for actor in ("crisis:live-test", "municipality:live-test", "reviewer:live-test"):
            async with client.stream("GET", "/api/v1/live", headers=bearer(service, actor)) as live:
                update = await first_update(live.aiter_lines())
            assert int(update["id"]) >= position
            seen[actor.partition(":")[0]] = update["data"]["parts"]

    (pulse,) = seen["crisis"]["pulses"]
    assert pulse["invited"] == ["a1"] and pulse["levels"]["4"] == 1
    assert pulse["advice"][0]["advice"] == "Praat met de imam"
    (question,) = seen["crisis"]["questions"]
    assert (question["stage"], question["ally"], question["text"]) == (
        "open",
        "a1",
        "Komt er extra politie?",
    )
    (request,) = seen["crisis"]["mobilisations"]
    assert request["invited"] == 2 and request["not_answered"] == 2
    # The municipality sees what allies wrote but not who they are; the evaluator neither.
    (hidden,) = seen["municipality"]["questions"]
    assert hidden["ally"] != "a1" and hidden["text"] == "Komt er extra politie?"
    assert seen["municipality"]["pulses"][0]["answered"] != ["a1"]
    (review,) = seen["reviewer"]["questions"]
    assert review["ally"] == hidden["ally"] and review["text"] == ""
    assert seen["reviewer"]["pulses"][0]["advice"] == []


async def test_the_live_stream_needs_a_token_and_a_role_that_reads(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        assert (await client.get("/api/v1/live")).status_code == 401
        r = await client.get("/api/v1/live", headers=bearer(service, "ally:live-test"))
        assert r.status_code == 403
        assert r.json()["errors"][0]["code"] == "forbidden"


async def test_no_demo_login_unless_the_settings_allow_it(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        assert (await client.get("/api/v1/login/options")).json()["demo_roles"] == []
        r = await client.post("/api/v1/login/demo", json={"role": "crisis"})
        assert r.status_code == 404
        assert r.json()["errors"][0]["field"] == "role"


async def test_the_demo_login_mints_only_the_fixed_identity_of_a_role(
    demo_service: Service,
) -> None:
    async with httpx.AsyncClient(base_url=demo_service.http_url, timeout=10) as client:
        options = (await client.get("/api/v1/login/options")).json()
        assert "crisis" in options["demo_roles"] and "ally" not in options["demo_roles"]
        r = await client.post("/api/v1/login/demo", json={"role": "police"})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["actor"] == "police:teamchef-almere"
        refused = [
            await client.post("/api/v1/login/demo", json={"role": "ally"}),
            await client.post("/api/v1/login/demo", json={"role": "police", "id": "chosen"}),
        ]
        assert [x.status_code for x in refused] == [404, 422]


async def test_the_page_is_dutch_and_refers_to_nothing_outside_the_service(
    service: Service,
) -> None:
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert '<html lang="nl">' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        texts = json.loads(page.text.split('type="application/json">')[1].split("</script>")[0])
        assert texts["ui"]["act_acknowledge"] == "Bevestigen"
        for asset in ("dashboard.js", "dashboard.css"):
            assert (await client.get(f"/static/dashboard/{asset}")).status_code == 200
    for path in [*ASSETS.iterdir()]:
        source = path.read_text(encoding="utf-8")
        urls = {u for u in source.split() if "://" in u}
        assert all("www.w3.org/2000/svg" in u for u in urls), (path.name, urls)
