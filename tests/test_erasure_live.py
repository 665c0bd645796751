"""Acceptance: an ally's personal data is stored only sealed, and erasing the ally leaves none
of it anywhere (store files of every stream and bucket, logs, review, call list, network
counts), while their signals and the tension map stay as they were. Against a real server:
the service as its own process with its embedded nats-server and data directory."""

from __future__ import annotations

import asyncio
import base64
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats

from events.network import AllyEnrolled, ErasedPersonal
from events.signals import SignalReceived
from services.adapters.jetstream.embedded import free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.keystore import NatsKeyStore
from services.adapters.jetstream.topology import Topology
from services.app.personal import Keyring
from services.settings import Settings
from tests.api_helpers import AREA, NETWORK, signal_body, signed_client
from tests.conftest import DATA, MASTER_KEY, eventually
from tests.service_process import service_env, start_service

ACTOR = {"X-Actor": "municipality:oov-test"}
POLICE = {"X-Actor": "police:teamchef-almere"}
COORDINATOR = {"X-Actor": "coordinator:netwerk-stad"}
# What only the erased ally has: to be found nowhere afterwards.
NAME = "Zoë Vermeulen-Tesfaye"
PHONE = "+31 6 9081 7263"
EMAIL = "zoe.vt.erase@example.nl"
COMMUNITY = "zzgemeenschap_q7"
SECRETS = [NAME, PHONE, EMAIL, COMMUNITY, "Vermeulen", "9081 7263", "zoe.vt.erase"]


def _found(haystack: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in haystack]


def scan_files(root: Path) -> dict[str, list[str]]:
    hits = {}
    for path in root.rglob("*"):
        if path.is_file() and (found := _found(path.read_bytes())):
            hits[str(path.relative_to(root))] = found
    return hits


def read_all(root: Path, pattern: str) -> bytes:
    return b"".join(p.read_bytes() for p in root.glob(pattern) if p.is_file())


async def test_erased_ally_leaves_no_personal_data_and_history_stays(tmp_path: Path) -> None:
    data = tmp_path / "data"
    nats_port = free_port()
    settings = Settings(http_port=free_port(), nats_url=None, escalation_policy=DATA)
    env = {
        "NATS_URL": "",
        "BONDGENOTEN_DATA_DIR": str(data),
        "BONDGENOTEN_NATS_PORT": str(nats_port),
        "BONDGENOTEN_MASTER_KEY": MASTER_KEY,
        "BONDGENOTEN_LOG_LEVEL": "DEBUG",
    }
    log = tmp_path / "service.log"
    policy = DATA / "policy-console.toml"
    proc = await start_service(settings, policy, log, **env)
    base = f"http://127.0.0.1:{settings.http_port}/api/v1"
    try:
        async with signed_client(
            settings.model_copy(update={"data_dir": data}), base_url=base, timeout=10
        ) as client:
            escalation_id, tension_at, tension_before = await _story(client)
            assert scan_files(data) == {}, "personal data in plaintext before erasure"
            # The scan does read the store: the signals' text is there, in plaintext.
            summary = signal_body()["summary"].encode()
            assert summary in read_all(data, "**/*")

            r = await client.post(
                f"/networks/{NETWORK}/allies/a9/erase",
                json={"reason": "verzoek van de bondgenoot (AVG art. 17)"},
                headers=COORDINATOR,
            )
            assert r.status_code == 200, r.text
            assert r.json()["event_types"] == ["network.ally-erased"]
            position = r.json()["position"]
            again = await client.post(
                f"/networks/{NETWORK}/allies/a9/erase",
                json={"reason": "nogmaals"},
                headers=COORDINATOR,
            )
            assert again.status_code == 200 and again.json()["event_ids"] == [], again.text

            after = await _reads(client, escalation_id, tension_at, position)
            assert after["tension"] == tension_before
            assert "a9" not in [e["ally_id"] for e in after["call_list"]["entries"]]
            assert after["networks"][0]["members"] == 2
            for what in ("call_list", "review", "networks", "escalation"):
                assert _found(repr(after[what]).encode()) == [], what
            # Every past event reads the ally as erased; their signals stay theirs.
            events = await _events(nats_port, data)
            enrolled = [e.data for e in events if isinstance(e.data, AllyEnrolled)]
            a9 = [e for e in enrolled if e.ally_id == "a9"]
            assert len(a9) == 1 and isinstance(a9[0].personal, ErasedPersonal)
            assert all(not isinstance(e.personal, ErasedPersonal) for e in enrolled if e != a9[0])
            signals = [e.data for e in events if isinstance(e.data, SignalReceived)]
            assert [s.reporter.id for s in signals].count("a9") == 2
    finally:
        proc.terminate()
        await proc.wait()

    # Rebuild every projection from the log, start again: the same picture.
    rebuilt = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services",
        "rebuild",
        env=service_env(settings, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await rebuilt.communicate()
    assert rebuilt.returncode == 0, err.decode()
    proc = await start_service(settings, policy, log, **env)
    try:
        async with signed_client(
            settings.model_copy(update={"data_dir": data}), base_url=base, timeout=10
        ) as client:
            again_reads = await _reads(client, escalation_id, tension_at, 0)
            assert again_reads["tension"] == tension_before
            assert again_reads["networks"] == after["networks"]
            assert again_reads["call_list"]["entries"] == after["call_list"]["entries"]
            assert again_reads["review"] == after["review"]
    finally:
        proc.terminate()
        await proc.wait()

    assert scan_files(data) == {}, "personal data left in the store after erasure"
    assert _found(read_all(tmp_path, "service.*") + out + err) == []


async def _story(client: httpx.AsyncClient) -> tuple[str, str, Any]:
    """Demo-like data: a network, three allies (a9 to be erased), a duty contact, signals by
    a9 and another, an escalation with a convening a9 answers, a call to a9, and a refused
    enrolment of a9 (kept in the rejected stream)."""
    r = await client.post(
        "/networks",
        json={"network_id": NETWORK, "name": "Netwerk Stad", "area": AREA, "areas": [AREA]},
        headers=ACTOR,
    )
    assert r.status_code == 201, r.text
    allies = [
        ("a1", "Bondgenoot Een", "+31 6 1111 2222", None, ["moroccan", "youth"]),
        ("a2", "Bondgenoot Twee", "+31 6 3333 4444", None, ["surinamese"]),
        ("a9", NAME, PHONE, EMAIL, [COMMUNITY, "youth"]),
    ]
    for ally_id, name, phone, email, communities in allies:
        personal: dict[str, Any] = {"name": name, "phone": phone, "communities": communities}
        if email:
            personal["email"] = email
        body = {
            "ally_id": ally_id,
            "areas": [AREA],
            "themes": ["demonstration"],
            "consent_to_be_called": True,
            "personal": personal,
        }
        if ally_id == "a9":  # a typo first: refused, and kept without the personal part
            bad = {**body, "personal": {**personal, "phone": "bel me"}}
            refused = await client.post(f"/networks/{NETWORK}/allies", json=bad, headers=ACTOR)
            assert refused.status_code == 422, refused.text
        r = await client.post(f"/networks/{NETWORK}/allies", json=body, headers=ACTOR)
        assert r.status_code == 201, r.text
    r = await client.put(
        f"/networks/{NETWORK}/duty-contacts/police",
        json={
            "contact_id": "wijkagent-3",
            "function": "wijkagent",
            "personal": {"name": "Jan Wachter", "phone": "+31 6 7777 8888"},
        },
        headers=ACTOR,
    )
    assert r.status_code == 200, r.text
    now = datetime.now(UTC)
    for i, reporter in enumerate(["a9", "a1", "a9"]):
        occurred = (now - timedelta(minutes=10 - i)).isoformat()
        body = signal_body(reporter=reporter, occurred_at=occurred, level=3)
        r = await client.post("/signals", json=body)
        assert r.status_code == 201, r.text
    r = await client.post(
        "/escalations",
        json={"area": AREA, "theme": "demonstration", "reason": "oproep via sociale media"},
        headers=POLICE,
    )
    assert r.status_code == 201, r.text
    escalation_id = r.json()["escalation_id"]
    r = await client.post(
        f"/escalations/{escalation_id}/convenings",
        json={
            "starts_at": (now + timedelta(hours=1)).isoformat(),
            "mode": "in_person",
            "place": "Buurthuis De Schakel",
            "communities": ["youth"],
            "rsvp_deadline": (now + timedelta(minutes=30)).isoformat(),
            "quorum": 2,
            "invited": ["a1", "a9"],
        },
        headers=ACTOR,
    )
    assert r.status_code == 201, r.text
    record = (
        await client.get(
            f"/escalations/{escalation_id}", params={"min_position": r.json()["position"]}
        )
    ).json()
    (convening_id,) = record["convenings"]
    r = await client.post(
        f"/convenings/{convening_id}/rsvps",
        json={"ally_id": "a9", "answer": "attending"},
        headers=COORDINATOR,  # entered on the ally's behalf (a phone call)
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/networks/{NETWORK}/call-outcomes",
        json={"ally_id": "a9", "outcome": "reached", "caller": "crisis-1"},
        headers=ACTOR,
    )
    assert r.status_code == 201, r.text
    position = r.json()["position"]
    tension_at = datetime.now(UTC).isoformat()
    before = await _reads(client, escalation_id, tension_at, position)
    shown = {e["ally_id"]: e for e in before["call_list"]["entries"]}
    assert shown["a9"]["name"] == NAME  # the read models work on opened data
    assert before["networks"][0]["members"] == 3
    return escalation_id, tension_at, before["tension"]


async def _reads(
    client: httpx.AsyncClient, escalation_id: str, tension_at: str, position: int
) -> dict[str, Any]:
    p = {"min_position": position}

    async def tension() -> Any:
        # As of a fixed moment after the signals: a replay of the log, unaffected by erasure.
        r = await client.get("/tension-map", params={"at": tension_at, **p})
        return r.json() if r.status_code == 200 else None

    return {
        "tension": await eventually(tension, timeout=20, what="the tension map"),
        "call_list": (
            await client.get(
                "/call-lists",
                params={"area": AREA, "communities": "youth", **p},
            )
        ).json(),
        "networks": (await client.get("/networks", params=p)).json(),
        "review": (await client.get(f"/escalations/{escalation_id}/events", params=p)).json(),
        "escalation": (await client.get(f"/escalations/{escalation_id}", params=p)).json(),
    }


async def _events(nats_port: int, data: Path) -> list[Any]:
    # The embedded server admits only known nkeys: read the log as the service does.
    seed = data / "nats" / "identities" / "service.nk"
    nc = await nats.connect(f"nats://127.0.0.1:{nats_port}", nkeys_seed=str(seed))
    try:
        topology = Topology()
        keys = Keyring(
            NatsKeyStore(nc.jetstream(), topology.keys_bucket, base64.b64decode(MASTER_KEY))
        )
        store = JetStreamEventStore(nc, topology, keys=keys)
        return [e async for e in store.read()]
    finally:
        await nc.close()
