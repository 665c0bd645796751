"""Who may do what (autorisatiematrix): roles, actions and the role × action matrix.

Pure: the entry points authenticate (an OIDC bearer token on HTTP, an nkey on NATS, a signed
link for an ally), turn the credential into a :class:`Principal` and ask :func:`allowed` before
any command or read. The actor recorded in every event is ``principal.actor``, never a value
the client chose. The README's matrix is generated from :data:`MATRIX` (``bondgenoten
matrix``), so the documentation cannot drift from what is enforced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import DomainError


class Role(StrEnum):
    ALLY = "ally"  # bondgenoot
    POLICE = "police"  # politie-integratie (meldkamer, operationele systemen)
    MUNICIPALITY = "municipality"  # gemeente (OOV)
    COORDINATOR = "coordinator"  # netwerkcoördinator
    CRISIS = "crisis"  # crisisorganisatie (SGBO, teamleider, burgemeester)
    REVIEWER = "reviewer"  # evaluator (na afloop)
    ADMIN = "admin"  # functioneel beheerder
    SERVICE = "service"  # de dienst zelf (workflow, notifier): nooit van buiten


OUTSIDE_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.SERVICE)
"""Every role but the service's own (in :class:`Role` order): the roles a credential from
outside (a token, an nkey, a link) may carry."""

ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""An id is one NATS subject token (``bg.cmd.<role>.<id>.<command>``): no dots, no wildcards."""


def inbox_prefix(role: str, identity: str) -> str:
    """Where an identity receives its NATS replies (``_INBOX.<role>.<id>``): the server lets
    only it subscribe there, so its client must use exactly this prefix."""
    return f"_INBOX.{role}.{identity}"


@dataclass(frozen=True)
class Principal:
    """An authenticated identity: a role and an id within it (``police:meldkamer-oost``)."""

    role: Role
    id: str

    def __post_init__(self) -> None:
        if not ID.match(self.id):
            raise ValueError(f"invalid principal id for role {self.role.value}")

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.id}"


class Forbidden(DomainError):
    """This principal may not do this (403 on HTTP, a refusal on NATS). ``field`` names the
    part of the request that made it forbidden, if one did (e.g. ``reporter``)."""

    code = "forbidden"


def principal_of(role: str, identity: str) -> Principal:
    """The principal a credential from outside names (role and id as written): ``Forbidden``
    for an unknown role or an invalid id, and for the service's own role, which acts only
    inside the service. The entry point says which part of its request that was."""
    try:
        principal = Principal(Role(role), identity)
    except ValueError:
        raise Forbidden(f"unknown identity {role}:{identity}") from None
    if principal.role not in OUTSIDE_ROLES:
        raise Forbidden("the service's identity acts only inside the service")
    return principal


R = Role
_ALL_PEOPLE = frozenset({R.POLICE, R.MUNICIPALITY, R.COORDINATOR, R.CRISIS, R.ADMIN})
_OPERATIONS = frozenset({R.POLICE, R.MUNICIPALITY, R.CRISIS})
_NETWORK = frozenset({R.COORDINATOR, R.MUNICIPALITY, R.ADMIN})
_REPORTERS = frozenset({R.ALLY, R.POLICE, R.MUNICIPALITY, R.COORDINATOR})

MATRIX: dict[str, frozenset[Role]] = {
    # -- commands (the name is the command's NAME, also its NATS subject suffix)
    "signal.submit": _REPORTERS,
    "signal.submit-urgent": _REPORTERS,
    "escalation.declare": _OPERATIONS,
    "escalation.acknowledge": _OPERATIONS,
    "escalation.de-escalate": _OPERATIONS,
    "escalation.resolve": _OPERATIONS,
    "escalation.close": _OPERATIONS,
    "escalation.call-convening": _OPERATIONS | {R.COORDINATOR},
    "convening.record-rsvp": frozenset({R.ALLY, R.COORDINATOR, R.CRISIS}),  # ally: own only
    "convening.mark-convened": frozenset({R.COORDINATOR, R.CRISIS}),
    "network.form": _NETWORK,
    "network.enroll-ally": _NETWORK,
    "network.remove-ally": _NETWORK,
    "network.change-availability": _NETWORK,
    "network.assign-duty-contact": _NETWORK,
    "network.record-call-outcome": _NETWORK | {R.CRISIS, R.POLICE},
    "network.erase-ally": frozenset({R.COORDINATOR, R.ADMIN}),
    # -- pulse checks, constituency questions, mobilisation requests (ally: own only)
    "pulse.start": frozenset({R.POLICE, R.MUNICIPALITY}),
    "pulse.record-answer": frozenset({R.ALLY, R.COORDINATOR}),
    "pulse.compile-framework": _OPERATIONS,
    "question.raise": frozenset({R.ALLY, R.COORDINATOR}),
    "question.answer": _OPERATIONS,
    "question.relay-answer": _OPERATIONS | {R.COORDINATOR},
    "mobilisation.request": _OPERATIONS,
    "mobilisation.answer": frozenset({R.ALLY, R.COORDINATOR}),
    "mobilisation.report": frozenset({R.ALLY, R.COORDINATOR}),
    # -- network lifecycle: kept by the coordinator and the municipality; the police hand
    # over their own seat (a team chief introduces the new community officer)
    "network.change-settings": _NETWORK,
    "network.plan-meeting": _NETWORK,
    "network.assign-chair": _NETWORK,
    "network.record-meeting": _NETWORK,
    "network.record-evaluation": _NETWORK,
    "network.add-core-member": _NETWORK,
    "network.remove-core-member": _NETWORK,
    "network.announce-handover": _NETWORK | {R.POLICE},
    "network.introduce-successor": _NETWORK | {R.POLICE},
    "network.vacate-seat": _NETWORK | {R.POLICE},
    # -- integrations: a CAP 1.2 alert in (becomes signal.submit); the outbound escalation
    # events on NATS (<prefix>.out.escalation.>, and the BG_OUTBOUND stream) for operations
    "signal.cap": frozenset({R.POLICE, R.MUNICIPALITY}),
    "outbound.subscribe": _OPERATIONS,
    # -- reads
    "read.reference": _ALL_PEOPLE | {R.ALLY, R.REVIEWER},
    "read.tension-map": _ALL_PEOPLE | {R.REVIEWER},
    "read.escalations": _ALL_PEOPLE | {R.REVIEWER},
    "read.networks": _ALL_PEOPLE | {R.REVIEWER},
    # the call list with names and phone numbers: those who call (need to know)
    "read.call-list": frozenset({R.CRISIS, R.COORDINATOR, R.POLICE, R.MUNICIPALITY}),
    # the after-action review: pseudonymous, never contact details
    "read.review": frozenset({R.REVIEWER, R.CRISIS, R.ADMIN}),
    "read.audit": frozenset({R.ADMIN}),
    # pulses, questions and mobilisations: who answered (names only for SEES_CONTACT_DETAILS)
    "read.pulses": _ALL_PEOPLE | {R.REVIEWER},
    "read.questions": _ALL_PEOPLE | {R.REVIEWER},
    "read.mobilisations": _ALL_PEOPLE | {R.REVIEWER},
    "read.health": _ALL_PEOPLE | {R.REVIEWER},
    # a network's health flags name allies not reached for long: those who keep the network
    "read.network-health": frozenset({R.COORDINATOR, R.MUNICIPALITY, R.POLICE, R.ADMIN}),
}
"""Action → roles allowed. The service's own role acts only through its reactors, never
through an entry point: it appears in no row."""

SEES_CONTACT_DETAILS: frozenset[Role] = frozenset({R.CRISIS, R.COORDINATOR, R.POLICE})
"""Roles that see allies' names, phone numbers and communities on a call list (who calls).
Others who may read a call list (the municipality) see pseudonyms; every reveal is audited."""


def allowed(principal: Principal, action: str) -> bool:
    return principal.role in MATRIX.get(action, frozenset())


def authorize(principal: Principal, action: str) -> None:
    """Raise :class:`Forbidden` unless ``principal`` may do ``action``."""
    if not allowed(principal, action):
        raise Forbidden(f"role {principal.role.value} may not {action}")


def check_reporter(principal: Principal, reporter_role: str, reporter_id: str) -> None:
    """A signal is reported in one's own name: an ally only as themselves, police and the
    municipality only in their own role (the id may name the function, e.g. ``wijkagent-3``)."""
    if principal.role is R.COORDINATOR:
        return  # enters signals phoned in by allies of their network
    if reporter_role != principal.role.value:
        raise Forbidden("the reporter's role is not the credential's", field="source_role")
    if principal.role is R.ALLY and reporter_id != principal.id:
        raise Forbidden("an ally reports only in their own name", field="reporter")


def check_own_answer(principal: Principal, ally_id: str) -> None:
    """An ally answers a convening, a pulse check or a mobilisation request, and raises a
    question, only for themselves (through their signed link)."""
    if principal.role is R.ALLY and ally_id != principal.id:
        raise Forbidden("an ally answers only for themselves", field="ally_id")


def matrix_rows() -> list[tuple[str, list[str]]]:
    """The matrix as rows (action, allowed roles in Role order), for the README and the CLI."""
    order = list(Role)
    return [(a, [r.value for r in order if r in roles]) for a, roles in MATRIX.items()]
