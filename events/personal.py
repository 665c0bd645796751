"""Personal parts of events: sealed per owner when stored, erased when the owner's key is gone.

An event that carries personal data keeps it in one field, ``personal``, and names whose key
seals it with ``PERSONAL_OWNER = (<owner kind>, <id field>)``: an ally's data is sealed under
the key ``ally.<ally_id>``, a duty contact's under ``contact.<contact_id>``.

Stored form (``events.codec.encode`` with a cipher)::

    "personal": {"sealed": {"kid": "ally.a1", "alg": "A256GCM", "nonce": "…", "ct": "…"}}

The associated data binds the ciphertext to the event (its type and id), so a sealed part
cannot be moved to another event. Reading (``events.codec.decode``) opens it; when the key was
destroyed (the ally was erased) the part becomes :class:`ErasedPersonal`: no name, no phone, no
e-mail, no communities, for every consumer alike. A plaintext ``personal`` part (events written
before sealing existed, or by a store without a cipher) is legacy and is read as is.

This module is pure: the cipher is a callable pair handed in by the service, which keeps the
keys (``services.app.personal``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from events.base import DomainEvent

ALG = "A256GCM"
SEALED = "sealed"
ERASED: dict[str, Any] = {"erased": True}


class ErasedPersonal(BaseModel):
    """What is left of a personal part whose key was destroyed: nothing personal. It answers
    the same attributes as the parts it replaces, all empty, so counts and loops still work."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    erased: Literal[True] = True

    @property
    def name(self) -> str:
        return ""

    @property
    def phone(self) -> str:
        return ""

    @property
    def email(self) -> None:
        return None

    @property
    def communities(self) -> tuple[str, ...]:
        return ()


class KeyNotLoaded(LookupError):
    """The owner's key was not fetched before a synchronous seal or open: a bug in the caller
    (fetch keys with the service's keyring first), never a reason to treat data as erased."""


class PersonalCipher(Protocol):
    """Seals and opens personal parts with per-owner keys already at hand (synchronous).

    ``seal`` returns ``None`` when the owner's key was destroyed (nothing may be stored for
    them any more); ``open`` returns ``None`` when it was destroyed (the part is erased). Both
    raise :class:`KeyNotLoaded` when the key was not fetched, and ``open`` raises ``ValueError``
    when the ciphertext does not match (tampered, or moved to another event)."""

    def seal(self, kid: str, plaintext: bytes, aad: bytes) -> Mapping[str, str] | None: ...

    def open(self, sealed: Mapping[str, Any], aad: bytes) -> bytes | None: ...


def owner_kid(kind: str, owner_id: str) -> str:
    """The key id of an owner: ``ally.<id>`` or ``contact.<id>`` (a NATS KV key)."""
    return f"{kind}.{owner_id}"


def kid_of(event: DomainEvent) -> str | None:
    """The key an event's personal part is sealed under, or ``None`` if it has none."""
    owner: tuple[str, str] | None = getattr(type(event), "PERSONAL_OWNER", None)
    if owner is None:
        return None
    kind, field = owner
    return owner_kid(kind, str(getattr(event, field)))


def event_aad(type_name: str, event_id: str) -> bytes:
    return f"bondgenoten|{type_name}|{event_id}".encode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_part(
    cipher: PersonalCipher, kid: str, part: Mapping[str, Any], aad: bytes
) -> dict[str, Any]:
    """The stored form of a personal part: sealed, or erased when the key is gone."""
    if part.get("erased") is True:
        return dict(ERASED)
    plaintext = json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = cipher.seal(kid, plaintext, aad)
    return dict(ERASED) if sealed is None else {SEALED: dict(sealed)}


def is_sealed(part: Any) -> bool:
    return isinstance(part, Mapping) and isinstance(part.get(SEALED), Mapping)


def open_part(cipher: PersonalCipher | None, part: Any, aad: bytes) -> Any:
    """The readable form of a stored personal part: opened, erased, or legacy plaintext."""
    if not is_sealed(part):
        return part  # legacy plaintext, or already erased
    if cipher is None:
        raise KeyNotLoaded("a sealed personal part and no key store to open it")
    plaintext = cipher.open(part[SEALED], aad)
    if plaintext is None:
        return dict(ERASED)
    opened = json.loads(plaintext)
    if not isinstance(opened, dict):
        raise ValueError("a sealed personal part is not a JSON object")
    return opened


def sealed_kid(part: Any) -> str | None:
    """The key id of a stored personal part, without opening it."""
    if not is_sealed(part):
        return None
    kid = part[SEALED].get("kid")
    return kid if isinstance(kid, str) else None


SNAPSHOT_CONTEXT = "personal_cipher"
"""Pydantic serialization/validation context key: read models that hold personal parts seal
them in their snapshots with the cipher found under it (see ``projections.call_lists``)."""


def snapshot_aad(kid: str) -> bytes:
    return f"bondgenoten-snapshot|{kid}".encode()


def snapshot_context(cipher: PersonalCipher | None) -> dict[str, Any]:
    """The serialization/validation context of a read model's snapshot (dump and load)."""
    return {SNAPSHOT_CONTEXT: cipher}


def seal_snapshot_part(
    cipher: PersonalCipher, kind: str, owner_id: str, part: Mapping[str, Any]
) -> dict[str, Any]:
    """A personal part of a snapshot as stored: sealed under its owner's key (or erased)."""
    kid = owner_kid(kind, owner_id)
    return seal_part(cipher, kid, part, snapshot_aad(kid))


def open_snapshot_part(cipher: PersonalCipher | None, kind: str, owner_id: str, part: Any) -> Any:
    """A stored personal part of a snapshot, readable: opened, erased, or as it was when it is
    not sealed (legacy plaintext, already erased)."""
    kid = owner_kid(kind, owner_id)
    return open_part(cipher, part, snapshot_aad(kid))


def cipher_of(context: Any) -> PersonalCipher | None:
    if isinstance(context, Mapping):
        found: PersonalCipher | None = context.get(SNAPSHOT_CONTEXT)
        return found
    return None


def sealed_kids(doc: Any) -> set[str]:
    """The key ids of every sealed part in a JSON document (a snapshot), to fetch them first."""
    found: set[str] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kid = sealed_kid(node)
            if kid is not None:
                found.add(kid)
            else:
                stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
