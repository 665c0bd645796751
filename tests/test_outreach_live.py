"""Acceptance of issue 12 items 3-5 against a real server (the service in-process on a real
nats-server): pulse checks reach exactly the selected allies, their answers move the tension
map and the summary, a late answer is recorded as late; a constituency question shows its
three moments and an unanswered one escalates after its time, once; an erased ally's answers
remain as erased; a mobilisation request is answered and reported back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from events.notification import DeliverySucceeded
from events.personal import ErasedPersonal
from events.pulse import PulseAnswerRecorded
from events.questions import QuestionEscalated, question_timer_id
from services.app.outreach import QUESTION_TIMER, QuestionTimer
from services.bootstrap import Service
from services.settings import Settings
from tests.api_helpers import AREA, NETWORK, client_for, seed_network
from tests.conftest import eventually, serve_in_background

POLICE = {"X-Actor": "police:wijkagent-stad"}
MUNICIPALITY = {"X-Actor": "municipality:oov-stad"}
COORDINATOR = {"X-Actor": "coordinator:netwerk-stad"}
CRISIS = {"X-Actor": "crisis:sgbo"}
ESCALATE_AFTER_S = 3.0


@pytest.fixture
async def outreach_service(settings: Settings) -> AsyncIterator[Service]:
    quick = settings.model_copy(update={"question_escalate_after_s": ESCALATE_AFTER_S})
    async with serve_in_background(quick) as svc:
        yield svc


def ally(ally_id: str) -> dict[str, str]:
    return {"X-Actor": f"ally:{ally_id}"}


async def enrol(client: Any, ally_id: str, communities: list[str]) -> None:
    r = await client.post(
        f"/api/v1/networks/{NETWORK}/allies",
        json={
            "ally_id": ally_id,
            "areas": [AREA],
            "themes": ["demonstration"],
            "consent_to_be_called": True,
            "personal": {
                "name": f"Bondgenoot {ally_id}",
                "phone": "+31 6 1234 5678",
                "communities": communities,
            },
        },
        headers=MUNICIPALITY,
    )
    assert r.status_code == 201, r.text


async def events_of(service: Service, kinds: list[str]) -> list[Any]:
    return [e async for e in service.infra.store.read(kinds=kinds)]


async def until_passed(moment: datetime) -> None:
    """Wait for the wall clock (the service's) to pass ``moment``: a condition, not a guess."""
    await eventually(lambda: datetime.now(UTC) > moment, timeout=30, what="deadline passed")


async def test_a_pulse_reaches_exactly_one_community_and_moves_map_and_summary(
    outreach_service: Service,
) -> None:
    service = outreach_service
    async with client_for(service) as client:
        await seed_network(client)  # a1: moroccan, youth; a2: surinamese
        await enrol(client, "a3", ["moroccan"])
        before = (await client.get("/api/v1/tension-map", params={"area": AREA})).json()
        assert before["cells"] == []

        deadline = datetime.now(UTC) + timedelta(seconds=2)
        r = await client.post(
            "/api/v1/pulses",
            json={
                "pulse_id": "p1",
                "area": AREA,
                "theme": "demonstration",
                "question": "Hoe is de stemming na de berichten over Turkije?",
                "deadline": deadline.isoformat(),
                "communities": ["moroccan"],
            },
            headers=POLICE,
        )
        assert r.status_code == 201, r.text

        # Reaches exactly them: invited, and a delivered message each (console channel).
        summary = (await client.get("/api/v1/pulses/p1", headers=CRISIS)).json()
        assert summary["invited"] == ["a1", "a3"]
        assert summary["asked_by"] == "police"

        async def delivered() -> set[str]:
            return {
                e.data.recipient
                for e in await events_of(service, ["notification"])
                if isinstance(e.data, DeliverySucceeded) and e.data.alert_id == "pls-p1"
            }

        assert await eventually(lambda: delivered(), what="pulse delivered") == {"a1", "a3"}
        # Someone not asked cannot answer.
        r = await client.post(
            "/api/v1/pulses/p1/answers", json={"ally_id": "a2", "level": 2}, headers=ally("a2")
        )
        assert r.status_code == 404, r.text
        assert r.json()["errors"][0]["field"] == "ally_id"
        # An ally answers only for themselves.
        r = await client.post(
            "/api/v1/pulses/p1/answers", json={"ally_id": "a3", "level": 2}, headers=ally("a1")
        )
        assert r.status_code == 403, r.text

        r = await client.post(
            "/api/v1/pulses/p1/answers",
            json={
                "ally_id": "a1",
                "level": 4,
                "note": "Veel boosheid bij de jongeren",
                "advice": "Zet de imam in bij het gesprek",
            },
            headers=ally("a1"),
        )
        assert r.status_code == 201, r.text
        await until_passed(deadline)
        r = await client.post(
            "/api/v1/pulses/p1/answers",
            json={"ally_id": "a3", "level": 5, "note": "Het broeit"},
            headers=COORDINATOR,  # the call taker, on a3's behalf
        )
        assert r.status_code == 201, r.text

        summary = (await client.get("/api/v1/pulses/p1", headers=CRISIS)).json()
        assert summary["answered"] == ["a1", "a3"]
        assert summary["late"] == ["a3"]
        assert summary["levels"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}
        assert summary["mean_level"] == 4.5
        assert [a["advice"] for a in summary["advice"]] == ["Zet de imam in bij het gesprek"]
        # The municipality sees pseudonyms, not ids or names.
        seen = (await client.get("/api/v1/pulses/p1", headers=MUNICIPALITY)).json()
        assert "a1" not in seen["answered"] and seen["answered"][0].startswith("Bondgenoot ")

        cells = (await client.get("/api/v1/tension-map", params={"area": AREA})).json()["cells"]
        assert [(c["theme"], c["distinct_reporters"]) for c in cells] == [("demonstration", 2)]
        assert cells[0]["score"] > 0

        r = await client.post(
            "/api/v1/pulses/p1/framework",
            json={"title": "Kader Turkije", "adopted": ["a1"], "measures": ["Extra surveillance"]},
            headers=MUNICIPALITY,
        )
        assert r.status_code == 200, r.text
        md = await client.get(
            "/api/v1/pulses/p1/framework", params={"format": "markdown"}, headers=CRISIS
        )
        assert md.status_code == 200, md.text
        assert "Zet de imam in bij het gesprek" in md.text and "Extra surveillance" in md.text

        # Erasure: a3's answer stays, as erased; the level still counts.
        r = await client.post(
            f"/api/v1/networks/{NETWORK}/allies/a3/erase",
            json={"reason": "verzoek van de bondgenoot"},
            headers=COORDINATOR,
        )
        assert r.status_code == 200, r.text
        summary = (await client.get("/api/v1/pulses/p1", headers=CRISIS)).json()
        a3 = next(a for a in summary["answers"] if a["ally_id"] == "a3")
        assert a3["erased"] and a3["note"] == "" and a3["level"] == 5
        stored = [
            e.data
            for e in await events_of(service, ["pulse"])
            if isinstance(e.data, PulseAnswerRecorded)
        ]
        by_ally = {e.ally_id: e for e in stored}
        assert isinstance(by_ally["a3"].personal, ErasedPersonal)
        assert not isinstance(by_ally["a1"].personal, ErasedPersonal)


async def test_questions_three_moments_and_one_escalation(outreach_service: Service) -> None:
    service = outreach_service
    async with client_for(service) as client:
        await seed_network(client)
        for question_id in ("q1", "q2"):
            r = await client.post(
                "/api/v1/questions",
                json={
                    "question_id": question_id,
                    "network_id": NETWORK,
                    "ally_id": "a1",
                    "text": "Wanneer gaat de tramhalte weer open?",
                    "routed_to": "municipality",
                },
                headers=ally("a1") if question_id == "q1" else COORDINATOR,
            )
            assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/questions/q1/answer",
            json={"answer": "Maandag, na het sporenonderzoek."},
            headers=MUNICIPALITY,
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            "/api/v1/questions/q1/relayed",
            json={"to": "de bondgenoot en de moskeebesturen"},
            headers=COORDINATOR,
        )
        assert r.status_code == 201, r.text
        q1 = (await client.get("/api/v1/questions/q1", headers=CRISIS)).json()
        assert q1["raised_via"] == "link"
        assert q1["raised_at"] <= q1["answered_at"] <= q1["relayed"][0]["relayed_at"]
        assert q1["relayed"][0]["to"] == "de bondgenoot en de moskeebesturen"

        open_ = (await client.get("/api/v1/questions/open", params={"network_id": NETWORK})).json()
        assert [q["question_id"] for q in open_] == ["q2"]
        assert open_[0]["age_s"] >= 0

        async def escalated() -> Any:
            q2 = (await client.get("/api/v1/questions/q2", headers=CRISIS)).json()
            return q2 if q2["escalated_at"] else None

        q2 = await eventually(escalated, timeout=30, what="q2 escalated")
        assert q2["escalated_level"] == 1 and q2["escalated_to"] == ["console"]
        assert q2["raised_via"] == "call_taker"
        # The timer delivered again (a redelivery, a replay): nothing new.
        payload = QuestionTimer(timer_id=question_timer_id("q2"), question_id="q2", area=AREA)
        await service.workflow.other_timers[QUESTION_TIMER](payload.model_dump_json().encode())
        stored = [
            e.data
            for e in await events_of(service, ["question"])
            if isinstance(e.data, QuestionEscalated)
        ]
        assert [e.question_id for e in stored] == ["q2"]
        q1 = (await client.get("/api/v1/questions/q1", headers=CRISIS)).json()
        assert q1["escalated_at"] is None


async def test_a_mobilisation_is_accepted_and_reported_back(outreach_service: Service) -> None:
    async with client_for(outreach_service) as client:
        await seed_network(client)
        r = await client.post(
            "/api/v1/mobilisations",
            json={
                "request_id": "m1",
                "area": AREA,
                "task": "street_conversations",
                "message": "Ga vanavond in gesprek met de jongeren op het plein.",
                "respond_by": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "communities": ["youth"],
            },
            headers=CRISIS,
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/mobilisations/m1/reports",
            json={"ally_id": "a1", "report": "Gesprek gevoerd"},
            headers=ally("a1"),
        )
        assert r.status_code == 409, r.text  # report only after accepting
        r = await client.post(
            "/api/v1/mobilisations/m1/answers",
            json={"ally_id": "a1", "answer": "accept"},
            headers=ally("a1"),
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/mobilisations/m1/reports",
            json={"ally_id": "a1", "report": "Gesprek gevoerd, het is rustig"},
            headers=ally("a1"),
        )
        assert r.status_code == 201, r.text
        m = (await client.get("/api/v1/mobilisations/m1", headers=CRISIS)).json()
        assert m["invited"] == ["a1"] and m["answers"] == {"a1": "accept"}
        assert m["reports"][0]["report"] == "Gesprek gevoerd, het is rustig"
