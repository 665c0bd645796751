"""Pictures built from the live read models: the situation picture (situatiebeeld) an alert
carries, the convening the workflow proposes, and the view the process manager reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.convening import ConveningProposal, propose
from domain.errors import NotFound
from domain.policy import EscalationPolicy, policy_for, suggest_grip
from domain.workflow import CellFacts
from events.escalation import CallListSummary, ContributingSignal, SituationPicture
from events.network import DutyRole
from projections.escalations import EscalationRecord, escalation, is_open
from projections.tension_map import CellView, cell_facts, slow_view, tension_view
from services.app.readmodels import ReadModels


def area_name(read: ReadModels, area: str) -> str:
    for network in read.networks.networks.values():
        if network.area == area or area in network.areas:
            return network.name
    return area


def cell_now(read: ReadModels, area: str, theme: str, at: datetime) -> CellView | None:
    view = tension_view(
        read.tension.state, at, read.tension_projection.config, area=area, theme=theme
    )
    return next((c for c in view.cells if c.area == area and c.theme == theme), None)


def situation(
    read: ReadModels,
    area: str,
    theme: str,
    communities: Sequence[str],
    at: datetime,
    *,
    major_incident: bool = False,
) -> SituationPicture:
    cell = cell_now(read, area, theme, at)
    # The incident's affected communities: the ones given and those its signals name.
    named = [c for s in (cell.signals if cell else ()) for c in s.communities]
    communities = tuple(dict.fromkeys([*communities, *named]))
    calls = read.call_list(area, [theme], communities)
    duty: dict[DutyRole, int] = {}
    for contact in calls.duty_contacts:
        duty[contact.role] = duty.get(contact.role, 0) + 1
    band = cell.band.value if cell else "normal"
    return SituationPicture(
        area=area,
        area_name=area_name(read, area),
        themes=(theme,),
        band=band,
        trend=(cell.trend.value if cell else "steady"),
        score=cell.score if cell else 0.0,
        as_of=at,
        contributing=tuple(
            ContributingSignal(
                signal_id=s.signal_id, role=s.role, evidence=s.evidence, level=s.level
            )
            for s in (cell.signals if cell else ())
        ),
        call_list_summary=CallListSummary(callable_allies=len(calls.entries), duty_contacts=duty),
        coverage_gaps=tuple(calls.coverage_gaps),
        communities=tuple(dict.fromkeys(communities)),
        suggested_grip=suggest_grip(band, [theme], major_incident),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class LiveView:
    """What the workflow's process manager reads (:class:`domain.workflow.WorkflowView`),
    answered from the live read models at one moment."""

    read: ReadModels
    policies: Mapping[str, EscalationPolicy]
    now: datetime

    def policy(self, area: str) -> EscalationPolicy:
        return policy_for(self.policies, area)

    def cell(self, area: str, theme: str) -> CellFacts | None:
        state, config = self.read.tension.state, self.read.tension_projection.config
        facts = cell_facts(state, area, theme, self.now, config)
        # The slow scale sums a month of reporter-days: judged only where the policy opens on
        # it, not on every signal everywhere.
        watch = (
            self.policy(area).open_on_watch
            and slow_view(state, area, theme, self.now, config).watch
        )
        if facts is None:
            return CellFacts("normal", 0, 0, watch=True) if watch else None
        band, reporters, roles = facts
        return CellFacts(band.value, reporters, roles, watch=watch)

    def is_open(self, area: str, theme: str) -> bool:
        return is_open(self.read.escalations.state, area, theme)

    def situation(
        self, area: str, theme: str, communities: Sequence[str], *, major_incident: bool = False
    ) -> SituationPicture:
        return situation(
            self.read, area, theme, communities, self.now, major_incident=major_incident
        )


def escalation_record(read: ReadModels, escalation_id: str) -> EscalationRecord:
    record = escalation(read.escalations.state, escalation_id)
    if record is None:
        raise NotFound(f"unknown escalation {escalation_id}", field="escalation_id")
    return record


def convening_proposal(
    read: ReadModels,
    policies: Mapping[str, EscalationPolicy],
    escalation_id: str,
    now: datetime,
    communities: Sequence[str] | None = None,
) -> tuple[ConveningProposal, frozenset[str]]:
    """The meeting the workflow proposes (policy defaults, the incident's affected
    communities, the call list for them as invitees), and every ally who may be called for
    it (the proposal caps the invitees)."""
    record = escalation_record(read, escalation_id)
    area, theme = record.area, record.theme
    affected = record.communities if communities is None else communities
    calls = read.call_list(area, [theme], affected)
    callable_ = [e.ally_id for e in calls.entries]
    defaults = policy_for(policies, area).convening
    proposal = propose(now, defaults, affected, callable_, calls.coverage_gaps, area=area)
    return proposal, frozenset(callable_)
