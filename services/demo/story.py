"""The demo played by ``bondgenoten run --demo``: it seeds Almere through the service's public
HTTP API and prints, in Dutch, what the crisis organisation would see.

It knows the service only by its base URL, so it runs against any running service. Played
again on the same data, idempotency keys make the seeding a no-op; what clients changed in
between (an ally removed, an escalation closed, a convening called) is told where the service
refuses a step, and the story goes on.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx

from projections.call_lists import CallList
from projections.network_health import NetworkHealth
from projections.tension_map import CellView, TensionMapView
from services.demo import data
from services.demo.api import API, DemoApi, Story, Tokens, until
from services.demo.escalation import play_escalation
from services.demo.follow_up import play_follow_up
from services.demo.outreach import play_outreach
from services.demo.views import print_call_list, print_tension_map
from services.texts_nl.alerts import datetime_nl, join_nl, score_nl
from services.texts_nl.console import NOBODY, REPORTER_LABELS, SENTENCES
from services.texts_nl.labels import (
    BAND_LABELS,
    DUTY_ROLE_LABELS,
    TREND_LABELS,
    theme_label,
)

CATCH_UP_S = 10.0
"""How long the demo waits for the service's read models to show what it just wrote."""
REACH_S = 3.0
"""How long the demo tries to reach the service before it gives up."""


async def play_demo(base_url: str, tokens: Tokens, *, out: TextIO | None = None) -> None:
    """Play the demo against the service at ``base_url``; the story goes to ``out`` (stdout).
    Each actor of the demo (police, municipality, crisis team, network coordinator, each
    reporting ally) acts with its own bearer token from ``tokens``.

    Refusals are told and the story goes on; only a bug (an answer of an unexpected shape)
    stops it, said in Dutch and raised to the caller."""
    story = Story(out if out is not None else sys.stdout)
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as client:
        api = DemoApi(client, story, tokens, reader=data.CRISIS)
        try:
            played = await _play(api, story)
        except Exception as exc:
            story.say("demo_failed", error=type(exc).__name__)
            raise
    if played:
        story.say("demo_ready")


async def _play(api: DemoApi, story: Story) -> bool:
    """Play the story; False if the service could not be reached at all."""
    if await until(lambda: api.peek("/health"), lambda _: True, REACH_S) is None:
        story.say("unreachable_service", url=api.client.base_url)
        return False
    story.step("step_networks", municipality="Almere")
    await seed_networks(api, story)

    story.step("step_azc", area="Almere Poort")
    fresh = await submit_signals(api, story, data.AZC_SIGNALS, data.POORT, "asylum_reception")
    story.step("step_demonstration", area="Almere Stad")
    fresh += await submit_signals(
        api, story, data.DEMONSTRATION_SIGNALS, data.STAD, "demonstration", summary=False
    )
    view = await api.tension_map(data.MUNICIPALITY)  # the whole municipality, instead
    if view is not None:
        print_tension_map(story, view, data.MUNICIPALITY)

    story.step("step_call_list")
    params = {
        "area": data.STAD,
        "themes": "demonstration",
        "communities": ",".join(data.STAD_COMMUNITIES),
    }
    calls = await api.send("GET", "/call-lists", "read", "/call-lists", params=params)
    if calls is not None:
        print_call_list(story, CallList.model_validate(calls))

    story.step("step_rejected")
    await submit_incomplete_signal(api, story)

    held = await play_escalation(api, story, signals_opened=fresh > 0)
    await play_outreach(api, story)
    await play_follow_up(api, story, earlier_held=held)
    return True


# ---------------------------------------------------------------- networks


async def seed_networks(api: DemoApi, story: Story) -> None:
    """Form the networks, enrol the allies, assign duty contacts; then show the networks as
    the service has them (which may differ from the seed when clients changed them)."""
    answers: list[Any] = []
    for network in data.NETWORKS:
        nid = network["network_id"]
        answers.append(
            await api.send(
                "POST",
                "/networks",
                "form_network",
                nid,
                body=network,
                actor=data.OOV,
                key=f"demo-form-{nid}",
            )
        )
    for nid, allies in data.ALLIES.items():
        for ally in allies:
            aid = ally["ally_id"]
            answers.append(
                await api.send(
                    "POST",
                    f"/networks/{nid}/allies",
                    "enrol",
                    aid,
                    body=ally,
                    actor=data.OOV,
                    key=f"demo-enrol-{aid}",
                )
            )
    assigned: set[tuple[str, str]] = set()
    for nid, role, body in data.DUTY_CONTACTS:
        answer = await api.send(
            "PUT",
            f"/networks/{nid}/duty-contacts/{role}",
            "duty",
            body["contact_id"],
            body=body,
            actor=data.OOV,
            key=f"demo-duty-{nid}-{role}",
        )
        answers.append(answer)
        if answer is not None:
            assigned.add((nid, role))
    done = [a for a in answers if a is not None]
    known = sum(1 for a in done if a.get("duplicate"))
    story.say("seeded", new=len(done) - known, known=known)

    def caught_up(found: list[Any]) -> bool:
        # One consumer folds the log in order: the last duty contacts shown means all is.
        ids = {n["network_id"] for n in found}
        duty = {(n["network_id"], r) for n in found for r, on in n["duty_contacts"].items() if on}
        return {n["network_id"] for n in data.NETWORKS} <= ids and assigned <= duty

    await keep_alive(api)
    networks = await until(lambda: api.peek("/networks"), caught_up, CATCH_UP_S)
    shown = [NetworkHealth.model_validate(n) for n in networks or []]
    for n in shown:
        duty = [DUTY_ROLE_LABELS[role] for role, on in n.duty_contacts.items() if on]
        story.say(
            "network_health",
            name=n.name,
            area=n.area,
            members=n.members,
            cap=n.size_cap,
            consented=n.consented,
            duty=join_nl(duty, NOBODY),
        )
        raw: dict[str, Any] = next(
            (r for r in networks or [] if r.get("network_id") == n.network_id), {}
        )
        for flag in raw.get("flags", []):
            story.say("network_flag", reason=flag.get("reason", flag.get("code", "")))
    if not shown:
        story.say("no_networks")


async def keep_alive(api: DemoApi) -> None:
    """Peacetime in Almere Haven: the network plans its next meeting under a rotating
    independent chair and records its half-yearly evaluation (the health flags show what is
    still to do elsewhere). Played again, the same keys record nothing new."""
    haven = "almere-haven"
    chair = data.ALLIES[haven][0]["ally_id"]
    starts = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    await api.send(
        "POST",
        f"/networks/{haven}/meetings",
        "meeting",
        haven,
        body={
            "meeting_id": "haven-overleg-1",
            "starts_at": starts.isoformat(),
            "place": data.HAVEN_MEETING_PLACE,
            "chair": chair,
        },
        actor=data.COORDINATOR,
        key="demo-meeting-haven-1",
    )
    await api.send(
        "POST",
        f"/networks/{haven}/evaluations",
        "evaluation",
        haven,
        body={"outcome": "composition_right", "note": data.HAVEN_EVALUATION_NOTE},
        actor=data.COORDINATOR,
        key="demo-evaluation-haven-1",
    )


# ---------------------------------------------------------------- signals and the tension map


async def submit_signals(
    api: DemoApi,
    story: Story,
    signals: list[dict[str, Any]],
    area: str,
    theme: str,
    *,
    summary: bool = True,
) -> int:
    """Send the signals, wait until the tension map holds the new ones, and list them with
    the times the service recorded (a repeated one keeps its first time), then (``summary``)
    the tension of their cell. Returns how many were new."""
    now = datetime.now(UTC)
    sent: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for s in signals:
        body = {k: v for k, v in s.items() if k != "minutes_ago"}
        body["occurred_at"] = (now - timedelta(minutes=s["minutes_ago"])).isoformat()
        reporter = f"{body['source_role']}:{body['reporter']}"  # reports in their own name
        answer = await api.send(
            "POST", "/signals", "signal", s["idempotency_key"], body=body, actor=reporter
        )
        if answer is not None:
            sent.append((s, answer))
    new = {a["signal_id"] for _, a in sent if not a.get("duplicate") and a.get("signal_id")}

    def holds_new(view: Any) -> bool:
        return new <= _signal_times(TensionMapView.model_validate(view)).keys()

    found = await until(lambda: api.peek("/tension-map", {"area": area}), holds_new, CATCH_UP_S)
    view = TensionMapView.model_validate(found) if found is not None else None
    times = _signal_times(view) if view is not None else {}
    if sent:
        story.say("signals_header")
    for s, answer in sent:
        at = times.get(answer.get("signal_id") or "")
        story.say(
            "signal_line",
            at=datetime_nl(at, "%d-%m %H:%M") if at else SENTENCES["signal_earlier"],
            reporter=REPORTER_LABELS.get(s["source_role"], s["source_role"]),
            level=s["level"],
            summary=s["summary"],
            duplicate=SENTENCES["signal_duplicate"] if answer.get("duplicate") else "",
        )
    if not summary:
        return len(new)
    cell = _cell(view, area, theme) if view is not None else None
    if cell is not None:
        story.say(
            "cell_now",
            theme=theme_label(theme),
            area=area,
            band=BAND_LABELS[cell.band],
            trend=TREND_LABELS[cell.trend],
            score=score_nl(cell.score),
        )
    else:
        story.say("cell_calm", theme=theme_label(theme), area=area)
    return len(new)


def _signal_times(view: TensionMapView) -> dict[str, datetime]:
    return {s.signal_id: s.occurred_at for c in view.cells for s in c.signals}


def _cell(view: TensionMapView, area: str, theme: str) -> CellView | None:
    return next((c for c in view.cells if (c.area, c.theme) == (area, theme)), None)


# ---------------------------------------------------------------- call list, refused input


async def submit_incomplete_signal(api: DemoApi, story: Story) -> None:
    """A signal without network, area, themes, …: refused with its reasons, and kept."""
    body = {"reporter": "a-stad-1", "source_role": "ally", "level": 9}
    try:
        response = await api.client.post(f"{API}/signals", json=body)
    except httpx.HTTPError:
        story.refused("incomplete_signal", "", 0, [])
        return
    errors = response.json().get("errors") if response.status_code == 422 else None
    if not errors:
        story.say("rejected_not", status=response.status_code)
        return
    first = errors[0]
    story.say(
        "rejected", status=response.status_code, field=first["field"], message=first["message"]
    )
