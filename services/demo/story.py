"""The demo played by ``bondgenoten run --demo``: seeds Almere through the real HTTP API and
prints what the crisis organisation would see. Idempotency keys make it safe to play again."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

from projections.call_lists import CallList
from projections.tension_map import Band, TensionMapView
from services.demo import data
from services.demo.escalation import play_escalation
from services.texts_nl.console import SENTENCES
from services.texts_nl.labels import (
    BAND_LABELS,
    DUTY_ROLE_LABELS,
    TREND_LABELS,
    call_reason_label,
    community_label,
    theme_label,
)

if TYPE_CHECKING:
    from services.bootstrap import Service

ACTOR = {"X-Actor": "municipality:oov-almere"}


def say(key: str, **values: Any) -> None:
    print(SENTENCES[key].format(**values), flush=True)


def step(key: str, **values: Any) -> None:
    say("demo_step", text=SENTENCES[key].format(**values))


async def _post(client: httpx.AsyncClient, url: str, key: str, body: dict[str, Any]) -> None:
    response = await client.post(url, json=body, headers={**ACTOR, "Idempotency-Key": key})
    if response.status_code not in (200, 201):
        raise RuntimeError(f"demo: {url} answered {response.status_code}: {response.text}")


async def seed_networks(client: httpx.AsyncClient) -> None:
    for network in data.NETWORKS:
        await _post(client, "/api/v1/networks", f"demo-form-{network['network_id']}", network)
    for network_id, allies in data.ALLIES.items():
        for ally in allies:
            url = f"/api/v1/networks/{network_id}/allies"
            await _post(client, url, f"demo-enrol-{ally['ally_id']}", ally)
    for network_id, role, body in data.DUTY_CONTACTS:
        response = await client.put(
            f"/api/v1/networks/{network_id}/duty-contacts/{role}",
            json=body,
            headers={**ACTOR, "Idempotency-Key": f"demo-duty-{network_id}-{role}"},
        )
        response.raise_for_status()


async def submit_signals(
    client: httpx.AsyncClient, service: Service, signals: list[dict[str, Any]]
) -> None:
    now = service.infra.clock.now()
    for s in signals:
        body = {k: v for k, v in s.items() if k != "minutes_ago"}
        body["occurred_at"] = (now - timedelta(minutes=s["minutes_ago"])).isoformat()
        response = await client.post("/api/v1/signals", json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"demo: signal refused: {response.text}")


def print_tension_map(view: TensionMapView, area: str) -> None:
    say("tension_map_title", area=area, at=view.at.strftime("%d-%m-%Y %H:%M"))
    shown = [c for c in view.cells if c.band is not Band.NORMAL]
    for cell in shown:
        say(
            "tension_cell",
            area=cell.area,
            theme=theme_label(cell.theme),
            band=BAND_LABELS[cell.band],
            trend=TREND_LABELS[cell.trend],
            score=cell.score,
            reporters=cell.distinct_reporters,
            roles=cell.distinct_roles,
        )
    if not shown:
        say("tension_empty")


def print_call_list(calls: CallList) -> None:
    say(
        "call_list_title",
        area=calls.area,
        themes=", ".join(theme_label(t) for t in calls.themes),
        communities=", ".join(community_label(c) for c in calls.communities),
    )
    for entry in calls.entries:
        reasons = "; ".join(call_reason_label(r) for r in entry.reasons)
        say("call_entry", rank=entry.rank, name=entry.name, phone=entry.phone, reasons=reasons)
    for duty in calls.duty_contacts:
        say(
            "duty_entry",
            role=DUTY_ROLE_LABELS[duty.role],
            function=duty.function,
            name=duty.name,
            phone=duty.phone,
        )
    for gap in calls.coverage_gaps:
        say("coverage_gap", community=community_label(gap))
    if not calls.coverage_gaps:
        say("no_gaps")


async def play_demo(service: Service) -> None:
    read = service.read
    store = service.infra.store
    async with httpx.AsyncClient(base_url=service.http_url, timeout=10) as client:
        step("step_networks", municipality="Almere")
        await seed_networks(client)
        await read.calls.wait_for(await store.last_position())
        step("step_azc", area="Almere Poort")
        await submit_signals(client, service, data.AZC_SIGNALS)
        step("step_demonstration", area="Almere Stad")
        await submit_signals(client, service, data.DEMONSTRATION_SIGNALS)
        await read.tension.wait_for(await store.last_position())
        print_tension_map(await read.tension_map(area=data.MUNICIPALITY), data.MUNICIPALITY)
        step("step_call_list")
        print_call_list(read.call_list(data.STAD, ["demonstration"], data.STAD_COMMUNITIES))
        step("step_rejected")
        response = await client.post(
            "/api/v1/signals", json={"reporter": "a-stad-1", "source_role": "ally", "level": 9}
        )
        first = response.json()["errors"][0]
        say("rejected", status=response.status_code, field=first["field"], message=first["message"])
        await play_escalation(client, service, say, step)
    say("demo_ready")
