"""Builders for network and contact events: realistic defaults, override what the test is about."""

from __future__ import annotations

from events.base import DomainEvent
from events.envelope import AggregateRef, Envelope, new_envelope
from events.network import (
    AllyAvailabilityChanged,
    AllyEnrolled,
    AllyLeft,
    AllyPersonal,
    Availability,
    CallOutcome,
    CallOutcomeRecorded,
    DutyContactAssigned,
    DutyContactPersonal,
    DutyRole,
    NetworkFormed,
)
from tests.factories import at

NETWORK_AREA = "GM0034-haven"


def network_formed(
    network_id: str = "nw-haven",
    *,
    name: str = "Bondgenoten Almere Haven",
    area: str = NETWORK_AREA,
    areas: tuple[str, ...] = (NETWORK_AREA,),
    size_cap: int = 12,
) -> NetworkFormed:
    return NetworkFormed(
        network_id=network_id, name=name, area=area, areas=areas, size_cap=size_cap
    )


def ally_enrolled(
    ally_id: str = "ally-1",
    *,
    network_id: str = "nw-haven",
    areas: tuple[str, ...] = (NETWORK_AREA,),
    themes: tuple[str, ...] = (),
    availability: Availability = Availability.ALWAYS,
    consent: bool = True,
    communities: tuple[str, ...] = (),
    name: str | None = None,
    phone: str = "06 1234 5678",
) -> AllyEnrolled:
    return AllyEnrolled(
        network_id=network_id,
        ally_id=ally_id,
        areas=areas,
        themes=themes,
        availability=availability,
        consent_to_be_called=consent,
        personal=AllyPersonal(
            name=name or f"Bondgenoot {ally_id}",
            phone=phone,
            email=f"{ally_id}@example.nl",
            communities=communities,
        ),
    )


def ally_left(ally_id: str = "ally-1", *, network_id: str = "nw-haven") -> AllyLeft:
    return AllyLeft(network_id=network_id, ally_id=ally_id, reason="verhuisd")


def availability_changed(
    ally_id: str, availability: Availability, *, network_id: str = "nw-haven"
) -> AllyAvailabilityChanged:
    return AllyAvailabilityChanged(
        network_id=network_id, ally_id=ally_id, availability=availability
    )


def duty_contact(
    role: DutyRole,
    contact_id: str,
    *,
    network_id: str = "nw-haven",
    function: str | None = None,
    name: str = "J. de Vries",
    phone: str = "+31 6 8765 4321",
) -> DutyContactAssigned:
    default_function = "wijkagent" if role is DutyRole.POLICE else "OOV-adviseur"
    return DutyContactAssigned(
        network_id=network_id,
        role=role,
        contact_id=contact_id,
        function=function or default_function,
        personal=DutyContactPersonal(name=name, phone=phone),
    )


def call_outcome(
    ally_id: str,
    outcome: CallOutcome,
    *,
    network_id: str = "nw-haven",
    escalation_id: str | None = "esc-1",
) -> CallOutcomeRecorded:
    return CallOutcomeRecorded(
        network_id=network_id,
        ally_id=ally_id,
        outcome=outcome,
        caller="crisis-1",
        escalation_id=escalation_id,
    )


def envelope(
    data: DomainEvent, *, minutes: float = 0, area: str = NETWORK_AREA
) -> Envelope[DomainEvent]:
    """Wrap a network event (kind ``network``) or a call outcome (kind ``contact``)."""
    if isinstance(data, CallOutcomeRecorded):
        ref = AggregateRef(kind="contact", area=area, id=data.ally_id)
    else:
        ref = AggregateRef(kind="network", area=area, id=getattr(data, "network_id", "nw"))
    return new_envelope(
        data,
        aggregate=ref,
        actor="operator:op-1",
        source="/bondgenoten/test",
        recorded_at=at(minutes),
        occurred_at=at(minutes),
    )
