"""Network health (netwerkonderhoud): is each network alive in peacetime?

A fold of the networks' own events (formation, settings, membership, meetings, evaluations,
core group, professional seats) and the contact log (when an ally was last reached), and a
pure query :func:`network_health` that judges each network at a moment ``at``: the same state
and the same ``at`` give the same flags. Each flag has a machine ``code`` and the numbers its
reason needs (``params``); the Dutch reason text is rendered by ``services.texts_nl.network``.

No personal data is kept here: allies, chairs and professionals are ids. Which communities the
members represent is special-category data that lives (sealed) in the call-list read model;
:func:`network_health` takes it from there (``CallListState``), so an erased ally's
communities are gone from the health too.

Idempotence: every handler sets what its event says (or keeps a maximum), so a redelivered
event changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import AwareDatetime, Envelope
from events.network import (
    DEFAULT_MEETINGS_PER_YEAR,
    AllyEnrolled,
    AllyErased,
    AllyLeft,
    CallOutcome,
    CallOutcomeRecorded,
    CoreGroupMemberAdded,
    CoreGroupMemberRemoved,
    DutyContactAssigned,
    DutyRole,
    EvaluationOutcome,
    EvaluationRecorded,
    HandoverAnnounced,
    MeetingChairAssigned,
    MeetingHeld,
    MeetingPlanned,
    NetworkFormed,
    NetworkSettingsChanged,
    SeatVacated,
    SuccessorIntroduced,
)
from projections.call_lists import CallListState

YEAR = timedelta(days=365)
EVALUATION_INTERVAL = timedelta(days=183)
"""Every half year the network evaluates who sits at the table."""
NOT_REACHED_AFTER = timedelta(days=90)
"""An ally nobody reached by phone for this long (or since they joined) is flagged."""
UNDERSTAFFED_SHARE = 0.5
"""Fewer members than this share of the cap: the network needs recruiting."""

# Flag codes (stable for API clients; the Dutch reasons are in services.texts_nl.network)
OVER_CAP = "over_cap"
UNDERSTAFFED = "understaffed"
MEETINGS_BELOW_TARGET = "meetings_below_target"
NO_NEXT_MEETING = "no_next_meeting"
EVALUATION_OVERDUE = "evaluation_overdue"
SEAT_VACANT = "seat_vacant"
HANDOVER_PENDING = "handover_pending"
COMMUNITIES_MISSING = "communities_missing"
ALLIES_NOT_REACHED = "allies_not_reached"
FLAG_CODES = (
    OVER_CAP,
    UNDERSTAFFED,
    MEETINGS_BELOW_TARGET,
    NO_NEXT_MEETING,
    EVALUATION_OVERDUE,
    SEAT_VACANT,
    HANDOVER_PENDING,
    COMMUNITIES_MISSING,
    ALLIES_NOT_REACHED,
)

# ---------------------------------------------------------------- state


class Meeting(BaseModel):
    meeting_id: str
    starts_at: AwareDatetime
    place: str
    chair: str
    held_at: AwareDatetime | None = None
    attendance: int = 0
    topics: list[str] = Field(default_factory=list)


class Seat(BaseModel):
    """A professional seat (police, municipality). ``holder`` ``None``: vacant (``vacated_at``
    says since when, ``None``: never filled)."""

    holder: str | None = None
    function: str = ""
    leaving_on: AwareDatetime | None = None
    vacated_at: AwareDatetime | None = None
    introduced_at: AwareDatetime | None = None


class Evaluation(BaseModel):
    evaluated_at: AwareDatetime
    outcome: EvaluationOutcome
    recruit_communities: list[str] = Field(default_factory=list)


class NetworkLife(BaseModel):
    network_id: str
    name: str
    area: str
    formed_at: AwareDatetime
    size_cap: int
    meetings_per_year: int = DEFAULT_MEETINGS_PER_YEAR
    communities: list[str] = Field(default_factory=list)
    """The communities of the area the network should represent (settings)."""
    members: dict[str, AwareDatetime] = Field(default_factory=dict)
    """Ally id -> when they joined."""
    last_reached: dict[str, AwareDatetime] = Field(default_factory=dict)
    meetings: dict[str, Meeting] = Field(default_factory=dict)
    last_evaluation: Evaluation | None = None
    core_group: dict[str, DutyRole] = Field(default_factory=dict)
    seats: dict[DutyRole, Seat] = Field(default_factory=dict)


class HealthState(BaseModel):
    networks: dict[str, NetworkLife] = Field(default_factory=dict)


class NetworkHealthProjection:
    name: str = "network_health"
    version: int = 1
    kinds: tuple[str, ...] = ("network", "contact")

    def initial(self) -> HealthState:
        return HealthState()

    def evolve(self, state: HealthState, event: Envelope[Any]) -> HealthState:
        e, at = event.data, event.occurred_at
        if isinstance(e, NetworkFormed):
            found = state.networks.get(e.network_id)
            if found is None:
                state.networks[e.network_id] = NetworkLife(
                    network_id=e.network_id,
                    name=e.name,
                    area=e.area,
                    formed_at=at,
                    size_cap=e.size_cap,
                )
            else:  # a re-issued formation updates the description only
                found.name, found.area, found.size_cap = e.name, e.area, e.size_cap
            return state
        network = state.networks.get(getattr(e, "network_id", ""))
        if network is not None:
            _evolve(network, e, at)
        return state

    def dump(self, state: HealthState) -> bytes:
        return state.model_dump_json().encode()

    def load(self, data: bytes) -> HealthState:
        return HealthState.model_validate_json(data)


def _evolve(n: NetworkLife, e: Any, at: datetime) -> None:
    if isinstance(e, NetworkSettingsChanged):
        n.size_cap, n.meetings_per_year = e.size_cap, e.meetings_per_year
        n.communities = list(e.communities)
    elif isinstance(e, AllyEnrolled):
        n.members.setdefault(e.ally_id, at)
    elif isinstance(e, AllyLeft | AllyErased):
        n.members.pop(e.ally_id, None)
        n.last_reached.pop(e.ally_id, None)
    elif isinstance(e, CallOutcomeRecorded):
        if e.outcome is CallOutcome.REACHED and e.ally_id in n.members:
            previous = n.last_reached.get(e.ally_id)
            n.last_reached[e.ally_id] = at if previous is None else max(previous, at)
    elif isinstance(e, MeetingPlanned):
        n.meetings.setdefault(
            e.meeting_id,
            Meeting(meeting_id=e.meeting_id, starts_at=e.starts_at, place=e.place, chair=e.chair),
        )
    elif isinstance(e, MeetingChairAssigned):
        if (m := n.meetings.get(e.meeting_id)) is not None:
            m.chair = e.chair
    elif isinstance(e, MeetingHeld):
        if (m := n.meetings.get(e.meeting_id)) is not None:
            m.held_at, m.attendance, m.topics = e.held_at, len(e.attendance), list(e.topics)
    elif isinstance(e, EvaluationRecorded):
        last = n.last_evaluation
        if last is None or e.evaluated_at >= last.evaluated_at:
            n.last_evaluation = Evaluation(
                evaluated_at=e.evaluated_at,
                outcome=e.outcome,
                recruit_communities=list(e.recruit_communities),
            )
    elif isinstance(e, CoreGroupMemberAdded):
        n.core_group[e.member_id] = e.role
    elif isinstance(e, CoreGroupMemberRemoved):
        n.core_group.pop(e.member_id, None)
    elif isinstance(e, DutyContactAssigned):
        n.seats[e.role] = Seat(holder=e.contact_id, function=e.function)
    elif isinstance(e, SuccessorIntroduced):
        seat = n.seats.setdefault(e.role, Seat())
        seat.holder, seat.introduced_at = e.contact_id, at
        seat.leaving_on = seat.vacated_at = None
    elif isinstance(e, HandoverAnnounced):
        seat = n.seats.setdefault(e.role, Seat())
        if seat.holder == e.contact_id:
            seat.leaving_on = e.leaves_on
    elif isinstance(e, SeatVacated):
        n.seats[e.role] = Seat(vacated_at=at)


# ---------------------------------------------------------------- the query (pure)


class HealthFlag(BaseModel):
    """Something that needs the coordinator's attention. ``code``: one of :data:`FLAG_CODES`;
    ``params``: the numbers and codes the reason names; ``allies``: the ids concerned (shown
    as the reader's role may see them)."""

    model_config = ConfigDict(frozen=True)

    code: str
    params: dict[str, Any] = Field(default_factory=dict)
    allies: tuple[str, ...] = ()


class NetworkHealth(BaseModel):
    model_config = ConfigDict(frozen=True)

    network_id: str
    name: str
    area: str
    members: int
    size_cap: int
    consented: int
    communities_covered: tuple[str, ...]
    duty_contacts: dict[DutyRole, bool]
    days_since_last_reached: int | None
    """Whole days since an ally of this network was last reached by phone; None if never."""
    meetings_per_year: int = DEFAULT_MEETINGS_PER_YEAR
    meetings_last_12_months: int = 0
    next_meeting_at: datetime | None = None
    last_evaluated_at: datetime | None = None
    flags: tuple[HealthFlag, ...] = ()


def network_health(
    calls: CallListState, *, at: datetime, life: HealthState | None = None
) -> tuple[NetworkHealth, ...]:
    """Per network, judged at ``at``: is it staffed, consented, diverse, meeting, evaluated,
    with both professional seats held, and recently in touch? ``calls``: the call-list read
    model (members, their communities and consent); ``life``: this module's fold (without
    it, only the membership figures)."""
    lives = life.networks if life is not None else {}
    out = []
    for n in sorted(calls.networks.values(), key=lambda n: n.network_id):
        covered = tuple(sorted({c for m in n.members.values() for c in m.personal.communities}))
        lived = lives.get(n.network_id)
        base = {
            "network_id": n.network_id,
            "name": n.name,
            "area": n.area,
            "members": len(n.members),
            "size_cap": n.size_cap,
            "consented": sum(m.consent_to_be_called for m in n.members.values()),
            "communities_covered": covered,
            "duty_contacts": {role: role in n.duty_contacts for role in DutyRole},
            "days_since_last_reached": (
                None if n.last_reached_at is None else max((at - n.last_reached_at).days, 0)
            ),
        }
        if lived is not None:
            base |= _judge(lived, covered, at)
        out.append(NetworkHealth.model_validate(base))
    return tuple(out)


def _judge(n: NetworkLife, covered: tuple[str, ...], at: datetime) -> dict[str, Any]:
    flags: list[HealthFlag] = []
    members = len(n.members)
    if members > n.size_cap:
        flags.append(HealthFlag(code=OVER_CAP, params={"members": members, "cap": n.size_cap}))
    elif members < n.size_cap * UNDERSTAFFED_SHARE:
        flags.append(HealthFlag(code=UNDERSTAFFED, params={"members": members, "cap": n.size_cap}))

    held = [m for m in n.meetings.values() if m.held_at is not None and at - YEAR < m.held_at <= at]
    # A network younger than a year is held to its share of the yearly target.
    age = min(max(at - n.formed_at, timedelta(0)), YEAR)
    expected = int(n.meetings_per_year * (age / YEAR))
    if len(held) < expected:
        flags.append(
            HealthFlag(
                code=MEETINGS_BELOW_TARGET,
                params={"held": len(held), "expected": expected, "target": n.meetings_per_year},
            )
        )
    upcoming = sorted(
        m.starts_at for m in n.meetings.values() if m.held_at is None and m.starts_at > at
    )
    if not upcoming:
        flags.append(HealthFlag(code=NO_NEXT_MEETING))

    evaluated = n.last_evaluation.evaluated_at if n.last_evaluation else None
    since = evaluated or n.formed_at
    if at - since > EVALUATION_INTERVAL:
        params: dict[str, Any] = {"days": (at - since).days, "never": evaluated is None}
        flags.append(HealthFlag(code=EVALUATION_OVERDUE, params=params))

    for role in DutyRole:
        seat = n.seats.get(role)
        if seat is None or seat.holder is None:
            vacated = seat.vacated_at if seat else None
            days = None if vacated is None else max((at - vacated).days, 0)
            flags.append(HealthFlag(code=SEAT_VACANT, params={"role": role.value, "days": days}))
        elif seat.leaving_on is not None:
            flags.append(
                HealthFlag(
                    code=HANDOVER_PENDING,
                    params={"role": role.value, "leaves_on": seat.leaving_on.isoformat()},
                )
            )

    missing = [c for c in n.communities if c not in covered]
    if missing:
        flags.append(HealthFlag(code=COMMUNITIES_MISSING, params={"communities": missing}))

    stale = sorted(
        ally
        for ally, joined in n.members.items()
        if at - max(n.last_reached.get(ally, joined), joined) > NOT_REACHED_AFTER
    )
    if stale:
        flags.append(
            HealthFlag(
                code=ALLIES_NOT_REACHED,
                params={"count": len(stale), "days": NOT_REACHED_AFTER.days},
                allies=tuple(stale),
            )
        )
    return {
        "meetings_per_year": n.meetings_per_year,
        "meetings_last_12_months": len(held),
        "next_meeting_at": upcoming[0] if upcoming else None,
        "last_evaluated_at": evaluated,
        "flags": tuple(flags),
    }
