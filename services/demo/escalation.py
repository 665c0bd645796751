"""The second half of the demo: one escalation end to end, through the public HTTP API, as the
crisis organisation would drive it: alert, no acknowledgement, next level, acknowledgement,
convening, answers until quorate, de-escalation, closing, and the review replayed from the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from domain.policy import policy_for
from services.demo import data
from services.texts_nl.alerts import NO_GAPS, datetime_nl, gaps_nl, grip_nl
from services.texts_nl.console import (
    RSVP_LABELS,
    SENTENCES,
    TRIGGER_LABELS,
    timeline_label,
)
from services.texts_nl.labels import MODE_LABELS

if TYPE_CHECKING:
    from services.bootstrap import Service

Say = Callable[..., None]
TEAMCHEF = {"X-Actor": "police:teamchef-almere"}
OOV = {"X-Actor": "municipality:oov-almere"}


async def _json(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"demo: {response.request.url} answered {response.text}")
    return response.json()


async def _poll(
    client: httpx.AsyncClient, url: str, ready: Callable[[Any], bool], seconds: float
) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await _json(await client.get(url))
        if ready(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


def _open_for(area: str, theme: str) -> Callable[[Any], bool]:
    return lambda items: any(e["area"] == area and e["theme"] == theme for e in items)


async def play_escalation(client: httpx.AsyncClient, service: Service, say: Say, step: Say) -> None:
    step("step_escalation")
    listed = await _poll(
        client, "/api/v1/escalations?open=true", _open_for(data.STAD, "demonstration"), 5
    )
    found = [e for e in listed if e["area"] == data.STAD and e["theme"] == "demonstration"]
    if found:
        eid = found[0]["escalation_id"]
    else:  # the thresholds of a custom policy were not met: the police declare one
        declared = await client.post(
            "/api/v1/escalations",
            json={"area": data.STAD, "theme": "demonstration", "reason": data.NOTES["declare"]},
            headers=TEAMCHEF,
        )
        eid = (await _json(declared))["escalation_id"]
    record = await _json(await client.get(f"/api/v1/escalations/{eid}"))
    say(
        "escalation_opened",
        escalation_id=eid,
        trigger=TRIGGER_LABELS.get(record["trigger"], record["trigger"]),
        grip=grip_nl(record["suggested_grip"]),
    )
    url = f"/api/v1/escalations/{eid}"
    timeout = policy_for(service.workflow.policies, data.STAD).levels[0].ack_timeout_s
    if record["level"] == 1 and record["status"] == "alerted" and timeout <= 60:
        step("step_no_ack", seconds=f"{timeout:g}")
        await _poll(client, url, lambda r: r["level"] >= 2, timeout + 10)
    step("step_acknowledge", who=data.NOTES["acknowledged_by"])
    ack = await client.post(
        f"{url}/acknowledge", json={"note": data.NOTES["acknowledge"]}, headers=TEAMCHEF
    )
    if ack.status_code != 409:  # already acknowledged when the demo is played again
        await _json(ack)

    step("step_convening")
    proposal = await _json(await client.get(f"{url}/convening-proposal"))
    say(
        "convening_proposal",
        mode=MODE_LABELS[proposal["mode"]],
        place=f"({proposal['place']}) " if proposal["place"] else "",
        starts_at=_hhmm(proposal["starts_at"]),
        deadline=_hhmm(proposal["rsvp_deadline"]),
        invited=len(proposal["invited"]),
        communities=gaps_nl(proposal["communities"]),
        quorum=proposal["quorum"],
    )
    choice = data.CONVENING
    say(
        "convening_choice",
        mode=MODE_LABELS[choice["mode"]],
        place=choice["place"],
        quorum=choice["quorum"],
    )
    await _json(
        await client.post(
            f"{url}/convenings",
            json=data.CONVENING,  # the rest of the proposal stands
            headers={**OOV, "Idempotency-Key": f"demo-convene-{eid}"},
        )
    )
    convening_id = list((await _json(await client.get(url)))["convenings"])[-1]
    for batch in (data.RSVPS_BEFORE_QUORUM, data.RSVPS_TO_QUORUM):
        for ally_id, answer in batch:
            await _json(
                await client.post(
                    f"/api/v1/convenings/{convening_id}/rsvps",
                    json={"ally_id": ally_id, "answer": answer},
                    headers=OOV,  # answers received by phone, entered by the OOV
                )
            )
            say("rsvp", name=ally_id, answer=RSVP_LABELS[answer])
        status = await _json(await client.get(f"/api/v1/convenings/{convening_id}"))
        print_convening(status, say)
    await _json(await client.post(f"/api/v1/convenings/{convening_id}/convened", headers=OOV))

    step("step_de_escalate")
    reason = {"reason": data.NOTES["de_escalate"]}
    await _json(await client.post(f"{url}/de-escalate", json=reason, headers=OOV))
    await _json(
        await client.post(f"{url}/close", json={"reason": data.NOTES["close"]}, headers=OOV)
    )

    step("step_review")
    record = await _json(await client.get(url))
    for entry in record["timeline"]:
        at = datetime.fromisoformat(entry["at"])
        what = timeline_label(entry["summary_key"], entry["params"])
        say("timeline_entry", at=datetime_nl(at, "%H:%M:%S"), what=what, actor=entry["actor"])
    review = await _json(await client.get(f"{url}/review"))
    receipts = sum(1 for e in review if e["type"].startswith("notification."))
    say("review_summary", events=len(review), receipts=receipts)


def _hhmm(iso: str) -> str:
    return datetime_nl(datetime.fromisoformat(iso), "%H:%M")


def print_convening(status: dict[str, Any], say: Say) -> None:
    say(
        "convening_status",
        place=status["place"],
        starts_at=datetime_nl(datetime.fromisoformat(status["starts_at"]), "%H:%M"),
        invited=len(status["invited"]),
        attending=len(status["attending"]),
        quorum=status["quorum"],
        missing=gaps_nl(status["missing_communities"]) or NO_GAPS,
        quorate=SENTENCES["quorate_yes" if status["quorate"] else "quorate_no"],
    )
