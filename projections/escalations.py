"""Escalation board and incident timelines (verloop) for the crisis organisation and for
after-action review (evaluatie).

Per escalation: status, alert level and round, acknowledgement, joined signals, alerts issued,
the convenings with their RSVPs, and a timeline. Its band and GRIP suggestion follow the
incident (each joining signal and each alert's situation picture), with their history.

The timeline is ordered by when things happened (``occurred_at``); events with the same time
keep their log order, so a late-recorded event still lands at its place in the story.

Idempotence: each escalation remembers the envelope ids it applied and ignores a redelivery.
(Appending to the timeline is not idempotent by itself, unlike the call-list handlers.)

Privacy: the RSVP's community keys per ally are kept in the state only to recompute which
required communities are covered when someone changes their answer; the query result
:class:`ConveningStatus` exposes only the covered and missing communities, not who covers what.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from events.envelope import AwareDatetime, Envelope
from events.escalation import (
    AckTimeoutElapsed,
    AckTimerSet,
    Convened,
    ConveningCalled,
    ConveningQuorate,
    CrisisAlertIssued,
    EscalationAcknowledged,
    EscalationClosed,
    EscalationDeEscalated,
    EscalationOpened,
    EscalationResolved,
    RsvpAnswer,
    RsvpDeadlinePassed,
    RsvpRecorded,
    RsvpReminderDue,
    SignalJoined,
)
from events.personal import (
    PersonalCipher,
    cipher_of,
    open_snapshot_part,
    seal_snapshot_part,
    snapshot_context,
)

Status = Literal["alerted", "acknowledged", "de_escalated", "resolved", "closed"]

# ---------------------------------------------------------------- state


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    type: str
    """Short event name, e.g. ``crisis-alert-issued``."""
    actor: str
    summary_key: str
    """A label key the UI translates (services.texts_nl.console), e.g. ``alert_issued``."""
    params: dict[str, str] = Field(default_factory=dict)


class BandChange(BaseModel):
    """The band or GRIP suggestion of an escalation changed (or was first seen, at opening)."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    band: str
    grip: int
    cause: str
    """Short name of the event that brought it: ``opened``, ``signal-joined`` or
    ``crisis-alert-issued``."""


class AlertIssued(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: str
    level: int
    """The policy's level, counted from 1."""
    round: int
    at: AwareDatetime


class ConveningRecord(BaseModel):
    convening_id: str
    starts_at: AwareDatetime
    mode: str
    place: str
    invited: list[str]
    required_communities: list[str]
    quorum: int
    rsvp_deadline: AwareDatetime
    answers: dict[str, RsvpAnswer] = Field(default_factory=dict)
    communities_by_ally: dict[str, list[str]] = Field(default_factory=dict)
    """Personal data (affiliations): sealed per ally in snapshots, never shown."""
    quorate_at: AwareDatetime | None = None
    reminded_at: AwareDatetime | None = None
    deadline_passed_at: AwareDatetime | None = None
    convened_at: AwareDatetime | None = None
    convened_attending: list[str] = Field(default_factory=list)
    cancelled_at: AwareDatetime | None = None
    """Called off: moved to another convening, or the escalation closed before it."""

    @field_serializer("communities_by_ally", mode="wrap")
    def _seal(self, value: dict[str, list[str]], handler: Any, info: SerializationInfo) -> Any:
        cipher = cipher_of(info.context)
        if cipher is None:
            return handler(value)
        sealed = {}
        for ally, communities in value.items():
            part = {"communities": list(communities)}
            sealed[ally] = seal_snapshot_part(cipher, "ally", ally, part)
        return sealed

    @field_validator("communities_by_ally", mode="before")
    @classmethod
    def _open(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict):
            return value
        cipher = cipher_of(info.context)
        opened = {}
        for ally, part in value.items():
            if isinstance(part, list):
                opened[ally] = part  # legacy snapshot, plaintext
                continue
            part = open_snapshot_part(cipher, "ally", ally, part)
            opened[ally] = [] if part.get("erased") else list(part.get("communities", []))
        return opened


class EscalationRecord(BaseModel):
    escalation_id: str
    area: str
    theme: str
    trigger: str
    reason: str = ""
    """Why it was opened (the opening's reason)."""
    band: str
    """The band now: at opening, then as each joining signal and alert saw it."""
    suggested_grip: int
    """The GRIP suggestion now, followed like ``band``."""
    band_history: list[BandChange] = Field(default_factory=list)
    """Every change of ``band`` or ``suggested_grip``, the opening first."""
    status: Status = "alerted"
    level: int = 0
    """The policy level alerted last, counted from 1 (level 1 = the policy's first level);
    0 = not alerted yet."""
    round: int = 0
    exhausted: bool = False
    ack_due_at: AwareDatetime | None = None
    """When the alert moves on unless acknowledged; ``None`` once someone is on it."""
    opened_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    signal_ids: list[str] = Field(default_factory=list)
    communities: list[str] = Field(default_factory=list)
    """Affected communities named in the incident's signals."""
    alerts: list[AlertIssued] = Field(default_factory=list)
    convenings: dict[str, ConveningRecord] = Field(default_factory=dict)
    closed_at: AwareDatetime | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    applied: set[str] = Field(default_factory=set)
    """Envelope ids already applied (redelivery guard)."""


class EscalationsState(BaseModel):
    escalations: dict[str, EscalationRecord] = Field(default_factory=dict)
    convening_index: dict[str, str] = Field(default_factory=dict)
    """convening id → escalation id, for :func:`convening_status`."""


# ---------------------------------------------------------------- fold


class EscalationsProjection:
    name: str = "escalations"
    # 2: affected communities per escalation; 3: cancelled convenings; 4: levels count from 1;
    # 5: band and GRIP suggestion follow the incident, with their history and the reason;
    # 6: RSVP communities sealed per ally in snapshots
    version: int = 6
    kinds: tuple[str, ...] = ("escalation",)

    def __init__(self, cipher: PersonalCipher | None = None) -> None:
        self.cipher = cipher

    def initial(self) -> EscalationsState:
        return EscalationsState()

    def evolve(self, state: EscalationsState, event: Envelope[Any]) -> EscalationsState:
        e = event.data
        eid = getattr(e, "escalation_id", None)
        if eid is None:
            return state
        if isinstance(e, EscalationOpened) and eid not in state.escalations:
            state.escalations[eid] = EscalationRecord(
                escalation_id=eid,
                area=e.area,
                theme=e.theme,
                trigger=e.trigger,
                reason=e.reason,
                band=e.band,
                suggested_grip=e.suggested_grip,
                opened_at=e.opened_at,
                signal_ids=list(e.signal_ids),
            )
        current = state.escalations.get(eid)
        if current is None or event.id in current.applied:
            return state
        # Apply to a copy: an event that fails half-way leaves the state as it was, so the
        # runner's retry (or the dead-letter stream) sees it whole.
        record = current.model_copy(deep=True)
        key, params = _apply(state, record, e, event.occurred_at)
        record.applied.add(event.id)
        entry = TimelineEntry(
            at=event.occurred_at,
            type=e.TYPE.rsplit(".", 1)[-1],
            actor=event.actor,
            summary_key=f"escalation.{key}",
            params=params,
        )
        # bisect_right: equal times stay in log order.
        index = bisect.bisect_right([t.at for t in record.timeline], entry.at)
        record.timeline.insert(index, entry)
        state.escalations[eid] = record
        return state

    def dump(self, state: EscalationsState) -> bytes:
        return state.model_dump_json(context=snapshot_context(self.cipher)).encode()

    def load(self, data: bytes) -> EscalationsState:
        return EscalationsState.model_validate_json(data, context=snapshot_context(self.cipher))


def _apply(
    state: EscalationsState, r: EscalationRecord, e: Any, at: datetime
) -> tuple[str, dict[str, str]]:
    """Update the record; return the timeline's summary key and its parameters."""
    match e:
        case EscalationOpened():
            r.band_history = [BandChange(at=at, band=e.band, grip=e.suggested_grip, cause="opened")]
            return "opened", {"trigger": e.trigger, "band": e.band, "grip": str(e.suggested_grip)}
        case SignalJoined():
            if e.signal_id not in r.signal_ids:
                r.signal_ids.append(e.signal_id)
            _add_communities(r, e.communities)
            _follow(r, at, e.band, e.suggested_grip, "signal-joined")
            return "signal_joined", {"signal_id": e.signal_id, "band": e.band}
        case CrisisAlertIssued():
            _add_communities(r, e.situation.communities)
            s = e.situation
            _follow(r, at, s.band, s.suggested_grip, "crisis-alert-issued")
            r.level, r.round, r.exhausted = e.level, e.round, False
            r.alerts.append(AlertIssued(alert_id=e.alert_id, level=e.level, round=e.round, at=at))
            return "alert_issued", {"level": str(e.level), "round": str(e.round)}
        case AckTimerSet():
            r.ack_due_at = e.due_at
            return "ack_timer_set", {"level": str(e.level), "round": str(e.round)}
        case AckTimeoutElapsed():
            r.exhausted, r.ack_due_at = e.exhausted, None
            key = "ack_timeout_exhausted" if e.exhausted else "ack_timeout"
            return key, {"level": str(e.level), "round": str(e.round)}
        case EscalationAcknowledged():
            r.status, r.acknowledged_at, r.acknowledged_by = "acknowledged", at, e.by
            r.ack_due_at = None
            return "acknowledged", {"by": e.by}
        case EscalationDeEscalated() | EscalationResolved() | EscalationClosed():
            return _status_change(r, e, at)
        case ConveningCalled():
            r.convenings[e.convening_id] = ConveningRecord(
                convening_id=e.convening_id,
                starts_at=e.starts_at,
                mode=e.mode,
                place=e.place,
                invited=list(e.invited),
                required_communities=list(e.required_communities),
                quorum=e.quorum,
                rsvp_deadline=e.rsvp_deadline,
            )
            state.convening_index[e.convening_id] = r.escalation_id
            _cancel(r, e.supersedes, at)
            return "convening_called", {"convening_id": e.convening_id, "mode": e.mode}
    return _apply_convening(r, e, at)


def _follow(r: EscalationRecord, at: datetime, band: str, grip: int | None, cause: str) -> None:
    """The incident as the latest event saw it; ``grip`` ``None``: not known (an old event)."""
    grip = r.suggested_grip if grip is None else grip
    if (band, grip) != (r.band, r.suggested_grip):
        r.band, r.suggested_grip = band, grip
        r.band_history.append(BandChange(at=at, band=band, grip=grip, cause=cause))


def _add_communities(r: EscalationRecord, communities: Iterable[str]) -> None:
    r.communities.extend(c for c in dict.fromkeys(communities) if c not in r.communities)


def _cancel(r: EscalationRecord, convening_id: str | None, at: datetime) -> None:
    old = r.convenings.get(convening_id or "")
    if old is not None and old.cancelled_at is None:
        old.cancelled_at = at


def _status_change(r: EscalationRecord, e: Any, at: datetime) -> tuple[str, dict[str, str]]:
    r.ack_due_at = None  # any of these stops the alert ladder
    if isinstance(e, EscalationClosed):
        r.status, r.closed_at = "closed", at
        _cancel(r, e.cancelled_convening, at)
    elif isinstance(e, EscalationResolved):
        r.status = "resolved"
    else:
        r.status = "de_escalated"
    return r.status, {"by": e.by}


def _apply_convening(r: EscalationRecord, e: Any, at: datetime) -> tuple[str, dict[str, str]]:
    c = r.convenings.get(getattr(e, "convening_id", ""))
    if c is None:
        return "unknown", {}
    params = {"convening_id": c.convening_id}
    match e:
        case RsvpRecorded():
            c.answers[e.ally_id] = e.answer
            c.communities_by_ally[e.ally_id] = list(e.personal.communities)
            return f"rsvp_{e.answer}", {**params, "ally_id": e.ally_id}
        case ConveningQuorate():
            c.quorate_at = at
            return "convening_quorate", params
        case RsvpReminderDue():
            c.reminded_at = at
            return "rsvp_reminder", {**params, "count": str(len(e.not_answered))}
        case RsvpDeadlinePassed():
            c.deadline_passed_at = at
            return "rsvp_deadline_passed", {**params, "quorate": str(e.quorate).lower()}
        case Convened():
            c.convened_at, c.convened_attending = at, list(e.attending)
            return "convened", {**params, "count": str(len(e.attending))}
    return "unknown", {}


# ---------------------------------------------------------------- queries (pure)


class ConveningStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    convening_id: str
    escalation_id: str
    starts_at: datetime
    mode: str
    place: str
    rsvp_deadline: datetime
    invited: tuple[str, ...]
    answers: dict[str, RsvpAnswer]
    not_answered: tuple[str, ...]
    attending: tuple[str, ...]
    quorum: int
    covered_communities: tuple[str, ...]
    missing_communities: tuple[str, ...]
    quorate: bool
    """Live: may turn false again if someone withdraws after ``quorate_at``."""
    quorate_at: datetime | None
    deadline_passed: bool
    convened_at: datetime | None
    cancelled_at: datetime | None = None


def list_escalations(state: EscalationsState, open_only: bool = False) -> list[EscalationRecord]:
    """Newest first; copies, so callers cannot change the fold's state."""
    records = [r for r in state.escalations.values() if not (open_only and r.status == "closed")]
    records.sort(key=lambda r: (r.opened_at, r.escalation_id), reverse=True)
    return [r.model_copy(deep=True) for r in records]


def is_open(state: EscalationsState, area: str, theme: str) -> bool:
    """An escalation of ``area`` × ``theme`` is not closed. Asked for every signal: it reads the
    records in place (no copies; copying every open escalation per signal made intake slow
    down as escalations piled up)."""
    return any(
        r.area == area and r.theme == theme and r.status != "closed"
        for r in state.escalations.values()
    )


def escalation(state: EscalationsState, escalation_id: str) -> EscalationRecord | None:
    record = state.escalations.get(escalation_id)
    return record.model_copy(deep=True) if record is not None else None


def convening_status(state: EscalationsState, convening_id: str) -> ConveningStatus | None:
    eid = state.convening_index.get(convening_id)
    record = state.escalations.get(eid) if eid is not None else None
    c = record.convenings.get(convening_id) if record is not None else None
    if record is None or c is None:
        return None
    attending = tuple(a for a in c.invited if c.answers.get(a) == "attending")
    covered = {k for a in attending for k in c.communities_by_ally.get(a, [])}
    missing = tuple(k for k in c.required_communities if k not in covered)
    return ConveningStatus(
        convening_id=c.convening_id,
        escalation_id=record.escalation_id,
        starts_at=c.starts_at,
        mode=c.mode,
        place=c.place,
        rsvp_deadline=c.rsvp_deadline,
        invited=tuple(c.invited),
        answers=dict(c.answers),
        not_answered=tuple(a for a in c.invited if c.answers.get(a) in (None, "later")),
        attending=attending,
        quorum=c.quorum,
        covered_communities=tuple(sorted(covered & set(c.required_communities))),
        missing_communities=missing,
        quorate=len(attending) >= c.quorum and not missing,
        quorate_at=c.quorate_at,
        deadline_passed=c.deadline_passed_at is not None,
        convened_at=c.convened_at,
        cancelled_at=c.cancelled_at,
    )
