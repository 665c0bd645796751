"""The rapid-convening workflow against a real nats-server: alerts reach a local webhook, the
ladder climbs on a durable timer, deliveries are retried and recorded, and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from nats.js import JetStreamContext

from domain.access import Principal, Role
from events.envelope import Envelope
from events.escalation import (
    AckTimeoutElapsed,
    AckTimerSet,
    ConveningCalled,
    CrisisAlertIssued,
    EscalationAcknowledged,
    EscalationOpened,
    RsvpDeadlinePassed,
    RsvpRecorded,
    RsvpReminderDue,
)
from events.notification import DeliveryFailed, DeliverySucceeded
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.projection_runner import ProjectionRunner
from services.adapters.jetstream.topology import Topology
from services.adapters.notify.cap import validate_cap
from services.app.readmodels import projections
from services.bootstrap import Service
from services.entrypoints.nats.api import command_subject
from services.settings import Settings
from tests.api_helpers import ACTOR, AREA, NETWORK, client_for, seed_network, signal_body
from tests.conftest import eventually, serve_in_background, settled, stream_messages, subject_counts
from tests.receivers import HttpReceiver, serve_receiver

POLICE = {"X-Actor": "police:teamchef-almere"}
COORDINATOR = {"X-Actor": "coordinator:netwerk-stad"}
DECLARE = {"area": AREA, "theme": "demonstration", "reason": "melding ME"}


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async for r in serve_receiver():
        yield r


def write_policy(
    path: Path,
    receiver: HttpReceiver,
    *,
    ack_timeout_s: float = 3600,
    open_band: str = "critical",
    min_reporters: int = 3,
    min_roles: int = 3,
    first_channels: str = '["webhook"]',
) -> Path:
    """Two levels: OOV by webhook (or CAP) at /oov, the police team chief at /teamchef;
    invitations to allies through a messaging gateway's webhook at /allies."""
    path.write_text(
        f"""
[default]
open_band = "{open_band}"
min_independent_reporters = {min_reporters}
min_roles = {min_roles}

[default.invitations]
channels = ["webhook"]
addresses = {{ webhook = "{receiver.url("/allies")}" }}

[[default.levels]]
name = "OOV"
ack_timeout_s = {ack_timeout_s}
repeat = 1
[[default.levels.recipients]]
name = "oov-piket"
channels = {first_channels}
addresses = {{ webhook = "{receiver.url("/oov")}", cap = "{receiver.url("/oov-cap")}" }}

[[default.levels]]
name = "Teamchef politie"
ack_timeout_s = 3600
repeat = 1
[[default.levels.recipients]]
name = "teamchef"
channels = ["webhook"]
addresses = {{ webhook = "{receiver.url("/teamchef")}" }}
""",
        encoding="utf-8",
    )
    return path


def with_policy(settings: Settings, policy: Path) -> Settings:
    return settings.model_copy(update=dict(escalation_policy=policy))


async def events_of(store: JetStreamEventStore, kind: str, event_type: type[Any]) -> list[Any]:
    return [e async for e in store.read(kinds=[kind]) if isinstance(e.data, event_type)]


async def timer_messages(js: JetStreamContext, t: Topology, timer_id: str) -> dict[str, int]:
    """What the timers stream holds for one timer: its schedule (``timer.at``) until it goes
    off, then what it fired (``timer.fired``)."""
    return await subject_counts(js, t.timers_stream, f"{t.subject_prefix}.timer.*.{timer_id}")


async def timer_gone_off(js: JetStreamContext, t: Topology, timer_id: str) -> dict[str, int]:
    """Once no schedule is pending for the timer (nothing is left that could fire it), what it
    fired; empty while its schedule is still pending."""
    counts = await timer_messages(js, t, timer_id)
    return {} if t.timer_at_subject(timer_id) in counts else counts


async def delivery_recorded(store: JetStreamEventStore, alert_id: str) -> bool:
    """The notifier recorded a successful delivery of the alert: it sends it no more."""
    receipts = await events_of(store, "notification", DeliverySucceeded)
    return any(r.data.alert_id == alert_id for r in receipts)


def assert_climbed_after_the_timeout(log: list[Envelope[Any]], ack_timeout_s: float) -> None:
    """From the log alone, with the times the service wrote (never the test's clock): the
    first alert's timer was due ``ack_timeout_s`` after opening, the climb was decided no
    earlier than that, and alert, timer, timeout and next alert were recorded in that order."""
    [opened] = [e for e in log if isinstance(e.data, EscalationOpened)]
    alerts = [e for e in log if isinstance(e.data, CrisisAlertIssued)]
    timers = [e for e in log if isinstance(e.data, AckTimerSet)]
    [elapsed] = [e for e in log if isinstance(e.data, AckTimeoutElapsed)]
    assert [a.data.level for a in alerts] == [1, 2]
    assert [t.data.level for t in timers] == [1, 2]
    first_timer, next_timer = timers
    assert first_timer.data.due_at == opened.data.opened_at + timedelta(seconds=ack_timeout_s)
    assert elapsed.data.timer_id == first_timer.data.timer_id
    assert alerts[0].position < first_timer.position < elapsed.position < alerts[1].position
    # The next level's timer is set from the moment the climb was decided.
    climbed_at = next_timer.data.due_at - timedelta(seconds=alerts[1].data.ack_timeout_s)
    assert climbed_at >= first_timer.data.due_at, (climbed_at, first_timer.data.due_at)


async def three_independent_signals(client: httpx.AsyncClient) -> None:
    """The demonstration case: an ally, the police and the municipality report the same
    thing."""
    for role, reporter in [("ally", "a1"), ("police", "wijkagent"), ("municipality", "oov")]:
        r = await client.post(
            "/api/v1/signals", json=signal_body(source_role=role, reporter=reporter)
        )
        assert r.status_code == 201, r.text


async def test_third_corroborating_signal_alerts_the_webhook(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    # How fast is a benchmark's business, not the suite's: here only that it alerts.
    policy = write_policy(tmp_path / "policy.toml", receiver)
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            await three_independent_signals(client)
            alert = await receiver.wait_for("/oov")
        body = alert.json()
        assert body["area"] == AREA and body["themes"] == ["demonstration"]
        assert body["band"] == "critical" and body["signal_count"] == 3
        assert body["headline_nl"].startswith("Spanning")
        # The acknowledge link opens a Dutch confirmation page for this recipient.
        assert "/bevestigen/" in body["ack_url"]
        async with httpx.AsyncClient() as browser:
            page = await browser.get(body["ack_url"])
        assert page.status_code == 200 and "Ik bevestig" in page.text
        assert alert.headers["idempotency-key"]
        await settled(service)
        assert receiver.to("/teamchef") == []  # nobody else until the timeout


async def test_ten_signals_for_one_area_and_theme_make_one_escalation(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver, min_reporters=2, min_roles=2)
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            roles = [("ally", "a1"), ("police", "wijkagent"), ("municipality", "oov")]
            for i in range(10):
                role, reporter = roles[i % 3]
                r = await client.post(
                    "/api/v1/signals",
                    json=signal_body(source_role=role, reporter=reporter, level=3 + i % 3),
                )
                assert r.status_code == 201, r.text
            await settled(service)
            listed = (await client.get("/api/v1/escalations")).json()
        assert len(listed) == 1
        assert len(listed[0]["signal_ids"]) == 10  # the ones before opening belong to it too
        store = service.infra.store
        assert len(await events_of(store, "escalation", EscalationOpened)) == 1
        assert len(receiver.to("/oov")) == 1


async def test_unacknowledged_alert_climbs_to_level_two_once(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=1.5)
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            r = await client.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
            assert r.status_code == 201, r.text
            first = await receiver.wait_for("/oov")
            second = await receiver.wait_for("/teamchef", timeout=15)
            assert second.json()["level_name"] == "Teamchef politie"
            for alert in (first.json(), second.json()):  # every level hears why
                assert alert["trigger"] == "declared" and alert["reason"] == "melding ME"
                assert alert["headline_nl"].startswith("Opgeschaald door politie/gemeente")
        store, js, t = service.infra.store, service.infra.js, service.infra.topology
        await settled(service)
        log = [e async for e in store.read(kinds=["escalation"])]
        assert_climbed_after_the_timeout(log, ack_timeout_s=1.5)
        # Nothing is left that could fire the first timer again, and what it fired is handled.
        timer_id = next(e.data.timer_id for e in log if isinstance(e.data, AckTimerSet))
        fired = await eventually(lambda: timer_gone_off(js, t, timer_id))
        assert fired == {t.timer_fired_subject(timer_id): 1}
        await settled(service)
        assert len(receiver.to("/teamchef")) == 1
        assert len(await events_of(store, "escalation", AckTimeoutElapsed)) == 1


async def test_acknowledged_alert_does_not_climb(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    # Long enough that the acknowledgement lands before the timer, also on a slow machine.
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=3.0)
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            r = await client.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
            escalation_id, position = r.json()["escalation_id"], r.json()["position"]
            url = f"/api/v1/escalations/{escalation_id}?min_position={position}"
            assert (await client.get(url)).status_code == 200
            await receiver.wait_for("/oov")
            r = await client.post(
                f"/api/v1/escalations/{escalation_id}/acknowledge",
                json={"note": "OOV pakt op"},
                headers={"X-Actor": "municipality:oov-piket"},
            )
            assert r.status_code == 200, r.text
            store, js, t = service.infra.store, service.infra.js, service.infra.topology
            await settled(service)  # the timer is scheduled
            [timer] = await events_of(store, "escalation", AckTimerSet)
            [ack] = await events_of(store, "escalation", EscalationAcknowledged)
            assert ack.recorded_at < timer.data.due_at, "acknowledged only after the timeout"
            # The timer goes off all the same: wait until it did and the workflow handled it.
            await eventually(lambda: timer_gone_off(js, t, timer.data.timer_id))
            await settled(service)
            record = (await client.get(f"/api/v1/escalations/{escalation_id}")).json()
        assert record["status"] == "acknowledged" and record["ack_due_at"] is None
        assert receiver.to("/teamchef") == []
        assert await events_of(store, "escalation", AckTimeoutElapsed) == []


async def test_failing_webhook_is_retried_and_recorded_and_a_rebuild_sends_nothing(
    settings: Settings,
    receiver: HttpReceiver,
    tmp_path: Path,
    store: JetStreamEventStore,
    js: JetStreamContext,
) -> None:
    receiver.by_path["/oov"] = [500, 503]
    policy = write_policy(tmp_path / "policy.toml", receiver)
    cfg = with_policy(settings, policy)
    async with serve_in_background(cfg) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            await three_independent_signals(client)
        await receiver.wait_for("/oov", count=3, timeout=10)
        await settled(service)
        reactor_names = [
            r.name for r in service.reactors if r.stream == store.topology.events_stream
        ]
    failed = await events_of(store, "notification", DeliveryFailed)
    succeeded = await events_of(store, "notification", DeliverySucceeded)
    assert [(f.data.attempt, f.data.will_retry) for f in failed] == [(1, True), (2, True)]
    assert [s.data.attempt for s in succeeded] == [3]

    # Replay while stopped: rebuild every projection, and let every reactor read the log again.
    for projection in projections(store.keys):
        await ProjectionRunner(js, store.topology, store, projection, store.keys).rebuild()
    for name in reactor_names:
        await js.delete_consumer(store.topology.events_stream, name)
    async with serve_in_background(cfg) as service:
        await settled(service)
        replayed = {r.name: r.handled for r in service.reactors}
    assert replayed["notifier"] > 0 and replayed["workflow_signals"] >= 3, replayed
    assert len(receiver.to("/oov")) == 3
    assert len(await events_of(store, "escalation", CrisisAlertIssued)) == 1
    assert len(await events_of(store, "notification", DeliverySucceeded)) == 1


async def test_cap_alert_sent_by_the_service_validates_against_the_xsd(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver, first_channels='["cap"]')
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            await three_independent_signals(client)
        cap = await receiver.wait_for("/oov-cap")
    assert cap.headers["content-type"].startswith("application/cap+xml")
    validate_cap(cap.body)  # raises with the schema's message if invalid
    root = etree.fromstring(cap.body)
    ns = {"cap": root.nsmap[None]}
    assert root.findtext("cap:scope", namespaces=ns) == "Restricted"
    assert root.findtext("cap:info/cap:language", namespaces=ns) == "nl-NL"


async def test_convening_is_quorate_only_when_affected_communities_are_covered(
    service: Service,
) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        r = await client.post(
            f"/api/v1/networks/{NETWORK}/allies",
            json={
                "ally_id": "a3",
                "areas": [AREA],
                "consent_to_be_called": True,
                "personal": {
                    "name": "Bondgenoot a3",
                    "phone": "+31 6 2222 3333",
                    "communities": ["moroccan"],
                },
            },
            headers=ACTOR,
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/escalations",
            json={"area": AREA, "theme": "demonstration", "reason": "oproep via sociale media"},
            headers=POLICE,
        )
        assert r.status_code == 201, r.text
        escalation_id = r.json()["escalation_id"]
        now = datetime.now(UTC)
        r = await client.post(
            f"/api/v1/escalations/{escalation_id}/convenings",
            json={
                "starts_at": (now + timedelta(hours=1)).isoformat(),
                "mode": "in_person",
                "place": "Buurthuis De Schakel",
                "communities": ["moroccan", "surinamese"],
                "rsvp_deadline": (now + timedelta(minutes=30)).isoformat(),
                "quorum": 2,
                "invited": ["a1", "a2", "a3"],
            },
            headers=ACTOR,
        )
        assert r.status_code == 201, r.text
        await settled(service)
        record = (await client.get(f"/api/v1/escalations/{escalation_id}")).json()
        (convening_id,) = record["convenings"]

        async def answer(ally: str, what: str) -> dict[str, Any]:
            r = await client.post(
                f"/api/v1/convenings/{convening_id}/rsvps",
                json={"ally_id": ally, "answer": what},
                headers=COORDINATOR,
            )
            assert r.status_code == 201, r.text
            await settled(service)
            status: dict[str, Any] = (await client.get(f"/api/v1/convenings/{convening_id}")).json()
            return status

        await answer("a1", "attending")
        status = await answer("a3", "attending")
        # Enough people said yes, but nobody from the Surinamese community is coming.
        assert status["attending"] == ["a1", "a3"] and not status["quorate"]
        assert status["missing_communities"] == ["surinamese"]
        status = await answer("a2", "attending")
        assert status["quorate"] and status["missing_communities"] == []
        review = (await client.get(f"/api/v1/escalations/{escalation_id}/events")).json()
        assert [e["type"] for e in review].count("escalation.convening-quorate") == 1
        # Who covers which community is special-category data: never served per ally.
        served = [
            (await client.get(f"/api/v1/escalations/{escalation_id}")).text,
            (await client.get("/api/v1/escalations")).text,
            json.dumps(review),
        ]
        for text in served:
            assert "communities_by_ally" not in text and '"personal"' not in text
            assert '"applied"' not in text
        assert '"surinamese"' in served[0]  # the required communities themselves are shown


async def test_escalation_commands_over_nats_request_reply(service: Service, nc: Any) -> None:
    t = service.infra.topology
    async with client_for(service) as client:
        await seed_network(client, service)

    async def ask(
        command: str, body: dict[str, Any] | bytes, actor: str = "police:meldkamer"
    ) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        role, identity = actor.split(":")
        principal = Principal(Role(role), identity)
        reply = await nc.request(
            command_subject(t.subject_prefix, f"escalation.{command}", principal), data, 5
        )
        answer: dict[str, Any] = json.loads(reply.data)
        return answer

    declared = await ask("declare", {**DECLARE, "command_id": "mk-2026-0042"})
    assert declared["ok"] and declared["event_types"][0] == "escalation.opened"
    escalation_id = declared["escalation_id"]
    again = await ask("declare", {**DECLARE, "command_id": "mk-2026-0042"})
    assert again["ok"] and again["duplicate"]
    ack = {"escalation_id": escalation_id, "command_id": "ack-1"}
    acked = await ask("acknowledge", ack, "municipality:oov")
    assert acked["event_types"] == ["escalation.acknowledged"]
    twice = await ask("acknowledge", {**ack, "command_id": "ack-2"}, "municipality:oov")
    assert not twice["ok"] and twice["errors"][0]["code"] == "conflict"
    unknown = await ask("acknowledge", {**ack, "escalation_id": "GM0034_x-1", "command_id": "3"})
    assert not unknown["ok"] and unknown["errors"][0]["field"] == "escalation_id"
    # The actor is the subject's identity; a role the matrix does not allow is refused.
    by_reviewer = await ask("close", {**ack, "command_id": "c1", "reason": "x"}, "reviewer:r1")
    assert not by_reviewer["ok"] and by_reviewer["errors"][0]["code"] == "forbidden"
    assert not (await ask("close", b"{not json"))["ok"]
    closed = await ask("close", {**ack, "command_id": "close-1", "reason": "rust teruggekeerd"})
    assert closed["event_types"] == ["escalation.closed"]
    kept = await stream_messages(nc, t.rejected_stream)
    assert len(kept) == 4  # every refused command is kept with its reason


async def test_escalation_http_errors_are_precise_and_kept(service: Service, nc: Any) -> None:
    async with client_for(service) as client:
        await seed_network(client, service)
        r = await client.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
        escalation_id = r.json()["escalation_id"]
        ack = f"/api/v1/escalations/{escalation_id}/acknowledge"
        assert (await client.post(ack, json={}, headers=ACTOR)).status_code == 200
        twice = await client.post(ack, json={}, headers=ACTOR)
        assert twice.status_code == 409 and twice.json()["errors"][0]["code"] == "conflict"
        unknown = await client.post(
            "/api/v1/escalations/GM0034_x-9/acknowledge", json={}, headers=ACTOR
        )
        assert unknown.status_code == 404
        ally = await client.post(
            "/api/v1/escalations", json=DECLARE, headers={"X-Actor": "ally:a1"}
        )
        assert ally.status_code == 403  # an ally may not declare (the matrix)
        assert ally.json()["errors"][0]["field"] == "Authorization"
        ghost = await client.post(
            f"/api/v1/escalations/{escalation_id}/convenings",
            json={"invited": ["ghost"]},
            headers=ACTOR,
        )
        assert ghost.status_code == 422 and ghost.json()["errors"][0]["field"] == "invited"
        no_token = await client.post(ack, json={}, headers={"Authorization": ""})
        assert no_token.status_code == 401
        assert no_token.json()["errors"][0]["field"] == "Authorization"
        bad_json = await client.post(
            "/api/v1/escalations",
            content=b"{nope",
            headers={**POLICE, "Content-Type": "application/json"},
        )
        assert bad_json.status_code == 400
    kept = await stream_messages(nc, service.infra.topology.rejected_stream)
    assert len(kept) == 6  # every refusal: the conflict, unknown, ally, ghost, token, JSON


async def test_the_workflow_proposes_a_convening_for_the_affected_communities(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver, min_reporters=2, min_roles=2)
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            await three_independent_signals(client)  # they name the youth
            r = await client.post(
                "/api/v1/signals",
                json=signal_body(reporter="a2", communities=["surinamese", "youth"]),
            )
            assert r.status_code == 201
            await settled(service)
            (record,) = (await client.get("/api/v1/escalations")).json()
            assert record["communities"] == ["youth", "surinamese"]
            url = f"/api/v1/escalations/{record['escalation_id']}"
            proposal = (await client.get(f"{url}/convening-proposal")).json()
            assert proposal["communities"] == ["youth", "surinamese"]
            assert set(proposal["invited"]) == {"a1", "a2"}  # the call list
            assert proposal["quorum"] == 2 and proposal["mode"] == "call"
            assert proposal["rsvp_deadline"] < proposal["starts_at"]
            # Confirming the proposal as it is: an empty body.
            r = await client.post(f"{url}/convenings", json={}, headers=ACTOR)
            assert r.status_code == 201, r.text
            (convening,) = (await client.get(url)).json()["convenings"].values()
        assert convening["required_communities"] == ["youth", "surinamese"]
        assert set(convening["invited"]) == {"a1", "a2"} and convening["quorum"] == 2


async def test_one_idempotency_key_on_two_escalations_acknowledges_both(service: Service) -> None:
    """Keys are scoped to the sender and the escalation: two systems that happen to use the
    same key must not have one acknowledgement swallowed as a duplicate of the other."""
    async with client_for(service) as client:
        await seed_network(client, service)
        ids = []
        for theme in ("demonstration", "public_order"):
            body = {**DECLARE, "theme": theme}
            r = await client.post("/api/v1/escalations", json=body, headers=POLICE)
            ids.append(r.json()["escalation_id"])
        for eid in ids:
            r = await client.post(
                f"/api/v1/escalations/{eid}/acknowledge",
                json={},
                headers={**ACTOR, "Idempotency-Key": "ack-1001"},
            )
            assert r.status_code == 200 and not r.json()["duplicate"], r.text
        for eid in ids:
            assert (await client.get(f"/api/v1/escalations/{eid}")).json()[
                "status"
            ] == "acknowledged"
        again = await client.post(
            f"/api/v1/escalations/{ids[0]}/acknowledge",
            json={},
            headers={**ACTOR, "Idempotency-Key": "ack-1001"},
        )
        assert again.status_code == 200 and again.json()["duplicate"]  # a true retry


async def test_allies_are_invited_and_reminded_once(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver)
    async with (
        serve_in_background(with_policy(settings, policy)) as service,
        client_for(service) as client,
    ):
        await seed_network(client, service)
        r = await client.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
        url = f"/api/v1/escalations/{r.json()['escalation_id']}"
        now = datetime.now(UTC)
        # The reminder is due halfway to the deadline: late enough that a1 has answered by
        # then, also on a slow machine (checked below from the log).
        r = await client.post(
            f"{url}/convenings",
            json={
                "invited": ["a1", "a2"],
                "starts_at": (now + timedelta(seconds=30)).isoformat(),
                "rsvp_deadline": (now + timedelta(seconds=6)).isoformat(),
            },
            headers=ACTOR,
        )
        assert r.status_code == 201, r.text
        first = await receiver.wait_for("/allies", count=2)
        (convening_id,) = (await client.get(url)).json()["convenings"]
        invited = {i.json()["ally_id"]: i.json() for i in receiver.to("/allies")}
        # a1 answers through the personal link in the invitation, as a person would.
        link = invited["a1"]["rsvp_url"]
        page = await client.get(link)
        assert page.status_code == 200 and "Ik kom" in page.text and "belafspraak" in page.text
        done = await client.post(link, params={"answer": "attending"})
        assert done.status_code == 200 and "Dank u wel" in done.text
        # A link altered to answer for someone else is refused, and nothing is recorded.
        convening, ally, _expires, _mac = link.rsplit("/", 1)[1].split(".")
        forged = link.replace(f"{convening}.{ally}.", f"{convening}.a2.")
        assert (await client.post(forged, params={"answer": "not_attending"})).status_code == 404
        # Answers given by phone are entered on the ally's behalf, by someone named.
        anon = await client.post(
            f"/api/v1/convenings/{convening_id}/rsvps",
            json={"ally_id": "a2", "answer": "later"},
            headers={"Authorization": ""},
        )
        assert anon.status_code == 401  # no token
        reminder = await receiver.wait_for("/allies", count=3, timeout=20)
        store = service.infra.store
        [called] = await events_of(store, "escalation", ConveningCalled)
        [answered] = await events_of(store, "escalation", RsvpRecorded)
        assert called.data.remind_at is not None
        assert answered.recorded_at < called.data.remind_at, "a1 answered after the reminder"
        # Past the deadline nothing more is sent: wait until the deadline timer went off and
        # everything it caused was handled.
        await eventually(lambda: events_of(store, "escalation", RsvpDeadlinePassed), timeout=20)
        await settled(service)
        assert len(await events_of(store, "escalation", RsvpReminderDue)) == 1
    invitations = [r.json() for r in receiver.to("/allies")[:2]]
    assert sorted(i["ally_id"] for i in invitations) == ["a1", "a2"]
    assert all(i["kind"] == "invitation" and i["convening_id"] == convening_id for i in invitations)
    assert invitations[0]["headline_nl"].startswith("Uitnodiging: belafspraak")
    assert all(f"/rsvp/{convening_id}." in i["rsvp_url"] for i in invitations)
    assert "Bondgenoot" not in first.body.decode() and "+31" not in first.body.decode()
    assert reminder.json()["kind"] == "reminder" and reminder.json()["ally_id"] == "a2"
    status = service.read.convening(convening_id)
    assert status is not None and status.answers == {"a1": "attending"}
    assert len(receiver.to("/allies")) == 3


async def test_allies_hear_when_a_convening_is_moved_or_called_off(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver)
    async with (
        serve_in_background(with_policy(settings, policy)) as service,
        client_for(service) as client,
    ):
        await seed_network(client, service)
        r = await client.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
        url = f"/api/v1/escalations/{r.json()['escalation_id']}"
        for key in ("first", "moved"):
            headers = {**ACTOR, "Idempotency-Key": key}
            r = await client.post(f"{url}/convenings", json={"invited": ["a1"]}, headers=headers)
            assert r.status_code == 201, r.text
        await receiver.wait_for("/allies", count=3)  # invitation, cancellation, invitation
        r = await client.post(f"{url}/close", json={"reason": "rust"}, headers=ACTOR)
        assert r.status_code == 200, r.text
        await receiver.wait_for("/allies", count=4)
        await settled(service)
        first_link = receiver.to("/allies")[0].json()["rsvp_url"]
        page = await client.get(first_link)
        status = (
            await client.get(f"/api/v1/convenings/{first_link.split('/')[-1].split('.')[0]}")
        ).json()
        odd = await client.post(first_link, params={"answer": "misschien"})
        weird = await client.get(first_link + "%C3%A9")
    # The moved meeting's cancellation went out before the new invitation.
    kinds = [r.json()["kind"] for r in receiver.to("/allies")]
    assert kinds == ["invitation", "cancellation", "invitation", "cancellation"]
    cancellations = [r.json() for r in receiver.to("/allies") if r.json()["kind"] == "cancellation"]
    assert all(c["headline_nl"].startswith("Gaat niet door") for c in cancellations)
    assert all(c["rsvp_url"] is None for c in cancellations)
    # The old link no longer offers to answer; the status says it was called off.
    assert page.status_code == 410 and "Ik kom" not in page.text
    assert status["cancelled_at"] is not None
    assert odd.status_code == 404 and odd.headers["content-type"].startswith("text/html")
    assert weird.status_code == 404 and "Link niet geldig" in weird.text


async def test_a_major_incident_does_not_wait_behind_routine_signals(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path, nc: Any
) -> None:
    """The urgent lane: with the routine lane held up at its first signal (a backlog), a
    major-incident signal sent over NATS opens and alerts; the routine ones open theirs once
    the lane moves again."""
    policy = write_policy(tmp_path / "policy.toml", receiver)
    async with serve_in_background(with_policy(settings, policy)) as service:
        t = service.infra.topology
        [routine_lane] = [r for r in service.reactors if r.name == "workflow_signals"]
        release, held = asyncio.Event(), []
        handle = routine_lane.handle

        async def held_up(raw: Any) -> None:
            held.append(raw.position)
            await release.wait()
            await handle(raw)

        routine_lane.handle = held_up
        async with client_for(service) as client:
            await seed_network(client, service)
            await three_independent_signals(client)  # enough to open, once handled
            await eventually(lambda: held)
            urgent = signal_body(
                themes=["polarisation"], reporter="wijkagent", source_role="police"
            )
            principal = Principal(Role.POLICE, "wijkagent")
            subject = command_subject(t.subject_prefix, "signal.submit-urgent", principal)
            reply = await nc.request(
                subject, json.dumps({**urgent, "command_id": "u1"}).encode(), 5
            )
            assert json.loads(reply.data)["ok"], reply.data
            alert = (await receiver.wait_for("/oov")).json()
            assert alert["themes"] == ["polarisation"]
            assert len(held) == 1  # the routine lane still waits at its first signal
            urgent_lane = await subject_counts(
                nc.jetstream(), t.events_stream, t.kind_filter("urgent")
            )
            assert sum(urgent_lane.values()) == 1
            release.set()
            await settled(service)
            listed = (await client.get("/api/v1/escalations")).json()
        assert sorted(e["theme"] for e in listed) == ["demonstration", "polarisation"]
        assert len(receiver.to("/oov")) == 2
