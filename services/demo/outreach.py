"""Sounding out allies and the questions loop, through the public HTTP API: after a night of
news about a coup attempt abroad, the police sound out the allies of the Turkish community in
Almere Poort (one answers in time, one after the deadline) and draw up a framework for action
from their advice; an ally brings a question of the constituency, the municipality answers
and the coordinator marks it relayed back; the crisis organisation asks the allies to start
conversations in the street, one accepts and reports back.

Every play uses new ids: played again, the story is told again with fresh answers (an earlier
pulse and its answers stay in the log as they were).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.demo import data
from services.demo.api import DemoApi, Story, until, when
from services.texts_nl.alerts import join_nl
from services.texts_nl.console import NOBODY
from services.texts_nl.labels import BAND_LABELS, COMMUNITY_LABELS, TREND_LABELS, theme_label
from services.texts_nl.outreach import ROUTED_NL, TASKS_NL

DEADLINE_S = 2.0
"""The pulse's deadline: short, so the demo shows a late answer without a long wait."""
WAIT_S = 10.0


def _names(ids: list[str]) -> str:
    return join_nl([data.ally_name(a) for a in ids], NOBODY)


async def play_outreach(api: DemoApi, story: Story) -> None:
    run = uuid.uuid4().hex[:8]
    pulse = data.PULSE
    story.step("step_pulse", community=COMMUNITY_LABELS[pulse["community"]], area=pulse["area"])
    await sound_out(api, story, f"demo-peiling-{run}")
    story.step("step_question")
    await question_loop(api, story, f"demo-vraag-{run}")
    story.step("step_mobilisation")
    await mobilise(api, story, f"demo-inzet-{run}")


async def sound_out(api: DemoApi, story: Story, pulse_id: str) -> None:
    pulse = data.PULSE
    deadline = datetime.now(UTC) + timedelta(seconds=DEADLINE_S)
    started = await api.send(
        "POST",
        "/pulses",
        "pulse",
        pulse_id,
        body={
            "pulse_id": pulse_id,
            "area": pulse["area"],
            "theme": pulse["theme"],
            "question": pulse["question"],
            "deadline": deadline.isoformat(),
            "communities": [pulse["community"]],
        },
        actor=data.TEAMCHEF,
        key=pulse_id,
    )
    if started is None:
        return
    summary = await api.send("GET", f"/pulses/{pulse_id}", "read", pulse_id)
    if summary is None:
        return
    story.say("pulse_started", count=len(summary["invited"]), names=_names(summary["invited"]))
    story.say("pulse_question", question=pulse["question"], deadline=when(deadline, "%H:%M:%S"))
    (on_time, late), invited = pulse["answers"], set(summary["invited"])
    await answer_pulse(api, pulse_id, on_time, invited)
    # The second answer comes in after the deadline: wait for the clock, not a guess.
    await until(_now, lambda now: now > deadline, DEADLINE_S + WAIT_S)
    await answer_pulse(api, pulse_id, late, invited)

    summary = await api.send("GET", f"/pulses/{pulse_id}", "read", pulse_id)
    if summary is None:
        return
    spread = ", ".join(f"{n}: {c}" for n, c in summary["levels"].items() if c)
    mean = summary["mean_level"]
    story.say(
        "pulse_summary",
        answered=len(summary["answered"]),
        invited=len(summary["invited"]),
        spread=spread or NOBODY,
        mean=str(mean).replace(".", ",") if mean is not None else "–",
    )
    if summary["late"]:
        story.say("pulse_late", names=_names(summary["late"]))
    for advice in summary["advice"]:
        story.say("pulse_advice", name=data.ally_name(advice["ally_id"]), advice=advice["advice"])
    await show_cell(api, story, pulse["area"], pulse["theme"])

    adopted = [a["ally_id"] for a in summary["advice"]]
    compiled = await api.send(
        "POST",
        f"/pulses/{pulse_id}/framework",
        "framework",
        pulse_id,
        body={"title": pulse["framework_title"], "adopted": adopted, "measures": pulse["measures"]},
        actor=data.TEAMCHEF,
        key=f"{pulse_id}-kader",
    )
    if compiled is not None:
        story.say("framework_compiled", title=pulse["framework_title"], pulse_id=pulse_id)


async def _now() -> datetime:
    return datetime.now(UTC)


async def answer_pulse(
    api: DemoApi, pulse_id: str, answer: dict[str, Any], invited: set[str]
) -> None:
    ally = answer["ally_id"]
    if ally not in invited:  # the ally left (a client changed the data): nothing to answer
        return
    await api.send(
        "POST",
        f"/pulses/{pulse_id}/answers",
        "pulse_answer",
        data.ally_name(ally),
        body=answer,
        actor=f"ally:{ally}",
        key=f"{pulse_id}-{ally}",
    )


async def show_cell(api: DemoApi, story: Story, area: str, theme: str) -> None:
    """The answers count as corroborating signals on the tension map."""
    view = await api.tension_map(area)
    cell = next((c for c in view.cells if c.theme == theme), None) if view else None
    if cell is None:
        return
    story.say(
        "pulse_on_map",
        theme=theme_label(theme),
        area=area,
        band=BAND_LABELS[cell.band],
        trend=TREND_LABELS[cell.trend],
    )


async def question_loop(api: DemoApi, story: Story, question_id: str) -> None:
    q = data.QUESTION
    raised = await api.send(
        "POST",
        "/questions",
        "question",
        data.ally_name(q["ally_id"]),
        body={
            "question_id": question_id,
            **{k: q[k] for k in ("network_id", "ally_id", "text")},
            "routed_to": q["routed_to"],
        },
        actor=f"ally:{q['ally_id']}",
        key=question_id,
    )
    if raised is None:
        return
    story.say(
        "question_raised",
        name=data.ally_name(q["ally_id"]),
        text=q["text"],
        to=ROUTED_NL[q["routed_to"]],
    )
    answered = await api.send(
        "POST",
        f"/questions/{question_id}/answer",
        "question_answer",
        question_id,
        body={"answer": q["answer"]},
        actor=data.OOV,
        key=f"{question_id}-antwoord",
    )
    if answered is None:
        return
    await api.send(
        "POST",
        f"/questions/{question_id}/relayed",
        "relay",
        question_id,
        body={"to": q["relayed_to"]},
        actor=data.COORDINATOR,
        key=f"{question_id}-terug",
    )
    found = await api.send("GET", f"/questions/{question_id}", "read", question_id)
    if found is None:
        return
    story.say("question_answer", answer=found["answer"] or "")
    story.say("question_moments_header")
    story.say("question_raised_at", at=_at(found["raised_at"]))
    if found["answered_at"]:
        story.say("question_answered_at", at=_at(found["answered_at"]))
    for relay in found["relayed"]:
        story.say("question_relayed_at", to=relay["to"], at=_at(relay["relayed_at"]))


def _at(iso: str) -> str:
    return when(datetime.fromisoformat(iso), "%d-%m %H:%M:%S")


async def mobilise(api: DemoApi, story: Story, request_id: str) -> None:
    m = data.MOBILISATION
    respond_by = datetime.now(UTC) + timedelta(minutes=30)
    requested = await api.send(
        "POST",
        "/mobilisations",
        "mobilisation",
        request_id,
        body={
            "request_id": request_id,
            "area": m["area"],
            "task": m["task"],
            "message": m["message"],
            "respond_by": respond_by.isoformat(),
            "communities": [m["community"]],
        },
        actor=data.CRISIS,
        key=request_id,
    )
    if requested is None:
        return
    found = await api.send("GET", f"/mobilisations/{request_id}", "read", request_id)
    if found is None:
        return
    story.say(
        "mobilisation_requested",
        task=TASKS_NL[m["task"]],
        count=len(found["invited"]),
        names=_names(found["invited"]),
        deadline=when(respond_by, "%H:%M"),
    )
    for ally, answer in m["answers"]:
        if ally not in found["invited"]:
            continue
        await api.send(
            "POST",
            f"/mobilisations/{request_id}/answers",
            "mobilisation_answer",
            data.ally_name(ally),
            body={"ally_id": ally, "answer": answer},
            actor=f"ally:{ally}",
            key=f"{request_id}-{ally}",
        )
    ally, report = m["report"]
    if ally in found["invited"]:
        await api.send(
            "POST",
            f"/mobilisations/{request_id}/reports",
            "mobilisation_report",
            data.ally_name(ally),
            body={"ally_id": ally, "report": report},
            actor=f"ally:{ally}",
            key=f"{request_id}-{ally}-verslag",
        )
    found = await api.send("GET", f"/mobilisations/{request_id}", "read", request_id)
    if found is None:
        return
    accepted = [a for a, x in found["answers"].items() if x == "accept"]
    declined = [a for a, x in found["answers"].items() if x == "decline"]
    story.say("mobilisation_answers", accepted=_names(accepted), declined=_names(declined))
    for r in found["reports"]:
        story.say(
            "mobilisation_report",
            name=data.ally_name(r["ally"]),
            at=_at(r["reported_at"]),
            report=r["report"],
        )


__all__ = ["play_outreach"]
