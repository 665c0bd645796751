"""What the crisis dashboard reads: the live parts of the situation picture (tension map,
open escalations with their convenings, network health, recent signals, pulse checks,
constituency questions, mobilisation requests), each as the
principal may see it, and the changes of the read models that make a part worth re-sending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.access import Principal, Role, allowed
from domain.policy import EscalationPolicy, PolicyError, policy_for
from events.signals import Evidence, SourceRole
from projections.escalations import convening_status, list_escalations
from projections.outreach import pulse_summary
from projections.tension_map import tension_view
from services.app.need_to_know import Pseudonyms, sees_contact_details
from services.app.network_health import health_view
from services.app.outreach_views import mobilisation_item, pulse_for, question_item
from services.app.readmodels import ReadModels

RECENT_SIGNALS = 30
CHANGE_POLL_S = 0.1
"""How often a live stream looks at the read models' checkpoints: plain integers in this
process, no I/O, so a short interval costs nothing and keeps the picture within 2 s."""
REFRESH_S = 30.0
"""The tension map decays with time, not only with events: re-send it this often."""

PART_OF_PROJECTION: Mapping[str, tuple[str, ...]] = {
    "tension_map": ("tension", "signals"),
    "escalations": ("escalations",),
    "call_lists": ("networks",),
    "network_health": ("networks",),
    "outreach": ("pulses", "questions", "mobilisations"),
}
"""Which parts of the picture each read model feeds (``LiveProjection.name`` → parts)."""

PART_ACTION: Mapping[str, str] = {
    "tension": "read.tension-map",
    "signals": "read.tension-map",
    "escalations": "read.escalations",
    "networks": "read.networks",
    "pulses": "read.pulses",
    "questions": "read.questions",
    "mobilisations": "read.mobilisations",
}
PARTS = tuple(PART_ACTION)
TIMED_PARTS = frozenset({"tension", "signals", "escalations", "pulses", "questions"})
"""Parts that change with time alone (decay, deadlines passing, questions escalating)."""
OUTREACH_SHOWN = 30
"""The newest pulses, questions and mobilisation requests the live picture carries."""

# Who covers which community is special-category data: never in the live picture (the API's
# GET /convenings/{id} serves covered and missing communities only).
ESCALATION_OMITS: dict[str, Any] = {
    "applied": True,
    "convenings": {"__all__": {"communities_by_ally"}},
}


class RecentSignal(BaseModel):
    """A signal that still counts on the tension map, as the reader may see it: the reporter
    is a pseudonym for an ally unless the reader's role sees contact details."""

    signal_id: str
    area: str
    theme: str
    role: SourceRole
    reporter: str
    evidence: Evidence
    level: int
    occurred_at: datetime
    communities: tuple[str, ...] = ()


def recent_signals(
    read: ReadModels, principal: Principal, pseudonym: Pseudonyms, limit: int = RECENT_SIGNALS
) -> list[RecentSignal]:
    """The newest signals on the live tension map (expired ones have left it), newest first."""
    now = read.clock.now()
    reveal = sees_contact_details(principal)
    found: list[RecentSignal] = []
    for cell in read.tension.state.cells.values():
        for c in cell.contributions:
            if c.expires_at <= now:
                continue
            role, _, reporter = c.reporter.partition(":")
            if role == Role.ALLY.value and not reveal:
                reporter = pseudonym(reporter)
            found.append(
                RecentSignal(
                    signal_id=c.signal_id,
                    area=cell.area,
                    theme=cell.theme,
                    role=c.role,
                    reporter=reporter,
                    evidence=c.evidence,
                    level=c.level,
                    occurred_at=c.occurred_at,
                    communities=c.communities,
                )
            )
    found.sort(key=lambda s: (s.occurred_at, s.signal_id), reverse=True)
    return found[:limit]


def visible_parts(principal: Principal) -> tuple[str, ...]:
    return tuple(p for p in PARTS if allowed(principal, PART_ACTION[p]))


def level_names(policies: Mapping[str, EscalationPolicy], area: str) -> dict[str, str]:
    """Who each alert level reaches, as the area's policy names it (level counted from 1)."""
    try:
        policy = policy_for(policies, area)
    except PolicyError:
        return {}
    return {str(n): level.name for n, level in enumerate(policy.levels, start=1)}


def live_part(
    read: ReadModels,
    part: str,
    principal: Principal,
    pseudonym: Pseudonyms,
    policies: Mapping[str, EscalationPolicy],
) -> Any:
    """One part of the picture as JSON-ready data."""
    if part == "tension":
        config = read.tension_projection.config
        view = tension_view(read.tension.state, read.clock.now(), config)
        return view.model_dump(mode="json")
    if part == "signals":
        signals = recent_signals(read, principal, pseudonym)
        return [s.model_dump(mode="json") for s in signals]
    if part == "networks":
        return [health_view(h, None, None).model_dump(mode="json") for h in read.network_health()]
    if part in ("pulses", "questions", "mobilisations"):
        return outreach_part(read, part, principal, pseudonym)
    state = read.escalations.state
    records = list_escalations(state, open_only=True)
    convenings = {
        cid: status.model_dump(mode="json")
        for record in records
        for cid in record.convenings
        if (status := convening_status(state, cid)) is not None
    }
    return {
        "open": [
            {
                **r.model_dump(mode="json", exclude=ESCALATION_OMITS),
                "level_names": level_names(policies, r.area),
            }
            for r in records
        ],
        "convenings": convenings,
    }


def outreach_part(
    read: ReadModels, part: str, principal: Principal, pseudonym: Pseudonyms
) -> list[Any]:
    """The newest pulses (summarised), questions and mobilisation requests, newest first, as
    ``principal`` may see them; the dashboard filters them by escalation, area or network."""
    state, now = read.outreach.state, read.clock.now()
    if part == "pulses":
        pulses = sorted(state.pulses.values(), key=lambda p: p.started_at, reverse=True)
        return [
            pulse_for(principal, pseudonym, pulse_summary(p, now)).model_dump(mode="json")
            for p in pulses[:OUTREACH_SHOWN]
        ]
    if part == "questions":
        questions = sorted(
            state.questions.values(), key=lambda q: (q.raised_at, q.question_id), reverse=True
        )
        return [
            question_item(principal, pseudonym, q).model_dump(mode="json")
            for q in questions[:OUTREACH_SHOWN]
        ]
    requests = sorted(state.mobilisations.values(), key=lambda m: m.requested_at, reverse=True)
    return [
        mobilisation_item(principal, pseudonym, m).model_dump(mode="json")
        for m in requests[:OUTREACH_SHOWN]
    ]


def checkpoints(read: ReadModels) -> dict[str, int]:
    return {r.name: r.checkpoint for r in read.runners}


async def changed_parts(
    read: ReadModels,
    seen: dict[str, int],
    stopping: Callable[[], bool],
    refresh_s: float = REFRESH_S,
) -> AsyncIterator[set[str]]:
    """Every :data:`CHANGE_POLL_S`, the parts whose read model advanced since ``seen``
    (updated in place; often none), and every ``refresh_s`` the time-dependent ones too;
    ends when ``stopping()``."""
    loop = asyncio.get_running_loop()
    refresh_at = loop.time() + refresh_s
    while not stopping():
        now = checkpoints(read)
        parts = {
            part
            for name, position in now.items()
            if position != seen.get(name)
            for part in PART_OF_PROJECTION.get(name, ())
        }
        if loop.time() >= refresh_at:
            parts |= TIMED_PARTS
            refresh_at = loop.time() + refresh_s
        seen.clear()
        seen.update(now)
        yield parts
        await asyncio.sleep(CHANGE_POLL_S)
