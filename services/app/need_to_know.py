"""Need to know: who sees allies' contact details, and what everyone else sees instead.

Roles in :data:`domain.access.SEES_CONTACT_DETAILS` (those who call) see names, phone numbers,
e-mail and communities on a call list; others who may read it see a stable keyed pseudonym
(``Bondgenoot 3f9a1c``: an HMAC of the ally id with a service secret, so the same ally has the
same pseudonym on every list and in every review, and nobody without the secret can link it
back). The after-action review always shows pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from domain.access import SEES_CONTACT_DETAILS, Principal, Role
from projections.call_lists import CallList

PSEUDONYM_HEX = 6
ALLY_ID_FIELDS = ("ally_id",)
ALLY_LIST_FIELDS = ("invited", "attending", "not_answered")
PERSONAL_NEXT_TO_AN_ALLY = ("communities",)
"""Dropped from anything that names an ally (a review's RSVP): special-category data."""


class Pseudonyms:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the pseudonym secret must be at least 16 bytes")
        self._secret = secret

    def __call__(self, ally_id: str) -> str:
        digest = hmac.new(self._secret, f"pseudonym:{ally_id}".encode(), hashlib.sha256)
        return f"Bondgenoot {digest.hexdigest()[:PSEUDONYM_HEX]}"


def sees_contact_details(principal: Principal) -> bool:
    return principal.role in SEES_CONTACT_DETAILS


def call_list_for(principal: Principal, found: CallList, pseudonym: Pseudonyms) -> CallList:
    """The call list as ``principal`` may see it: whole for those who call, else with a
    pseudonym instead of each ally's name and no phone, e-mail or communities."""
    if sees_contact_details(principal):
        return found
    entries = tuple(
        e.model_copy(
            update={
                "name": "" if e.erased else pseudonym(e.ally_id),
                "phone": "",
                "email": None,
                "communities": (),
                # "covers:<community>" would tell a person's community all the same
                "reasons": tuple(r for r in e.reasons if not r.startswith("covers:")),
            }
        )
        for e in found.entries
    )
    duty = tuple(
        d.model_copy(update={"name": d.function, "phone": "", "email": None})
        for d in found.duty_contacts
    )
    return found.model_copy(update={"entries": entries, "duty_contacts": duty})


def pseudonymised(data: Any, pseudonym: Pseudonyms, allies: frozenset[str] = frozenset()) -> Any:
    """An event's data for a review: every ally id replaced by its pseudonym (also as the
    ``recipient`` of an invitation, when in ``allies``), and what would say more about that
    ally (their communities) left out."""
    if isinstance(data, list):
        return [pseudonymised(v, pseudonym, allies) for v in data]
    if not isinstance(data, dict):
        return data
    names_ally = any(isinstance(data.get(f), str) for f in ALLY_ID_FIELDS)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if names_ally and key in PERSONAL_NEXT_TO_AN_ALLY:
            continue
        if key in ALLY_ID_FIELDS and isinstance(value, str):
            out[key] = pseudonym(value)
        elif key in ALLY_LIST_FIELDS and isinstance(value, list):
            out[key] = [pseudonym(v) if isinstance(v, str) else v for v in value]
        elif key == "recipient" and value in allies:
            out[key] = pseudonym(value)
        else:
            out[key] = pseudonymised(value, pseudonym, allies)
    return out


def sees_personal_text(principal: Principal) -> bool:
    """What allies wrote (pulse notes and advice, questions, reports) is shown to everyone who
    may read pulses, questions and mobilisations, except the evaluator: the review stays
    pseudonymous and without personal data."""
    return principal.role is not Role.REVIEWER
