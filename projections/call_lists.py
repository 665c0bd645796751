"""Network membership read model and call lists (bellijsten): whom to phone for an incident.

Idempotence without tracking event ids: every handler *sets* state to what its event says
(membership, availability, duty contact) or keeps a maximum (last call, last reached), and never
increments or appends. Applying an event twice in a row is therefore the same as once, and
replaying an already applied suffix of the log in order converges to the same state. A call
outcome replaces the stored one only if it is not older, so a late-recorded outcome cannot hide a
newer one.

Personal data (name, phone, e-mail, community affiliations) is copied from the events as is; it
is dropped from the state when an ally leaves or is erased. An ally whose key was destroyed
reads as :class:`events.personal.ErasedPersonal` in every earlier event (a replay before their
``AllyErased``): shown as erased, without contact details. Snapshots hold personal parts sealed
under each owner's key (the cipher comes in the dump/load context), so a destroyed key erases
the snapshot's copy too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    model_serializer,
    model_validator,
)

from events.envelope import AwareDatetime, Envelope, municipality_of
from events.network import (
    AllyAvailabilityChanged,
    AllyEnrolled,
    AllyErased,
    AllyLeft,
    AllyPersonal,
    Availability,
    CallOutcome,
    CallOutcomeRecorded,
    DutyContactAssigned,
    DutyContactPersonal,
    DutyRole,
    NetworkFormed,
    SeatVacated,
)
from events.personal import (
    ErasedPersonal,
    PersonalCipher,
    cipher_of,
    is_sealed,
    open_snapshot_part,
    seal_snapshot_part,
    snapshot_context,
)

RECENT_ATTEMPT_WINDOW = timedelta(hours=1)
"""No answer / call back later within this window: try the others first."""
JUST_REACHED_WINDOW = timedelta(hours=2)
"""Reached within this window: they were just called, so they rank lower."""

# ---------------------------------------------------------------- state


class _SealsPersonal(BaseModel):
    """A read-model record with a ``personal`` part owned by ``<OWNER_KIND>.<OWNER_FIELD>``:
    sealed in snapshots when a cipher is in the serialization context, opened on load."""

    OWNER: ClassVar[tuple[str, str]] = ("ally", "ally_id")

    @model_serializer(mode="wrap")
    def _seal(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        cipher = cipher_of(info.context)
        if cipher is not None and isinstance(data, dict) and "personal" in data:
            kind, field = self.OWNER
            owner_id = str(getattr(self, field))
            data["personal"] = seal_snapshot_part(cipher, kind, owner_id, data["personal"])
        return data

    @model_validator(mode="before")
    @classmethod
    def _open(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and is_sealed(data.get("personal")):
            kind, field = cls.OWNER
            cipher = cipher_of(info.context)
            opened = open_snapshot_part(cipher, kind, str(data.get(field)), data["personal"])
            data = {**data, "personal": opened}
        return data


class Member(_SealsPersonal):
    ally_id: str
    areas: list[str]
    themes: list[str]
    availability: Availability
    consent_to_be_called: bool
    personal: AllyPersonal | ErasedPersonal


class LastCall(BaseModel):
    # Frozen: replaced whole, never edited, so views can share it without exposing the state.
    model_config = ConfigDict(frozen=True)

    outcome: CallOutcome
    at: AwareDatetime
    escalation_id: str | None = None


class DutyContact(_SealsPersonal):
    model_config = ConfigDict(frozen=True)
    OWNER: ClassVar[tuple[str, str]] = ("contact", "contact_id")

    role: DutyRole
    contact_id: str
    function: str
    personal: DutyContactPersonal | ErasedPersonal


class NetworkState(BaseModel):
    network_id: str
    name: str
    area: str
    areas: list[str]
    size_cap: int
    members: dict[str, Member] = Field(default_factory=dict)
    duty_contacts: dict[DutyRole, DutyContact] = Field(default_factory=dict)
    last_calls: dict[str, LastCall] = Field(default_factory=dict)
    last_reached_at: AwareDatetime | None = None

    def serves(self, area: str) -> bool:
        municipality = municipality_of(area)
        return area in self.areas or municipality == self.area or municipality in self.areas


class CallListState(BaseModel):
    networks: dict[str, NetworkState] = Field(default_factory=dict)


class CallListProjection:
    name: str = "call_lists"
    version: int = 2  # 2: personal parts sealed in snapshots
    kinds: tuple[str, ...] = ("network", "contact")

    def __init__(self, cipher: PersonalCipher | None = None) -> None:
        self.cipher = cipher

    def initial(self) -> CallListState:
        return CallListState()

    def evolve(self, state: CallListState, event: Envelope[Any]) -> CallListState:
        e = event.data
        if isinstance(e, NetworkFormed):
            _formed(state, e)
            return state
        # The write side accepts the other events only for an existing network and the log is
        # totally ordered, so an unknown network here means an event of another deployment.
        network = state.networks.get(getattr(e, "network_id", ""))
        if network is None:
            return state
        if isinstance(e, AllyEnrolled):
            network.members[e.ally_id] = Member(
                ally_id=e.ally_id,
                areas=list(e.areas),
                themes=list(e.themes),
                availability=e.availability,
                consent_to_be_called=e.consent_to_be_called,
                personal=e.personal,
            )
        elif isinstance(e, AllyLeft | AllyErased):
            network.members.pop(e.ally_id, None)
            network.last_calls.pop(e.ally_id, None)
        elif isinstance(e, AllyAvailabilityChanged):
            member = network.members.get(e.ally_id)
            if member is not None:
                member.availability = e.availability
        elif isinstance(e, DutyContactAssigned):
            network.duty_contacts[e.role] = DutyContact(
                role=e.role, contact_id=e.contact_id, function=e.function, personal=e.personal
            )
        elif isinstance(e, SeatVacated):
            # The holder left without a successor: nobody to call in that role.
            network.duty_contacts.pop(e.role, None)
        elif isinstance(e, CallOutcomeRecorded):
            _call_outcome(network, e, event.occurred_at)
        return state

    def dump(self, state: CallListState) -> bytes:
        return state.model_dump_json(context=snapshot_context(self.cipher)).encode()

    def load(self, data: bytes) -> CallListState:
        return CallListState.model_validate_json(data, context=snapshot_context(self.cipher))


def _formed(state: CallListState, e: NetworkFormed) -> None:
    existing = state.networks.get(e.network_id)
    if existing is None:
        state.networks[e.network_id] = NetworkState(
            network_id=e.network_id,
            name=e.name,
            area=e.area,
            areas=list(e.areas),
            size_cap=e.size_cap,
        )
        return
    # A redelivered (or re-issued) formation updates the description but keeps the members.
    existing.name, existing.area = e.name, e.area
    existing.areas, existing.size_cap = list(e.areas), e.size_cap


def _call_outcome(network: NetworkState, e: CallOutcomeRecorded, at: datetime) -> None:
    if e.ally_id not in network.members:
        return
    previous = network.last_calls.get(e.ally_id)
    if previous is None or at >= previous.at:
        network.last_calls[e.ally_id] = LastCall(
            outcome=e.outcome, at=at, escalation_id=e.escalation_id
        )
    if e.outcome is CallOutcome.REACHED and (
        network.last_reached_at is None or at > network.last_reached_at
    ):
        network.last_reached_at = at


# ---------------------------------------------------------------- queries (pure)


class UnreachableReason(StrEnum):
    NO_CONSENT = "no_consent"
    UNAVAILABLE = "unavailable"


class CallListEntry(BaseModel):
    """A callable ally. ``reasons`` are machine codes the UI explains (services.texts_nl.labels):
    ``covers:<community>``, ``area`` / ``municipality``, ``theme:<theme>``, ``always_available``,
    ``recent:<outcome>`` (penalised), ``not_called_yet``."""

    model_config = ConfigDict(frozen=True)

    rank: int
    ally_id: str
    network_ids: tuple[str, ...]
    name: str
    phone: str
    email: str | None
    communities: tuple[str, ...]
    availability: Availability
    last_call: LastCall | None
    reasons: tuple[str, ...]
    erased: bool = False
    """Their personal data was erased (shown without name, contact details or communities)."""


class Unreachable(BaseModel):
    """An ally who may not or cannot be called now; deliberately without contact details."""

    model_config = ConfigDict(frozen=True)

    ally_id: str
    network_ids: tuple[str, ...]
    reason: UnreachableReason


class DutyContactView(BaseModel):
    model_config = ConfigDict(frozen=True)

    network_id: str
    role: DutyRole
    contact_id: str
    function: str
    name: str
    phone: str
    email: str | None


class CallList(BaseModel):
    model_config = ConfigDict(frozen=True)

    area: str
    at: datetime
    themes: tuple[str, ...]
    communities: tuple[str, ...]
    network_ids: tuple[str, ...]
    entries: tuple[CallListEntry, ...]
    unreachable: tuple[Unreachable, ...]
    duty_contacts: tuple[DutyContactView, ...]
    coverage_gaps: tuple[str, ...]
    """Affected communities that no callable ally on the list covers."""


def _last_call_as_of(network: NetworkState, ally_id: str, at: datetime) -> LastCall | None:
    # An outcome recorded after ``at`` is unknown to an as-of query.
    last = network.last_calls.get(ally_id)
    return last if last is not None and last.at <= at else None


def _rank(
    member: Member,
    last: LastCall | None,
    *,
    area: str,
    themes: Sequence[str],
    communities: Sequence[str],
    at: datetime,
) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """A sort key (higher is better, compared left to right) and the reasons behind it."""
    covered = [c for c in communities if c in member.personal.communities]
    reasons = [f"covers:{c}" for c in covered]
    municipality = municipality_of(area)
    if area in member.areas:
        area_match = 2
        reasons.append("area")
    elif any(municipality_of(a) == municipality for a in member.areas):
        area_match = 1
        reasons.append("municipality")
    else:
        area_match = 0
    matched_themes = [t for t in themes if t in member.themes]
    reasons += [f"theme:{t}" for t in matched_themes]
    always = member.availability is Availability.ALWAYS
    if always:
        reasons.append("always_available")
    # 2: nothing against calling; 1: tried recently without result; 0: reached just now.
    freshness = 2
    if last is None:
        reasons.append("not_called_yet")
    elif last.outcome is CallOutcome.REACHED and at - last.at < JUST_REACHED_WINDOW:
        freshness = 0
        reasons.append(f"recent:{last.outcome.value}")
    elif last.outcome is not CallOutcome.REACHED and at - last.at < RECENT_ATTEMPT_WINDOW:
        freshness = 1
        reasons.append(f"recent:{last.outcome.value}")
    since_contact = float("inf") if last is None else (at - last.at).total_seconds()
    key = (len(covered), area_match, len(matched_themes), int(always), freshness, since_contact)
    return key, tuple(reasons)


def call_list(
    state: CallListState,
    *,
    area: str,
    themes: Sequence[str],
    communities: Sequence[str],
    at: datetime,
) -> CallList:
    """Whom to call for an incident in ``area``: the best-placed callable allies first."""
    networks = sorted(
        (n for n in state.networks.values() if n.serves(area)), key=lambda n: n.network_id
    )
    memberships: dict[str, list[tuple[NetworkState, Member]]] = {}
    for network in networks:
        for member in network.members.values():
            memberships.setdefault(member.ally_id, []).append((network, member))
    ranked: list[tuple[tuple[float, ...], CallListEntry]] = []
    unreachable: list[Unreachable] = []
    for aid, ms in memberships.items():
        # An ally in several matching networks appears once, ranked by their best membership.
        nids = tuple(n.network_id for n, _ in ms)
        verdicts = [(m, _unreachable_reason(m)) for _, m in ms]
        callable_members = [m for m, r in verdicts if r is None]
        if not callable_members:
            reason = next(r for _, r in verdicts if r is not None)
            unreachable.append(Unreachable(ally_id=aid, network_ids=nids, reason=reason))
            continue
        calls = [c for n, _ in ms if (c := _last_call_as_of(n, aid, at)) is not None]
        last = max(calls, key=lambda c: c.at, default=None)
        key, reasons, member = max(
            (
                (*_rank(m, last, area=area, themes=themes, communities=communities, at=at), m)
                for m in callable_members
            ),
            key=lambda krm: krm[0],
        )
        ranked.append((key, _entry(member, nids, last, reasons)))
    order = sorted(ranked, key=lambda ke: (tuple(-k for k in ke[0]), ke[1].ally_id))
    entries = tuple(e.model_copy(update={"rank": i}) for i, (_, e) in enumerate(order, start=1))
    covered = {c for e in entries for c in e.communities}
    return CallList(
        area=area,
        at=at,
        themes=tuple(themes),
        communities=tuple(communities),
        network_ids=tuple(n.network_id for n in networks),
        entries=entries,
        unreachable=tuple(sorted(unreachable, key=lambda u: u.ally_id)),
        duty_contacts=tuple(_duty_contacts(networks)),
        coverage_gaps=tuple(dict.fromkeys(c for c in communities if c not in covered)),
    )


def _unreachable_reason(member: Member) -> UnreachableReason | None:
    # Missing consent outranks unavailability: it does not end when they are available again.
    if not member.consent_to_be_called:
        return UnreachableReason.NO_CONSENT
    if member.availability is Availability.UNAVAILABLE:
        return UnreachableReason.UNAVAILABLE
    return None


def _entry(
    member: Member, network_ids: tuple[str, ...], last: LastCall | None, reasons: tuple[str, ...]
) -> CallListEntry:
    p = member.personal
    return CallListEntry(
        rank=0,
        ally_id=member.ally_id,
        network_ids=network_ids,
        name=p.name,
        phone=p.phone,
        email=p.email,
        communities=p.communities,
        availability=member.availability,
        last_call=last,
        reasons=reasons,
        erased=isinstance(p, ErasedPersonal),
    )


def _duty_contacts(networks: Sequence[NetworkState]) -> list[DutyContactView]:
    return [
        DutyContactView(
            network_id=n.network_id,
            role=role,
            contact_id=dc.contact_id,
            function=dc.function,
            name=dc.personal.name,
            phone=dc.personal.phone,
            email=dc.personal.email,
        )
        for n in networks
        for role in DutyRole
        if (dc := n.duty_contacts.get(role)) is not None
    ]
