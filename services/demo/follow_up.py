"""The end of the demo: the Poort network is called together about the azc, and that meeting
stays open, so the personal links of its invitations work while the service runs. The demo
says which printed link to open.

Played again, the escalation about the azc is usually still open: the new call moves the
meeting (the earlier invitees hear it is off) and new links are printed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from projections.escalations import ConveningStatus, EscalationRecord
from services.demo import data
from services.demo.api import DemoApi, Story, until, when
from services.demo.escalation import acknowledge, call_convening
from services.texts_nl.console import TRIGGER_LABELS
from services.texts_nl.labels import MODE_LABELS

DELIVERY_S = 10.0
"""How long the demo waits for the invitations to be delivered before pointing at one."""


async def play_follow_up(api: DemoApi, story: Story, *, earlier_held: bool) -> None:
    """``earlier_held``: the demonstration's meeting took place (its links are void)."""
    follow_up = data.FOLLOW_UP
    story.step("step_follow_up", network=follow_up["network"])
    declare = follow_up["declare"]
    declared = await api.send(
        "POST",
        "/escalations",
        "declare",
        declare["area"],
        body=declare,
        actor=data.OOV,
        key=f"demo-follow-up-{uuid.uuid4().hex}",  # a closed one is not answered again
    )
    if declared is None or not declared.get("escalation_id"):
        story.say("no_escalation")
        return
    record = await api.escalation(declared["escalation_id"])
    if record is None:
        story.say("no_escalation")
        return
    opened = {
        "escalation_id": record.escalation_id,
        "at": when(record.opened_at),
        "trigger": TRIGGER_LABELS.get(record.trigger, record.trigger),
    }
    # No events recorded: one was open already and the declaration joined it.
    story.say("follow_up_declared" if declared["event_ids"] else "follow_up_existing", **opened)
    await acknowledge(api, story, record, data.OOV, data.NOTES["follow_up_acknowledge"])
    if _pending(record):
        story.say("follow_up_moved")
    status = await call_convening(api, story, record.escalation_id, follow_up["convening"])
    if status is None:
        return
    story.say(
        "follow_up_called",
        mode=MODE_LABELS.get(status.mode, status.mode),
        place=f"({status.place}) " if status.place else "",
        starts_at=when(status.starts_at),
        deadline=when(status.rsvp_deadline, "%H:%M"),
        quorum=status.quorum,
    )
    story.say("invitations_sent", count=len(status.invited))
    story.say("follow_up_open")
    await point_at_a_link(api, story, status)
    if earlier_held:
        story.say("old_links")


async def point_at_a_link(api: DemoApi, story: Story, status: ConveningStatus) -> None:
    """Wait until the invitations were printed on this console, then name the one to open."""
    invitation = f"inv-{status.convening_id}"  # the notifier's receipts for these invitations

    def printed(events: list[Any]) -> set[str]:
        # The review names recipients by pseudonym only: count them, do not identify them.
        return {
            e["data"].get("recipient")
            for e in events
            if e["type"] == "notification.delivery-succeeded"
            and e["data"].get("alert_id") == invitation
            and e["data"].get("channel") == "console"
        }

    review = f"/escalations/{status.escalation_id}/events"
    events = await until(
        lambda: api.peek(review),
        lambda found: len(printed(found)) >= len(status.invited),
        DELIVERY_S,
    )
    everyone = len(printed(events or [])) >= len(status.invited) > 0
    ally = status.invited[0] if everyone else None
    if ally is None:
        story.say("no_console_link")
        return
    story.say("try_link", ally_id=ally, name=data.ally_name(ally))


def _pending(record: EscalationRecord) -> bool:
    """A meeting of this escalation still to come: called, not held, not called off."""
    now = datetime.now(UTC)
    return any(
        c.convened_at is None and c.cancelled_at is None and c.starts_at > now
        for c in record.convenings.values()
    )
