"""The contract HTTP and NATS clients rely on, tried from outside: one idempotency contract on
both channels, one error shape for every refusal (kept), read-your-writes with min_position,
and API documents that resolve and work offline."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from domain.access import Principal, Role
from services.bootstrap import Service
from services.entrypoints.nats.api import command_subject
from tests.api_helpers import ACTOR, AREA, client_for, seed_network, signal_body
from tests.conftest import stream_messages

POLICE = {"X-Actor": "police:meldkamer"}
JSON = "application/json"
HUGE_NUMBER = b'{"level": ' + b"9" * 4301 + b"}"

REPORTER = Principal(Role.ALLY, "a1")  # the NATS identity of signal_body's reporter


async def kept(service: Service, nc: NatsClient) -> list[Any]:
    return await stream_messages(nc, service.infra.topology.rejected_stream)


async def signals_in_log(service: Service) -> list[Any]:
    return [e async for e in service.infra.store.read(kinds=["signal"])]


async def test_idempotency_key_header_makes_a_signal_retry_a_noop(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        body = signal_body()
        headers = {"Idempotency-Key": "melding-2026-0001"}
        first = await client.post("/api/v1/signals", json=body, headers=headers)
        again = await client.post("/api/v1/signals", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["duplicate"] and again.json()["signal_id"] == first.json()["signal_id"]
    assert len(await signals_in_log(service)) == 1


async def test_command_id_makes_a_signal_retry_a_noop_over_nats(
    service: Service, nc: NatsClient
) -> None:
    async with client_for(service) as client:
        await seed_network(client)
    subject = command_subject(service.infra.topology.subject_prefix, "signal.submit", REPORTER)
    request = json.dumps({**signal_body(), "command_id": "mk-77"}).encode()
    first = json.loads((await nc.request(subject, request, 5)).data)
    again = json.loads((await nc.request(subject, request, 5)).data)
    assert first["ok"] and again["ok"], again
    assert again["duplicate"] and again["signal_id"] == first["signal_id"]
    assert len(await signals_in_log(service)) == 1


async def test_a_key_reused_for_another_command_is_refused_and_kept(
    service: Service, nc: NatsClient
) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        declare = {"area": AREA, "theme": "demonstration", "reason": "groep onderweg"}
        r = await client.post("/api/v1/escalations", json=declare, headers=POLICE)
        url = f"/api/v1/escalations/{r.json()['escalation_id']}/close"
        headers = {**ACTOR, "Idempotency-Key": "k-1"}
        closed = await client.post(url, json={"reason": "loos alarm"}, headers=headers)
        assert closed.status_code == 200, closed.text
        # The same key on the same escalation for a different command: refused, not a retry.
        r = await client.post(url, json={"reason": "iets anders"}, headers=headers)
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "idempotency_key_reused"
        retry = await client.post(url, json={"reason": "loos alarm"}, headers=headers)
        assert retry.status_code == 200 and retry.json()["duplicate"]
        mismatch = await client.post(
            "/api/v1/signals",
            json=signal_body(idempotency_key="a"),
            headers={"Idempotency-Key": "b"},
        )
        assert mismatch.status_code == 422
        assert mismatch.json()["errors"][0]["field"] == "idempotency_key"
    assert len(await kept(service, nc)) == 2


async def test_every_refusal_has_the_error_shape_and_is_kept(
    service: Service, nc: NatsClient
) -> None:
    async with client_for(service) as client:
        answers = [
            await client.get("/api/v1/no-such-route"),
            await client.delete("/api/v1/signals"),
            await client.post(
                "/api/v1/escalations/GM0034-stad_demonstration-1/acknowledge",
                content=b"{nope",
                headers={**ACTOR, "Content-Type": "application/json"},
            ),
            await client.post(
                "/api/v1/signals", content=b"reporter=a1", headers={"Content-Type": "text/plain"}
            ),
            await client.get("/api/v1/tension-map", params={"at": "0.5"}),
            await client.get("/api/v1/call-lists", params={"area": "nowhere"}),
        ]
    statuses = [a.status_code for a in answers]
    assert statuses == [404, 405, 400, 415, 422, 422], [a.text for a in answers]
    for a in answers:
        errors = a.json()["errors"]
        assert errors and set(errors[0]) == {"field", "message", "code"}, a.text
        assert "detail" not in a.json()
    assert answers[4].json()["errors"][0]["field"] == "at"
    assert len(await kept(service, nc)) == len(answers)


async def test_a_declaration_needs_a_known_theme_and_area(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        for body, field in [
            ({"area": AREA, "theme": "weather", "reason": "storm"}, "theme"),
            ({"area": "GM9999-nergens", "theme": "demonstration", "reason": "x"}, "area"),
        ]:
            r = await client.post("/api/v1/escalations", json=body, headers=POLICE)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
        assert (await client.get("/api/v1/escalations")).json() == []


async def test_a_write_answers_a_position_that_reads_can_wait_for(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        r = await client.post("/api/v1/signals", json=signal_body(level=5))
        position = r.json()["position"]
        view = await client.get(f"/api/v1/tension-map?area={AREA}&min_position={position}")
        assert view.status_code == 200 and view.json()["cells"], view.text

        async def lagging(position: int, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
            return False

        monkeypatch.setattr(service.read, "caught_up", lagging)
        ahead = await client.get(f"/api/v1/networks?min_position={position}")
    assert ahead.status_code == 503 and ahead.headers["Retry-After"] == "1"
    assert ahead.json()["errors"][0]["code"] == "not_caught_up"


async def test_the_openapi_document_resolves_and_declares_the_errors(service: Service) -> None:
    async with client_for(service) as client:
        doc = (await client.get("/api/v1/openapi.json")).json()
    text = json.dumps(doc)
    schemas = doc["components"]["schemas"]
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
        assert ref.removeprefix("#/components/schemas/") in schemas, f"unresolvable $ref {ref}"
    assert "$defs" not in text
    body = doc["paths"]["/api/v1/signals"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["level"]["maximum"] == 5
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            for status in ("400", "404", "409", "422", "503"):
                assert status in operation["responses"], (method, path, status)


async def test_the_api_docs_work_offline(service: Service) -> None:
    async with client_for(service) as client:
        page = await client.get("/api/v1/docs")
        urls = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page.text)
        assert urls and all(u.startswith("/") for u in urls), urls
        for url in urls:
            assert (await client.get(url)).status_code == 200, url


async def test_nats_refuses_a_body_that_is_not_json_and_keeps_it(
    service: Service, nc: NatsClient
) -> None:
    subject = command_subject(service.infra.topology.subject_prefix, "signal.submit", REPORTER)
    reply = json.loads(
        (await nc.request(subject, b"{nope", 5, headers={"content-type": "application/json"})).data
    )
    assert (
        reply
        == {
            "ok": False,
            "errors": [reply["errors"][0]],
        }
        and reply["errors"][0]["code"] == "invalid_json"
    )
    assert len(await kept(service, nc)) == 1


BODY_REFUSALS = [
    # (name, raw body, content type, status, field, code)
    ("1,000 levels of nesting", b"[" * 1000 + b"]" * 1000, JSON, 400, "$", "too_deep"),
    (
        "a 4,301-digit integer",
        b'{"level": ' + b"9" * 4301 + b"}",
        JSON,
        400,
        "$",
        "number_too_long",
    ),
    ("UTF-16", json.dumps(signal_body()).encode("utf-16"), JSON, 400, "$", "invalid_encoding"),
    ("text/plain", json.dumps(signal_body()).encode(), "text/plain", 415, "Content-Type", None),
    ("no Content-Type", json.dumps(signal_body()).encode(), None, 415, "Content-Type", None),
]
FIELD_REFUSALS = [
    # (name, overrides, field)
    ("year 1 in +01:00", {"occurred_at": "0001-01-01T00:00:00+01:00"}, "occurred_at"),
    ("Arabic-Indic digits", {"area": "GM\u0660\u0660\u0663\u0664-stad"}, "area"),
    ("only zero-width characters", {"summary": "\u200b\u200c\u200d"}, "summary"),
    ("NUL", {"summary": "groep\x00jongeren"}, "summary"),
    ("ANSI escapes", {"summary": "\x1b[31mgroep\x1b[0m"}, "summary"),
]


@pytest.mark.parametrize(("name", "body", "content_type", "status", "field", "code"), BODY_REFUSALS)
async def test_an_unreadable_body_is_a_precise_4xx_and_kept(
    service: Service,
    nc: NatsClient,
    name: str,
    body: bytes,
    content_type: str | None,
    status: int,
    field: str,
    code: str | None,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with client_for(service) as client:
        r = await client.post("/api/v1/signals", content=body, headers=headers)
    assert r.status_code == status, (name, r.text)
    error = r.json()["errors"][0]
    assert error["field"] == field and (code is None or error["code"] == code), error
    (kept_body,) = [m.data for m in await kept(service, nc)]
    assert kept_body == body


@pytest.mark.parametrize(("name", "overrides", "field"), FIELD_REFUSALS)
async def test_input_that_can_never_succeed_is_a_4xx_naming_the_field(
    service: Service, nc: NatsClient, name: str, overrides: dict[str, Any], field: str
) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        r = await client.post("/api/v1/signals", json=signal_body(**overrides))
    assert r.status_code == 422, (name, r.text)
    assert r.json()["errors"][0]["field"] == field
    subject = command_subject(service.infra.topology.subject_prefix, "signal.submit", REPORTER)
    request = json.dumps(signal_body(**overrides)).encode()
    reply = json.loads((await nc.request(subject, request, 5)).data)
    assert not reply["ok"] and reply["errors"][0]["field"] == field
    assert len(await kept(service, nc)) == 2


async def test_nats_refuses_what_json_cannot_hold_without_a_5xx(
    service: Service, nc: NatsClient
) -> None:
    subject = command_subject(service.infra.topology.subject_prefix, "signal.submit", REPORTER)
    for body in (b"[" * 1000 + b"]" * 1000, HUGE_NUMBER):
        reply = json.loads((await nc.request(subject, body, 5)).data)
        assert not reply["ok"] and reply["errors"][0]["code"] in ("too_deep", "number_too_long")
    assert len(await kept(service, nc)) == 2


async def test_an_error_does_not_echo_a_huge_list(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        themes = [f"theme_{i:05d}" for i in range(4000)]  # about 50 KB
        r = await client.post(
            "/api/v1/escalations",
            json={"area": AREA, "theme": "demonstration", "reason": "x", "communities": themes},
            headers=POLICE,
        )
    assert r.status_code == 422
    assert len(r.text) < 10_000, len(r.text)


async def test_errors_name_the_field_the_client_sent(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        bad_key = await client.post(
            "/api/v1/signals", json=signal_body(), headers={"Idempotency-Key": "twee woorden"}
        )
        bad_id = await client.post(
            "/api/v1/escalations/GM0034 stad!/acknowledge", json={}, headers=ACTOR
        )
        bad_network = await client.post(
            "/api/v1/networks/nw stad/allies", json={"ally_id": "a9"}, headers=ACTOR
        )
    assert bad_key.status_code == 422
    assert bad_key.json()["errors"][0]["field"] == "Idempotency-Key"
    assert bad_id.status_code == 422
    assert bad_id.json()["errors"][0]["field"] == "escalation_id"
    fields = {e["field"] for e in bad_network.json()["errors"]}
    assert "network_id" in fields and not fields & {"id", "correlation_id"}
