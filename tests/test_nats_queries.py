"""The reads over NATS (``<prefix>.query.<role>.<id>.<query>``) against a real server: the
same answers as HTTP ``/api/v1`` (one handler table), both kinds of time, the matrix, the
one error shape, and refused input kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.access import Role, allowed, principal_of
from services.adapters.clock import FixedClock
from services.app.queries import QUERIES
from services.bootstrap import Service
from services.entrypoints.nats.client import IntegrationClient, PermissionDenied
from services.settings import Settings
from tests.api_helpers import AREA, NETWORK, client_for, seed_network, signal_body
from tests.conftest import serve_in_background, settled, stream_messages
from tests.service_process import run_cli, service_env
from tests.test_nats_authorization import IDENTITIES, as_identity, secured  # noqa: F401
from tests.test_time_travel import capture

MINUTE = timedelta(minutes=1)
READER = ("crisis", "test-reader")
"""The identity `capture` reads as over HTTP (X-Actor ``crisis:test-reader``)."""


async def connect(service: Service, role: str, identity: str) -> IntegrationClient:
    return await IntegrationClient.connect(
        service.infra.nats_url,
        role=role,
        id=identity,
        subject_prefix=service.infra.topology.subject_prefix,
    )


async def ask(client: IntegrationClient, name: str, **params: Any) -> Any:
    reply = await client.query(name, params)
    assert reply["ok"], (name, reply)
    return reply["result"]


async def capture_over_nats(
    client: IntegrationClient, coordinator: IntegrationClient, when: dict[str, str]
) -> dict[str, Any]:
    """Every read model as the NATS queries show it, in the shape of ``capture`` (HTTP)."""
    escalations = await ask(client, "escalations", **when)
    ids = [e["escalation_id"] for e in escalations]
    return {
        "tension": await ask(client, "tension-map", **when),
        "calls": await ask(client, "call-list", area=AREA, themes=["demonstration"], **when),
        "networks": await ask(client, "networks", **when),
        "health": await ask(coordinator, "network-health", network_id=NETWORK, **when),
        "escalations": escalations,
        "details": [await ask(client, "escalation", escalation_id=i, **when) for i in ids],
        "timelines": [await ask(client, "escalation-events", escalation_id=i, **when) for i in ids],
    }


async def test_queries_over_nats_answer_as_http_does_at_every_moment(settings: Settings) -> None:
    """Live, ``as_known_at`` and ``as_of``: NATS answers exactly what HTTP answers, and
    ``as_known_at=T`` over NATS equals the live read models taken at T."""
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    async with (
        serve_in_background(settings, clock=clock) as service,
        client_for(service) as http,
        await connect(service, READER[0], READER[1]) as reader,
        await connect(service, "coordinator", "test") as coordinator,
    ):
        await seed_network(http, service)
        captured: list[tuple[datetime, dict[str, Any]]] = []
        # a1 now, the police a minute later, and a2's signal typed in late (15 min before).
        for reporter, role, level, ago in [
            ("a1", "ally", 4, 2),
            ("wijkagent", "police", 4, 1),
            ("a2", "ally", 3, 15),
        ]:
            occurred = (clock.now() - ago * MINUTE).isoformat()
            body = signal_body(
                source_role=role, reporter=reporter, level=level, occurred_at=occurred
            )
            assert (await http.post("/api/v1/signals", json=body)).status_code == 201
            position = await settled(service)
            live = await capture_over_nats(reader, coordinator, {"min_position": position})
            assert live == await capture(http, {}), "NATS and HTTP answer alike, live"
            captured.append((clock.now(), live))
            clock.advance(minutes=10)
        assert captured[-1][1]["escalations"], "the run opens an escalation"
        for moment, live in captured:
            when = {"as_known_at": moment.isoformat()}
            assert await capture_over_nats(reader, coordinator, when) == live, moment
        # Valid time: as of just after a2's signal occurred, it counts, though typed in later.
        late_at = (captured[2][0] - 14 * MINUTE).isoformat()
        as_of = await capture_over_nats(reader, coordinator, {"as_of": late_at})
        assert as_of == await capture(http, {"as_of": late_at})
        levels = sorted(s["level"] for c in as_of["tension"]["cells"] for s in c["signals"])
        assert levels == [3, 4]
        known_then = {"as_of": late_at, "as_known_at": captured[1][0].isoformat()}
        cells = (await ask(reader, "tension-map", **known_then))["cells"]
        assert [s["level"] for c in cells for s in c["signals"]] == [4]
        # The CLI (``bondgenoten query``) answers from the same table, replaying the log.
        env = service_env(settings)
        moment, live = captured[1]
        for name, args in [("tension-map", []), ("escalations", [])] + [
            ("escalation", [f"escalation_id={e['escalation_id']}"]) for e in live["escalations"]
        ]:
            code, out, err = await run_cli(
                env, "query", name, *args, "--as-known-at", moment.isoformat()
            )
            assert code == 0, err
            assert json.loads(out) == await ask(
                reader, name, as_known_at=moment.isoformat(), **dict(a.split("=") for a in args)
            ), name
        code, out, err = await run_cli(env, "query", "tension-map", "--as-of", late_at)
        assert code == 0 and json.loads(out) == as_of["tension"], err
        # ... as a reviewer: no call lists (contact details) from the command line.
        code, out, err = await run_cli(env, "query", "call-list", f"area={AREA}")
        assert code == 2 and "beoordelaar" in err and not out
        code, _, err = await run_cli(env, "query", "tension-map", "--as-of", "gisteren")
        assert code == 2 and "as_of" in err


async def test_a_bad_query_gets_the_one_error_shape_and_is_kept(service: Service, nc: Any) -> None:
    async with await connect(service, "police", "meldkamer") as police:
        bad = await police.query("tension-map", {"as_of": "gisteren"})
        assert bad["ok"] is False and set(bad) == {"ok", "errors"}, bad
        assert [e["field"] for e in bad["errors"]] == ["as_of"]
        unknown = await police.query("escalation", {"escalation_id": "esc-bestaat-niet"})
        assert (unknown["errors"][0]["field"], unknown["errors"][0]["code"]) == (
            "escalation_id",
            "not_found",
        )
        extra = await police.query("networks", {"actor": "crisis:burgemeester"})
        assert extra["errors"][0]["field"] == "actor"
    kept = await stream_messages(nc, service.infra.topology.rejected_stream)
    channels = [(m.headers or {}).get("Bg-Rejected-Channel") for m in kept]
    assert channels.count("nats.query.tension-map") == 1, channels
    assert b"gisteren" in next(
        m.data
        for m in kept
        if (m.headers or {}).get("Bg-Rejected-Channel") == "nats.query.tension-map"
    )


async def test_a_reviewer_reads_an_incidents_events_by_pseudonym_over_nats(
    settings: Settings,
) -> None:
    async with (
        serve_in_background(settings) as service,
        client_for(service) as http,
        await connect(service, "reviewer", "eval") as reviewer,
    ):
        await seed_network(http, service)
        declared = await http.post(
            "/api/v1/escalations",
            json={"area": AREA, "theme": "demonstration", "reason": "groep onderweg"},
            headers={"X-Actor": "police:meldkamer"},
        )
        assert declared.status_code == 201, declared.text
        escalation_id = declared.json()["escalation_id"]
        position = await settled(service)
        events = await ask(
            reviewer, "escalation-events", escalation_id=escalation_id, min_position=position
        )
        assert events[0]["type"].startswith("escalation."), events
        assert any(e["type"].startswith("notification.") for e in events), "its alert too"
        text = json.dumps(events)
        assert "+31" not in text and "Bondgenoot a" not in text, "no name or phone of an ally"
        calls = await reviewer.query("call-list", {"area": AREA})
        assert calls["errors"][0]["code"] == "forbidden", "a reviewer calls nobody"


# ---------------------------------------------------------------- on the secured server


@pytest.mark.parametrize("query", [q.NAME for q in QUERIES])
async def test_each_identity_may_only_query_what_the_matrix_allows(
    secured: Service,  # noqa: F811
    query: str,
) -> None:
    action = next(q.ACTION for q in QUERIES if query == q.NAME)
    for role, identity in IDENTITIES.items():
        async with await as_identity(secured, role) as client:
            reply = await client.query(query, {"network_id": NETWORK, "escalation_id": "x"})
            if allowed(principal_of(role.value, identity), action):
                codes = {e["code"] for e in reply.get("errors", [])}
                assert "forbidden" not in codes, (role, query, reply)
            else:
                assert reply["ok"] is False
                assert (reply["errors"][0]["code"], reply["errors"][0]["field"]) == (
                    "forbidden",
                    "subject",
                ), (role, query, reply)


async def test_another_identitys_query_subject_is_denied(secured: Service) -> None:  # noqa: F811
    async with await as_identity(secured, Role.ALLY) as ally:
        subject = "bg.query.crisis.sgbo.call-list"
        with pytest.raises(PermissionDenied) as denied:
            await ally.request_raw(subject, b"{}")
        assert denied.value.subject.lower() == subject
