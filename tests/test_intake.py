"""Signal intake over HTTP and NATS against a real server: accept, deduplicate, refuse precisely,
and keep every refused input in the rejected stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from domain.access import Principal, Role
from services.bootstrap import Service
from services.entrypoints.nats.api import command_subject
from services.settings import Settings
from tests.api_helpers import client_for, seed_network, signal_body
from tests.conftest import serve_in_background, stream_messages

REPORTER = Principal(Role.ALLY, "a1")  # the NATS identity of signal_body's reporter


async def _signals_in_log(service: Service) -> list[Any]:
    return [e async for e in service.infra.store.read(kinds=["signal"])]


async def test_valid_signal_is_appended_and_answered_with_its_id(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        r = await client.post("/api/v1/signals", json=signal_body())
    assert r.status_code == 201, r.text
    answer = r.json()
    [stored] = await _signals_in_log(service)
    assert stored.data.signal_id == answer["signal_id"] and stored.position == answer["position"]
    assert stored.actor == "ally:a1"
    assert stored.recorded_at >= stored.occurred_at


async def test_same_idempotency_key_twice_creates_one_event(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        body = signal_body(idempotency_key="k-1")
        first = await client.post("/api/v1/signals", json=body)
        again = await client.post("/api/v1/signals", json=body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] and again.json()["signal_id"] == first.json()["signal_id"]
    assert len(await _signals_in_log(service)) == 1


async def test_a_key_reused_for_a_different_signal_is_refused_not_dropped(
    service: Service, nc: NatsClient
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        await client.post("/api/v1/signals", json=signal_body(idempotency_key="k-2"))
        other = signal_body(idempotency_key="k-2", summary="Iets anders gezien", level=2)
        r = await client.post("/api/v1/signals", json=other)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert len(await _signals_in_log(service)) == 1
    assert len(await stream_messages(nc, service.infra.topology.rejected_stream)) == 1


FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
INVALID: list[tuple[str, Any, int, str]] = [
    ("missing field", {k: v for k, v in signal_body().items() if k != "level"}, 422, "level"),
    ("wrong type", signal_body(level="hoog"), 422, "level"),
    ("unknown area", signal_body(area="GM0344-overvecht"), 422, "area"),
    ("malformed area", signal_body(area="Overvecht"), 422, "area"),
    ("unknown network", signal_body(network_id="nw-nowhere"), 422, "network_id"),
    ("level out of range", signal_body(level=9), 422, "level"),
    ("oversized text", signal_body(summary="x" * 2001), 422, "summary"),
    ("future occurred_at", signal_body(occurred_at=FUTURE), 422, "occurred_at"),
    ("naive occurred_at", signal_body(occurred_at="2026-11-23T10:00:00"), 422, "occurred_at"),
    ("unknown theme", signal_body(themes=["weather"]), 422, "themes"),
    ("ally not in network", signal_body(reporter="a9"), 422, "reporter"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), INVALID, ids=[c[0] for c in INVALID])
async def test_invalid_signal_gets_precise_error_and_is_kept(
    service: Service, nc: NatsClient, case: str, body: Any, status: int, field: str
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        r = await client.post("/api/v1/signals", json=body)
    assert r.status_code == status, r.text
    errors = r.json()["errors"]
    assert any(e["field"] == field for e in errors), errors
    assert all(e["message"] for e in errors)
    [kept] = await stream_messages(nc, service.infra.topology.rejected_stream)
    assert json.loads(kept.data) == body  # the input itself, byte for byte re-readable
    reasons = json.loads(kept.headers["Bg-Rejected-Reason"])
    assert any(e["field"] == field for e in reasons)
    assert await _signals_in_log(service) == []


@pytest.mark.parametrize(
    ("raw", "status"), [(b'{"reporter": "a1",', 400), (b"[1, 2, 3]", 422), (b"x" * 300_000, 413)]
)
async def test_unparseable_body_is_refused_and_kept(
    service: Service, nc: NatsClient, raw: bytes, status: int
) -> None:
    async with client_for(service) as client:
        r = await client.post(
            "/api/v1/signals", content=raw, headers={"content-type": "application/json"}
        )
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["field"] == "$"
    [kept] = await stream_messages(nc, service.infra.topology.rejected_stream)
    assert kept.data == raw


async def test_nats_request_reply_intake(service: Service, nc: NatsClient) -> None:
    subject = command_subject(service.infra.topology.subject_prefix, "signal.submit", REPORTER)
    async with client_for(service) as client:
        await seed_network(client, service)
    ok = json.loads((await nc.request(subject, json.dumps(signal_body()).encode(), 5)).data)
    assert ok["ok"] and ok["signal_id"]
    bad = json.loads((await nc.request(subject, json.dumps(signal_body(level=0)).encode(), 5)).data)
    assert not bad["ok"] and bad["errors"][0]["field"] == "level"
    garbage = json.loads((await nc.request(subject, b"{nope", 5)).data)
    assert not garbage["ok"] and garbage["errors"]
    facts = json.loads(
        (await nc.request(subject, json.dumps(signal_body(network_id="x")).encode(), 5)).data
    )
    assert not facts["ok"] and facts["errors"][0]["field"] == "network_id"
    kept = await stream_messages(nc, service.infra.topology.rejected_stream)
    assert len(kept) == 3
    assert len(await _signals_in_log(service)) == 1


async def test_membership_errors_are_precise(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        dup = await client.post(
            "/api/v1/networks/nw-stad/allies",
            json={
                "ally_id": "a1",
                "areas": ["GM0034-stad"],
                "consent_to_be_called": True,
                "personal": {"name": "X", "phone": "+31 6 1111 1111"},
            },
            headers={"X-Actor": "municipality:oov"},
        )
        unknown = await client.delete(
            "/api/v1/networks/nw-none/allies/a1", headers={"X-Actor": "municipality:oov"}
        )
        no_token = await client.delete(
            "/api/v1/networks/nw-stad/allies/a1", headers={"Authorization": ""}
        )
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "ally_id"
    assert unknown.status_code == 404
    assert no_token.status_code == 401
    assert no_token.json()["errors"][0]["field"] == "Authorization"


async def test_a_deployment_extends_the_theme_vocabulary(settings: Settings) -> None:
    with pytest.raises(ValueError, match="not a theme code"):
        Settings.model_validate({**settings.model_dump(), "extra_themes": ("Wateroverlast",)})
    extended = settings.model_copy(update=dict(extra_themes=("water_nuisance",)))
    async with serve_in_background(extended) as service, client_for(service) as client:
        await seed_network(client, service)
        ok = await client.post("/api/v1/signals", json=signal_body(themes=["water_nuisance"]))
        assert ok.status_code == 201, ok.text
        unknown = await client.post("/api/v1/signals", json=signal_body(themes=["hail"]))
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "themes"
        themes = (await client.get("/api/v1/themes")).json()
    assert (
        themes["water_nuisance"] == "water_nuisance" and themes["demonstration"] == "demonstratie"
    )


async def test_a_call_outcome_recorded_over_http_shows_in_the_call_list(
    service: Service,
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        params = {"area": "GM0034-stad", "themes": "demonstration", "communities": "youth"}
        before = (await client.get("/api/v1/call-lists", params=params)).json()
        assert before["entries"][0]["ally_id"] == "a1"  # a1 covers the youth
        r = await client.post(
            "/api/v1/networks/nw-stad/call-outcomes",
            json={"ally_id": "a1", "outcome": "no_answer", "caller": "oov-1"},
            headers={"X-Actor": "municipality:oov-1"},
        )
        assert r.status_code == 201, r.text
        await service.read.calls.wait_for(r.json()["position"])
        after = (await client.get("/api/v1/call-lists", params=params)).json()
        a1 = next(e for e in after["entries"] if e["ally_id"] == "a1")
        assert a1["last_call"]["outcome"] == "no_answer"
        assert "recent:no_answer" in a1["reasons"] and "not_called_yet" not in a1["reasons"]
        stranger = await client.post(
            "/api/v1/networks/nw-stad/call-outcomes",
            json={"ally_id": "nobody", "outcome": "reached", "caller": "oov-1"},
            headers={"X-Actor": "municipality:oov-1"},
        )
        assert stranger.status_code == 404


async def test_network_and_call_outcome_input_errors(service: Service, nc: NatsClient) -> None:
    oov = {"X-Actor": "municipality:oov-1"}
    async with client_for(service) as client:
        await seed_network(client, service)
        elsewhere = {"network_id": "nw-stad", "name": "Dubbel", "area": "GM0034-haven"}
        r = await client.post(
            "/api/v1/networks", json={**elsewhere, "areas": ["GM0034-haven"]}, headers=oov
        )
        assert r.status_code == 409 and r.json()["errors"][0]["field"] == "network_id"
        bad_theme = {
            "ally_id": "a9",
            "areas": ["GM0034-stad"],
            "themes": ["Not A Theme"],
            "consent_to_be_called": True,
            "personal": {"name": "X", "phone": "+31 6 1111 1111"},
        }
        r = await client.post("/api/v1/networks/nw-stad/allies", json=bad_theme, headers=oov)
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("themes")
        url = "/api/v1/networks/nw-stad/call-outcomes"
        future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
        r = await client.post(
            url,
            json={"ally_id": "a1", "outcome": "reached", "caller": "c", "occurred_at": future},
            headers=oov,
        )
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "in_future"
        # One key, two different calls (other allies): both are recorded; a retry is not.
        key = {**oov, "Idempotency-Key": "1"}
        for ally in ("a1", "a2"):
            r = await client.post(
                url, json={"ally_id": ally, "outcome": "reached", "caller": "c"}, headers=key
            )
            assert r.status_code == 201 and not r.json()["duplicate"], r.text
        again = await client.post(
            url, json={"ally_id": "a1", "outcome": "reached", "caller": "c"}, headers=key
        )
        assert again.json()["duplicate"]
    kept = await stream_messages(nc, service.infra.topology.rejected_stream)
    assert len(kept) == 3  # the second network, the malformed theme and the future call
