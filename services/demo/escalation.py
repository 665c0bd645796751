"""The middle of the demo: one escalation end to end, through the public HTTP API, as the
crisis organisation would drive it: alert, no acknowledgement, next level, acknowledgement,
convening, answers until quorate, de-escalation and closing, the tension map now and a few
hours on, and the review replayed from the log.

Every step starts from what the service shows, not from what the demo expects: played again,
or after clients changed the data, an escalation may already be acknowledged or an ally gone.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from projections.escalations import ConveningStatus, EscalationRecord
from services.demo import data
from services.demo.api import DemoApi, Story, until, when
from services.demo.views import print_convening, print_tension_map
from services.texts_nl.alerts import datetime_nl, gaps_nl, grip_nl, score_nl
from services.texts_nl.console import (
    RSVP_LABELS,
    SENTENCES,
    STATUS_LABELS,
    TRIGGER_LABELS,
    timeline_label,
)
from services.texts_nl.labels import BAND_LABELS, MODE_LABELS, TREND_LABELS, theme_label

OPENING_S = 10.0
"""How long the demo waits for the workflow to open an escalation from its new signals."""
ACK_WAIT_LIMIT_S = 60.0
"""The demo shows the ladder climbing only when the first level waits at most this long."""
MARGIN_S = 10.0


async def play_escalation(api: DemoApi, story: Story, *, signals_opened: bool) -> bool:
    """Play it; True when its meeting took place (so its invitations' links are void)."""
    story.step("step_escalation")
    record = await open_escalation(api, story, signals_opened)
    if record is None:
        story.say("no_escalation")
        return False
    eid = record.escalation_id
    story.say(
        "escalation_opened",
        escalation_id=eid,
        at=when(record.opened_at),
        trigger=TRIGGER_LABELS.get(record.trigger, record.trigger),
        grip=grip_nl(record.suggested_grip),
    )
    record = await wait_for_next_level(api, story, record)
    story.step("step_acknowledge", who=data.NOTES["acknowledged_by"])
    await acknowledge(api, story, record, data.TEAMCHEF, data.NOTES["acknowledge"])
    story.step("step_convening")
    status = await convene(api, story, eid)
    held = status is not None and await collect_answers(api, story, status.convening_id)
    story.step("step_de_escalate")
    await finish(api, story, eid)
    await show_tension_ahead(api, story)
    story.step("step_review")
    await review(api, story, eid)
    return held


async def open_escalation(
    api: DemoApi, story: Story, signals_opened: bool
) -> EscalationRecord | None:
    """The escalation the demo's signals opened or that is open already for Stad's
    demonstration; else (signals seen before) the police declare one."""

    def stad_demonstration(items: list[Any]) -> list[Any]:
        return [e for e in items if (e["area"], e["theme"]) == (data.STAD, "demonstration")]

    listed = await until(
        lambda: api.peek("/escalations", {"open": "true"}),
        lambda items: bool(stad_demonstration(items)),
        OPENING_S if signals_opened else 0,
    )
    found = stad_demonstration(listed or [])
    if found:
        return await api.escalation(found[0]["escalation_id"])
    story.say("declared_below_threshold" if signals_opened else "declared_instead")
    declared = await api.send(
        "POST",
        "/escalations",
        "declare",
        data.STAD,
        body={"area": data.STAD, "theme": "demonstration", "reason": data.NOTES["declare"]},
        actor=data.TEAMCHEF,
        key=f"demo-declare-{uuid.uuid4().hex}",
    )
    if declared is None or not declared.get("escalation_id"):
        return None
    return await api.escalation(declared["escalation_id"])


async def wait_for_next_level(
    api: DemoApi, story: Story, record: EscalationRecord
) -> EscalationRecord:
    """Nobody acknowledges the first level: wait (a short demo timeout) for the next."""
    if record.status != "alerted" or record.level != 1 or not record.alerts:
        return record
    if record.ack_due_at is None:
        return record
    timeout = (record.ack_due_at - record.alerts[-1].at).total_seconds()
    if timeout > ACK_WAIT_LIMIT_S:
        return record
    story.step("step_no_ack", seconds=f"{timeout:.0f}")
    later = await until(
        lambda: api.escalation(record.escalation_id),
        lambda r: r.level >= 2 or r.status != "alerted",
        timeout + MARGIN_S,
    )
    if later is None or later.level < 2:
        story.say("no_next_level")
        return later or record
    alert = later.alerts[-1]
    story.say("next_level", level=alert.level, round=alert.round, at=when(alert.at, "%H:%M:%S"))
    return later


async def acknowledge(
    api: DemoApi, story: Story, record: EscalationRecord, actor: str, note: str
) -> None:
    eid = record.escalation_id
    if record.status != "alerted":
        status = STATUS_LABELS.get(record.status, record.status)
        story.say("already_acknowledged", status=status)
        return
    done = await api.send(
        "POST",
        f"/escalations/{eid}/acknowledge",
        "acknowledge",
        eid,
        body={"note": note},
        actor=actor,
    )
    after = await api.escalation(eid) if done is not None else None
    if after is not None and after.acknowledged_at is not None:
        story.say("acknowledged", at=when(after.acknowledged_at), by=after.acknowledged_by)


async def convene(api: DemoApi, story: Story, eid: str) -> ConveningStatus | None:
    """Show the proposal, call the meeting the crisis organisation chose, return its status."""
    proposal = await api.send("GET", f"/escalations/{eid}/convening-proposal", "proposal", eid)
    choice = dict(data.CONVENING)  # the rest of the proposal stands
    if proposal is not None:
        story.say(
            "convening_proposal",
            mode=MODE_LABELS.get(proposal["mode"], proposal["mode"]),
            place=f"({proposal['place']}) " if proposal["place"] else "",
            starts_at=when(_at(proposal["starts_at"]), "%H:%M"),
            deadline=when(_at(proposal["rsvp_deadline"]), "%H:%M"),
            invited=len(proposal["invited"]),
            communities=gaps_nl(proposal["communities"]),
            quorum=proposal["quorum"],
        )
        # No quorum larger than those invited (clients may have removed allies).
        choice["quorum"] = max(1, min(choice["quorum"], len(proposal["invited"])))
    story.say(
        "convening_choice",
        mode=MODE_LABELS.get(choice["mode"], choice["mode"]),
        place=choice["place"],
        quorum=choice["quorum"],
    )
    status = await call_convening(api, story, eid, choice)
    if status is not None:
        story.say("invitations_sent", count=len(status.invited))
    return status


async def call_convening(
    api: DemoApi, story: Story, eid: str, body: dict[str, Any]
) -> ConveningStatus | None:
    called = await api.send(
        "POST",
        f"/escalations/{eid}/convenings",
        "convene",
        eid,
        body=body,
        actor=data.OOV,
        key=f"demo-convene-{uuid.uuid4().hex}",  # a new meeting each time the demo plays
    )
    record = await api.escalation(eid) if called is not None else None
    if record is None or not record.convenings:
        return None
    return await api.convening(list(record.convenings)[-1])


async def collect_answers(api: DemoApi, story: Story, convening_id: str) -> bool:
    """Answers received by phone, entered by the network coordinator, until the meeting is
    quorate; then it is held. True if it was."""
    for batch in (data.RSVPS_BEFORE_QUORUM, data.RSVPS_TO_QUORUM):
        for ally_id, answer in batch:
            ally = SENTENCES["ally"].format(name=data.ally_name(ally_id), ally_id=ally_id)
            done = await api.send(
                "POST",
                f"/convenings/{convening_id}/rsvps",
                "rsvp",
                ally,
                body={"ally_id": ally_id, "answer": answer},
                actor=data.COORDINATOR,
            )
            if done is not None:
                story.say("rsvp", ally=ally, answer=RSVP_LABELS[answer])
        status = await api.convening(convening_id)
        if status is not None:
            print_convening(story, status)
    done = await api.send(
        "POST",
        f"/convenings/{convening_id}/convened",
        "convened",
        convening_id,
        actor=data.COORDINATOR,
    )
    status = await api.convening(convening_id) if done is not None else None
    if status is None or status.convened_at is None:
        return False
    story.say("convened", at=when(status.convened_at), count=len(status.attending))
    return True


async def finish(api: DemoApi, story: Story, eid: str) -> None:
    for how, reason in (("de-escalate", data.NOTES["de_escalate"]), ("close", data.NOTES["close"])):
        await api.send(
            "POST", f"/escalations/{eid}/{how}", how, eid, body={"reason": reason}, actor=data.OOV
        )
    record = await api.escalation(eid)
    reasons = {"de_escalated": data.NOTES["de_escalate"], "closed": data.NOTES["close"]}
    for entry in record.timeline if record is not None else []:
        key = entry.summary_key.removeprefix("escalation.")
        if key in reasons and entry.actor == data.OOV:
            what = timeline_label(key, entry.params)
            story.say("finished", what=what.capitalize(), at=when(entry.at), reason=reasons[key])


async def show_tension_ahead(api: DemoApi, story: Story) -> None:
    """The map now (the signals are minutes old: still hot), and hours on without new ones."""
    view = await api.tension_map(data.MUNICIPALITY)
    if view is None:
        return
    cell = next((c for c in view.cells if (c.area, c.theme) == (data.STAD, "demonstration")), None)
    theme = theme_label("demonstration")
    if cell is None or not cell.signals:
        story.say("map_now_calm", theme=theme, area=data.STAD)
    else:
        oldest = min(s.occurred_at for s in cell.signals)
        story.say(
            "map_now",
            theme=theme,
            area=data.STAD,
            band=BAND_LABELS[cell.band],
            trend=TREND_LABELS[cell.trend],
            score=score_nl(cell.score),
            age=_age(view.at - oldest),
        )
    story.say("forecast_intro", hours=data.FORECAST_HOURS)
    ahead = view.at + timedelta(hours=data.FORECAST_HOURS)
    later = await api.tension_map(data.MUNICIPALITY, at=ahead)
    if later is not None:
        print_tension_map(story, later, data.MUNICIPALITY, forecast=True)


async def review(api: DemoApi, story: Story, eid: str) -> None:
    record = await api.escalation(eid)
    if record is not None:
        story.say("timeline_header")
        for entry in record.timeline:
            story.say(
                "timeline_entry",
                at=datetime_nl(entry.at, "%H:%M:%S"),
                what=timeline_label(entry.summary_key, entry.params),
                actor=entry.actor,
            )
    events = await api.send("GET", f"/escalations/{eid}/events", "read", f"{eid}/events")
    if events is not None:
        receipts = sum(1 for e in events if e["type"].startswith("notification."))
        story.say("review_summary", events=len(events), receipts=receipts)


def _age(age: timedelta) -> str:
    minutes = round(age.total_seconds() / 60)
    if minutes < 120:
        return SENTENCES["age_minutes"].format(count=minutes)
    return SENTENCES["age_hours"].format(count=minutes // 60)


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
