"""Access control over HTTP against a real server: the role × action matrix (generated from
domain.access.MATRIX and the OpenAPI document, so it cannot drift), token validation, who the
actor is, need to know, expiring links and the audit trail."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from structlog.testing import capture_logs

from domain.access import (
    MATRIX,
    OUTSIDE_ROLES,
    SEES_CONTACT_DETAILS,
    Forbidden,
    Principal,
    Role,
    principal_of,
)
from services.adapters.clock import FixedClock
from services.adapters.identity.local import LocalIssuer
from services.adapters.jetstream.secrets import shared_secret
from services.app import commands as c
from services.app.audit import Recorder
from services.app.links import rsvp_links
from services.app.ports import AuditEntry
from services.bootstrap import Service
from services.entrypoints.cli import matrix_table
from tests.api_helpers import (
    AREA,
    NETWORK,
    bearer,
    client_for,
    seed_network,
    signal_body,
    token_for,
)

ROOT = Path(__file__).resolve().parents[1]
PARAM = re.compile(r"\{(\w+)\}")


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path with ids filled in, action) of every route that declares its action."""
    found = []
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            streams = "text/event-stream" in operation["responses"].get("200", {}).get(
                "content", {}
            )
            if "x-action" in operation and not streams:  # a stream never ends: tested apart
                concrete = PARAM.sub(lambda m: "GM0034-stad" if m[1] == "area" else "x1", path)
                found.append((method.upper(), concrete, operation["x-action"]))
    return found


async def test_every_role_may_do_exactly_what_the_matrix_says(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        openapi = (await client.get("/api/v1/openapi.json")).json()
        ops = operations(openapi)
        commands = {command.NAME for command in c.COMMANDS}
        http_only = {"signal.cap"}  # CAP 1.2 in (outbound.subscribe is NATS only)
        expected = {a for a in MATRIX if a.startswith("read.") or a in commands | http_only}
        assert {action for _, _, action in ops} == expected  # every action has a route
        assert "bearer" in openapi["components"]["securitySchemes"]
        wrong = []
        for method, path, action in ops:
            body = {} if method in ("POST", "PUT") else None
            anonymous = await client.request(method, path, json=body)
            if anonymous.status_code != 401 or "Bearer" not in anonymous.headers.get(
                "www-authenticate", ""
            ):
                wrong.append((method, path, "anonymous", anonymous.status_code))
            for role in Role:
                headers = bearer(service, f"{role.value}:matrix-test")
                r = await client.request(method, path, json=body, headers=headers)
                allowed = role in MATRIX[action]
                if allowed and r.status_code in (401, 403):
                    wrong.append((method, path, role.value, r.status_code, r.text))
                if not allowed and r.status_code != 403:
                    wrong.append((method, path, role.value, r.status_code))
                if not allowed and r.json()["errors"][0]["code"] != "forbidden":
                    wrong.append((method, path, role.value, r.text))
    assert wrong == []


async def test_a_token_that_does_not_prove_who_sent_it_is_401(
    service: Service, tmp_path: Path
) -> None:
    assert service.issuer is not None
    own = service.issuer
    crisis = Principal(Role.CRISIS, "sgbo")
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    impostor = LocalIssuer(tmp_path, own.issuer, own.audience)  # same names, another key
    tokens = {
        "wrong issuer": LocalIssuer(own.key_path.parent, "https://evil.example").mint(
            crisis, now, hour
        ),
        "wrong audience": LocalIssuer(own.key_path.parent, own.issuer, "other").mint(
            crisis, now, hour
        ),
        "expired": own.mint(crisis, now - 3 * hour, hour),
        "bad signature": impostor.mint(crisis, now, hour),
        "unsigned": jwt.encode(
            {
                "iss": own.issuer,
                "aud": own.audience,
                "sub": "sgbo",
                "roles": ["crisis"],
                "exp": int((now + hour).timestamp()),
            },
            None,
            algorithm="none",
        ),
        "garbage": "not-a-jwt",
    }
    async with httpx.AsyncClient(base_url=service.http_url) as client:
        good = await client.get(
            "/api/v1/escalations",
            headers={"Authorization": f"Bearer {own.mint(crisis, now, hour)}"},
        )
        assert good.status_code == 200, good.text
        for why, token in tokens.items():
            r = await client.get(
                "/api/v1/escalations", headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 401, (why, r.text)
            assert r.json()["errors"][0] == {
                "field": "Authorization",
                "message": r.json()["errors"][0]["message"],
                "code": "unauthenticated",
            }
            assert r.headers["www-authenticate"].startswith("Bearer"), why


async def test_the_actor_comes_from_the_token_never_from_a_header(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        r = await client.post(
            "/api/v1/escalations",
            json={"area": AREA, "theme": "demonstration", "reason": "melding"},
            headers={**bearer(service, "police:meldkamer"), "X-Actor": "crisis:someone-else"},
        )
        assert r.status_code == 201, r.text
        record = (await client.get(f"/api/v1/escalations/{r.json()['escalation_id']}")).json()
    actors = {entry["actor"] for entry in record["timeline"]}
    assert "police:meldkamer" in actors and "crisis:someone-else" not in actors


async def test_an_ally_reports_only_in_their_own_name(service: Service) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        as_other = await client.post(
            "/api/v1/signals", json=signal_body(reporter="a1"), headers=bearer(service, "ally:a2")
        )
        police_as_ally = await client.post(
            "/api/v1/signals", json=signal_body(), headers=bearer(service, "police:wijkagent-3")
        )
        own = await client.post(
            "/api/v1/signals", json=signal_body(reporter="a2"), headers=bearer(service, "ally:a2")
        )
    assert as_other.status_code == 403 and as_other.json()["errors"][0]["field"] == "reporter"
    assert police_as_ally.status_code == 403
    assert police_as_ally.json()["errors"][0]["field"] == "source_role"
    assert own.status_code == 201, own.text


async def test_only_those_who_call_see_contact_details(service: Service) -> None:
    params = {"area": AREA, "themes": "demonstration", "communities": "youth"}
    async with client_for(service) as client:
        await seed_network(client, service)
        seen = {}
        for role in (Role.CRISIS, Role.MUNICIPALITY):
            r = await client.get(
                "/api/v1/call-lists", params=params, headers=bearer(service, f"{role}:x")
            )
            assert r.status_code == 200, r.text
            seen[role] = r.json()["entries"]
    assert Role.CRISIS in SEES_CONTACT_DETAILS and Role.MUNICIPALITY not in SEES_CONTACT_DETAILS
    assert {e["name"] for e in seen[Role.CRISIS]} == {"Bondgenoot a1", "Bondgenoot a2"}
    assert all(e["phone"] for e in seen[Role.CRISIS])
    for entry in seen[Role.MUNICIPALITY]:
        assert re.fullmatch(r"Bondgenoot [0-9a-f]{6}", entry["name"]), entry
        assert entry["phone"] == "" and entry["email"] is None and entry["communities"] == []
    # the same ally has the same pseudonym every time
    again = await httpx.AsyncClient(base_url=service.http_url).get(
        "/api/v1/call-lists", params=params, headers=bearer(service, "municipality:y")
    )
    assert [e["name"] for e in again.json()["entries"]] == [
        e["name"] for e in seen[Role.MUNICIPALITY]
    ]


async def test_an_expired_personal_link_says_so_in_dutch(service: Service) -> None:
    secret = await shared_secret(service.infra.js, service.infra.topology, "rsvp")
    links = rsvp_links(secret, service.http_url)
    now = datetime.now(UTC)
    async with httpx.AsyncClient() as browser:
        expired = await browser.get(links.url("c1", "a1", now - timedelta(minutes=1)))
        answered = await browser.post(
            links.url("c1", "a1", now - timedelta(minutes=1)), params={"answer": "attending"}
        )
        unknown = await browser.get(links.url("c1", "a1", now + timedelta(hours=1)))
    assert expired.status_code == 410 and "Link verlopen" in expired.text
    assert answered.status_code == 410 and "Link verlopen" in answered.text
    assert unknown.status_code == 404  # valid, but no such meeting


def signed_link(secret: bytes, base: str, purpose: str, first: str, second: str) -> str:
    """A link signed as the service signs them, for any ids: one issued before links were
    refused for ids that name no principal."""
    at = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    message = f"{purpose}:{first}:{second}:{at}".encode()
    mac = hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]
    path = {"rsvp": "rsvp", "ack": "bevestigen"}[purpose]
    return f"{base}/{path}/{first}.{second}.{at}.{mac}"


async def test_a_link_whose_id_names_no_principal_is_an_unknown_link(service: Service) -> None:
    """An event token (``A-17``) need not be a principal id (lowercase): such a link acts as
    nobody, and says so in Dutch, instead of failing (503 for ever, or 500)."""
    secret = await shared_secret(service.infra.js, service.infra.topology, "rsvp")
    now = datetime.now(UTC)
    police = bearer(service, "police:teamchef")
    async with client_for(service) as client:
        await seed_network(client, service)
        declare = {"area": AREA, "theme": "demonstration", "reason": "melding ME"}
        r = await client.post("/api/v1/escalations", json=declare, headers=police)
        assert r.status_code == 201, r.text
        escalation_id = r.json()["escalation_id"]
        r = await client.post(
            f"/api/v1/escalations/{escalation_id}/convenings",
            json={
                "invited": ["a1"],
                "starts_at": (now + timedelta(hours=1)).isoformat(),
                "rsvp_deadline": (now + timedelta(minutes=30)).isoformat(),
            },
            headers=police,
        )
        assert r.status_code == 201, r.text
        (convening_id,) = (await client.get(f"/api/v1/escalations/{escalation_id}")).json()[
            "convenings"
        ]
    base = service.http_url
    async with httpx.AsyncClient(timeout=10) as browser:
        rsvp_ok = await browser.get(signed_link(secret, base, "rsvp", convening_id, "a1"))
        ack_ok = await browser.get(signed_link(secret, base, "ack", escalation_id, "oov-piket"))
        assert rsvp_ok.status_code == 200 and ack_ok.status_code == 200  # signed as we do
        rsvp = signed_link(secret, base, "rsvp", convening_id, "A-17")
        ack = signed_link(secret, base, "ack", escalation_id, "A-17")
        pages = [
            await browser.get(rsvp),
            await browser.post(rsvp, params={"answer": "attending"}),
            await browser.get(ack),
            await browser.post(ack),
        ]
    assert [p.status_code for p in pages] == [404] * 4, [p.text for p in pages]
    assert all("Link niet geldig" in p.text for p in pages)
    trail = [e async for e in service.audit.entries(since=now)]
    assert not [e for e in trail if "A-17" in e.actor]
    refused = {
        (e.actor, e.action, e.result, e.detail) for e in trail if e.object.startswith("link:")
    }
    assert refused == {
        ("anonymous", action, "denied", "unknown link")
        for action in ("link.rsvp.open", "link.rsvp.use", "link.ack.open", "link.ack.use")
    }


async def test_commands_denials_and_call_list_reads_are_audited_for_admins_only(
    service: Service,
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with client_for(service) as client:
        await seed_network(client, service)  # commands by municipality:oov-test
        denied = await client.post(
            "/api/v1/escalations", json={}, headers=bearer(service, "reviewer:evaluator")
        )
        assert denied.status_code == 403
        read = await client.get(
            "/api/v1/call-lists", params={"area": AREA}, headers=bearer(service, "crisis:sgbo")
        )
        assert read.status_code == 200
        as_crisis = await client.get("/api/v1/audit", headers=bearer(service, "crisis:sgbo"))
        trail = await client.get(
            "/api/v1/audit",
            params={"since": since.isoformat()},
            headers=bearer(service, "admin:beheer"),
        )
        only_reviewer = await client.get(
            "/api/v1/audit",
            params={"actor": "reviewer:evaluator"},
            headers=bearer(service, "admin:beheer"),
        )
    assert as_crisis.status_code == 403
    assert trail.status_code == 200, trail.text
    entries = trail.json()
    lines = {(e["actor"], e["action"], e["result"]) for e in entries}
    assert ("municipality:oov-test", "network.form", "ok") in lines
    assert ("reviewer:evaluator", "escalation.declare", "denied") in lines
    assert ("crisis:sgbo", "read.call-list", "revealed") in lines
    assert ("crisis:sgbo", "read.audit", "denied") in lines
    formed = next(e for e in entries if e["action"] == "network.form")
    assert formed["object"] == f"network:{NETWORK}" and formed["origin"].startswith("http ")
    assert "+31" not in trail.text and "Bondgenoot a1" not in trail.text  # ids only
    assert {e["actor"] for e in only_reviewer.json()} == {"reviewer:evaluator"}


async def test_an_audit_outage_is_logged_and_changes_no_answer(service: Service) -> None:
    """One failure policy wherever the trail is written (commands, denials, tokens): a gap is
    logged (``audit.not_recorded``), the answer stays what it was: never a 503 for a 401."""
    await service.infra.js.delete_stream(service.infra.topology.audit_stream)  # the outage
    async with client_for(service) as client:
        anonymous = await client.get("/api/v1/audit", headers={"Authorization": ""})
        crisis = await client.get("/api/v1/audit", headers=bearer(service, "crisis:sgbo"))
        await seed_network(client, service)  # commands: 201 each
    assert anonymous.status_code == 401, anonymous.text
    assert crisis.status_code == 403, crisis.text
    token = await service.token_for("coordinator:netwerk-stad", ttl=timedelta(minutes=5))
    assert service.issuer is not None and token


def test_an_audit_entry_that_cannot_be_recorded_is_logged_not_raised() -> None:
    class Away:
        async def record(self, entry: AuditEntry) -> None:
            raise ConnectionError("audit stream away")

        def entries(
            self, *, since: datetime | None = None, actor: str | None = None
        ) -> AsyncGenerator[AuditEntry, None]:
            raise NotImplementedError

    recorder = Recorder(Away(), FixedClock(datetime(2026, 3, 14, 21, 5, tzinfo=UTC)))
    with capture_logs() as logs:
        asyncio.run(recorder.record("crisis:sgbo", "read.audit", "/x", "denied", channel="http"))
    assert [(e["event"], e["action"], e["error"]) for e in logs] == [
        ("audit.not_recorded", "read.audit", "ConnectionError")
    ]


def test_no_credential_from_outside_names_the_service() -> None:
    assert principal_of("police", "meldkamer-oost") == Principal(Role.POLICE, "meldkamer-oost")
    for role, id_ in [("service", "x"), ("police", "A-17"), ("nobody", "x")]:
        with pytest.raises(Forbidden):
            principal_of(role, id_)
    assert Role.SERVICE not in OUTSIDE_ROLES and len(OUTSIDE_ROLES) == len(Role) - 1


def test_the_readme_shows_the_matrix_that_is_enforced() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- matrix:start -->\n", "\n<!-- matrix:end -->"
    assert start in readme and end in readme
    table = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == matrix_table(), "run `bondgenoten matrix` and paste it into the README"


def test_tokens_of_the_built_in_issuer_carry_the_principal(tmp_path: Path) -> None:
    issuer = LocalIssuer(tmp_path, "http://127.0.0.1:8080")
    assert (tmp_path / "issuer-es256.pem").stat().st_mode & 0o777 == 0o600
    again = LocalIssuer(tmp_path, "http://127.0.0.1:8080")  # the key is kept, not made anew
    assert again.jwks() == issuer.jwks()
    token = token_for(issuer, "coordinator:netwerk-stad")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "netwerk-stad" and claims["roles"] == ["coordinator"]
