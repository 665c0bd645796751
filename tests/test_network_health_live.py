"""Acceptance against a real server (nats-server, the whole service, its HTTP API): health
flags for a network that missed its meeting cadence and its evaluation, and for a vacant
police seat, each with its reason; a handover clears the flag. Need to know: the allies not
reached are named by id for those who call, by pseudonym for the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.bootstrap import Service
from tests.api_helpers import NETWORK, client_for, seed_network

COORDINATOR = {"X-Actor": "coordinator:netwerk-stad"}
POLICE = {"X-Actor": "police:teamchef-almere"}
MUNICIPALITY = {"X-Actor": "municipality:oov-almere"}
REVIEWER = {"X-Actor": "reviewer:evaluatie"}


def flags(health: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in health["flags"]}


async def test_missed_cadence_evaluation_and_a_vacant_police_seat_then_a_handover(
    service: Service,
) -> None:
    async with client_for(service) as client:
        await seed_network(client)
        base = f"/api/v1/networks/{NETWORK}"
        r = await client.put(
            f"{base}/duty-contacts/police",
            json={
                "contact_id": "wijkagent-1",
                "function": "wijkagent",
                "personal": {"name": "W. Agent", "phone": "+31 6 5555 0001"},
            },
            headers=COORDINATOR,
        )
        assert r.status_code == 200, r.text
        r = await client.put(
            f"{base}/duty-contacts/municipality",
            json={
                "contact_id": "oov-1",
                "function": "OOV-adviseur",
                "personal": {"name": "O. Adviseur", "phone": "+31 6 5555 0002"},
            },
            headers=COORDINATOR,
        )
        assert r.status_code == 200, r.text
        soon = (datetime.now(UTC) + timedelta(days=20)).isoformat()
        r = await client.post(
            f"{base}/meetings",
            json={"meeting_id": "m1", "starts_at": soon, "place": "Buurthuis", "chair": "a1"},
            headers=COORDINATOR,
        )
        assert r.status_code == 201, r.text

        now = await client.get(f"{base}/health", headers=COORDINATOR)
        assert now.status_code == 200, now.text
        # just formed, both seats held, a meeting planned: only two allies yet
        assert set(flags(now.json())) == {"understaffed"}

        # Ten months on, nothing happened: the cadence and the evaluation are missed.
        later = (datetime.now(UTC) + timedelta(days=300)).isoformat()
        judged = await client.get(f"{base}/health", params={"at": later}, headers=COORDINATOR)
        assert judged.status_code == 200, judged.text
        found = flags(judged.json())
        assert found["meetings_below_target"]["params"] == {
            "held": 0,
            "expected": 3,
            "target": 4,
        }
        assert found["meetings_below_target"]["reason"] == (
            "In de afgelopen 12 maanden geen bijeenkomst(en) gehouden; verwacht waren er 3"
            " (doel: 4 per jaar)."
        )
        assert found["evaluation_overdue"]["reason"].startswith(
            "Nog nooit geëvalueerd, het netwerk bestaat al 30"
        )
        assert found["no_next_meeting"]["reason"].startswith("Er is geen volgende bijeenkomst")
        # the coordinator calls: allies by id; the municipality sees pseudonyms
        assert found["allies_not_reached"]["allies"] == ["a1", "a2"]
        seen = await client.get(f"{base}/health", params={"at": later}, headers=MUNICIPALITY)
        pseudonyms = flags(seen.json())["allies_not_reached"]["allies"]
        assert len(pseudonyms) == 2 and all(p.startswith("Bondgenoot ") for p in pseudonyms)
        # a reviewer may see the list of networks, not a network's health
        denied = await client.get(f"{base}/health", headers=REVIEWER)
        assert denied.status_code == 403, denied.text
        assert denied.json()["errors"][0]["code"] == "forbidden"

        # The police officer leaves without a successor: the seat is vacant, never silently.
        r = await client.post(
            f"{base}/seats/police/vacate", json={"reason": "nieuwe functie"}, headers=POLICE
        )
        assert r.status_code == 200, r.text
        vacant = flags((await client.get(f"{base}/health", headers=COORDINATOR)).json())
        assert vacant["seat_vacant"]["params"] == {"role": "police", "days": 0}
        assert vacant["seat_vacant"]["reason"] == (
            "De zetel van de politie is vacant sinds 0 dagen: stel een opvolger voor aan het"
            " netwerk."
        )
        listed = await client.get("/api/v1/networks", headers=REVIEWER)
        assert listed.status_code == 200
        (network,) = [n for n in listed.json() if n["network_id"] == NETWORK]
        assert "seat_vacant" in flags(network) and network["duty_contacts"]["police"] is False

        # The successor is introduced: the flag is gone, the seat held again.
        r = await client.post(
            f"{base}/seats/police/successor",
            json={
                "contact_id": "wijkagent-2",
                "function": "wijkagent",
                "personal": {"name": "N. Opvolger", "phone": "+31 6 5555 0003"},
            },
            headers=POLICE,
        )
        assert r.status_code == 200, r.text
        assert r.json()["event_types"] == [
            "network.duty-contact-assigned",
            "network.successor-introduced",
        ]
        after = await client.get(f"{base}/health", headers=COORDINATOR)
        assert set(flags(after.json())) == {"understaffed"}
        assert after.json()["duty_contacts"]["police"] is True

        # A refusal names the field and keeps the one error shape.
        successor = {
            "contact_id": "wijkagent-2",
            "function": "wijkagent",
            "personal": {"name": "N. Opvolger", "phone": "+31 6 5555 0003"},
        }
        twice = await client.post(f"{base}/seats/police/successor", json=successor, headers=POLICE)
        assert twice.status_code == 409, twice.text
        assert twice.json()["errors"][0]["field"] == "contact_id"
        cap = await client.put(f"{base}/settings", json={"size_cap": 9}, headers=COORDINATOR)
        assert cap.status_code == 422 and cap.json()["errors"][0]["field"] == "size_cap"

        life = await client.get(f"{base}/lifecycle", headers=REVIEWER)
        assert life.status_code == 200, life.text
        assert life.json()["seats"]["police"]["holder"] == "wijkagent-2"
        assert life.json()["members"] == {}  # no ally list here
