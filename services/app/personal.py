"""Allies' personal data: sealing with per-owner keys, erasure, pseudonyms and audited reveals.

* :class:`Keyring` is the :class:`events.personal.PersonalCipher` the event stores, the
  projection runners and the reactors hand to the codec. The codec is synchronous and pure, the
  :class:`~services.app.ports.KeyStore` is not: the keyring keeps the keys it fetched in memory
  and is asked to fetch them *before* a seal or an open (:meth:`Keyring.prepare`,
  :meth:`Keyring.attach`). A key is created when the first sealed event of its owner is
  appended (the enrolment), fetched when an event is read, and forgotten when destroyed.
* Sealing: AES-256-GCM (``cryptography``'s ``AESGCM``), a fresh 96-bit nonce per part, the
  event's type and id as associated data.
* Erasure (:meth:`Keyring.destroy`): the key is removed from the key store (securely erased
  there) and from memory; every sealed part under it reads as erased from then on.
* Who sees the decrypted data is decided in :mod:`services.app.need_to_know`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.codec import SEALED_KID_HEADER
from events.envelope import Envelope
from events.personal import ALG, KeyNotLoaded, b64, kid_of, owner_kid, unb64
from services.app.ports import KeyStore, RawEvent

NONCE_BYTES = 12
PREPARE_CONCURRENCY = 32


class Keyring:
    """Per-owner data keys in memory, fetched from a :class:`KeyStore`; seals and opens."""

    def __init__(self, keys: KeyStore) -> None:
        self._store = keys
        self._keys: dict[str, bytes | None] = {}  # kid -> key, None: none found on a read
        self._destroyed: set[str] = set()  # destroyed for certain: never fetched or cached again
        self._aead: dict[str, AESGCM] = {}  # kid -> the cipher of its key, made once
        self._wanted: set[str] | None = None

    # ------------------------------------------------------------ fetching (async)

    async def prepare(self, kids: Iterable[str], *, create: bool) -> None:
        """Have the keys of ``kids`` at hand; with ``create``, make the missing ones (an
        append). A destroyed key stays destroyed: nothing can be sealed for that owner. Several
        keys are fetched at once (a snapshot's owners), not one round trip after another."""
        missing = [kid for kid in dict.fromkeys(kids) if self._to_fetch(kid, create=create)]
        if len(missing) <= 1:
            for kid in missing:
                await self._fetch(kid, create=create)
            return
        slots = asyncio.Semaphore(PREPARE_CONCURRENCY)

        async def fetch(kid: str) -> None:
            async with slots:
                await self._fetch(kid, create=create)

        try:
            async with asyncio.TaskGroup() as group:
                for kid in missing:
                    group.create_task(fetch(kid))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None  # as one fetch would: callers judge the error

    def _to_fetch(self, kid: str, *, create: bool) -> bool:
        if kid in self._destroyed:
            return False
        return kid not in self._keys or (self._keys[kid] is None and create)

    async def _fetch(self, kid: str, *, create: bool) -> None:
        if not self._to_fetch(kid, create=create):
            return
        known = kid in self._keys
        key = await self._store.key_for(kid, create=create)
        if kid in self._destroyed:
            return  # destroyed while we fetched: the key must not come back
        if key is None and create:
            self._forget(kid)  # the store refuses to create it: destroyed
        elif key is not None or not known:
            self._keys[kid] = key

    async def prepare_events(self, events: Sequence[Envelope[Any]]) -> None:
        """Before an append: the keys of every owner whose personal part will be sealed."""
        await self.prepare((k for e in events if (k := kid_of(e.data))), create=True)

    async def attach(self, raw: RawEvent) -> RawEvent:
        """A stored message ready to decode: its owner's key fetched, this keyring attached."""
        kid = raw.headers.get(SEALED_KID_HEADER)
        if kid:
            await self.prepare([kid], create=False)
        return raw.with_cipher(self)

    async def destroy(self, kid: str) -> None:
        """Erase the owner's key for good (key store first, then memory). Safe to repeat."""
        await self._store.destroy(kid)
        self._forget(kid)

    def _forget(self, kid: str) -> None:
        self._destroyed.add(kid)
        self._keys[kid] = None
        self._aead.pop(kid, None)

    async def destroy_ally(self, ally_id: str) -> None:
        await self.destroy(owner_kid("ally", ally_id))

    @contextlib.contextmanager
    def collecting(self) -> Iterator[set[str]]:
        """Within: sealing for an owner whose key is not at hand records the owner in the
        yielded set instead of raising (the result is then a placeholder, to be thrown away:
        fetch the recorded keys with ``prepare(create=True)`` and seal again). For read-model
        snapshots, whose owners are known only by serializing them."""
        self._wanted = set()
        try:
            yield self._wanted
        finally:
            self._wanted = None

    # ------------------------------------------------------------ the cipher (sync)

    def _key(self, kid: str) -> bytes | None:
        try:
            return self._keys[kid]
        except KeyError:
            if self._wanted is not None:
                self._wanted.add(kid)
                return None
            raise KeyNotLoaded(kid) from None

    def _cipher(self, kid: str) -> AESGCM | None:
        key = self._key(kid)
        if key is None:
            return None
        aead = self._aead.get(kid)
        if aead is None:
            aead = self._aead[kid] = AESGCM(key)
        return aead

    def seal(self, kid: str, plaintext: bytes, aad: bytes) -> Mapping[str, str] | None:
        aead = self._cipher(kid)
        if aead is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        ct = aead.encrypt(nonce, plaintext, kid.encode() + b"|" + aad)
        return {"kid": kid, "alg": ALG, "nonce": b64(nonce), "ct": b64(ct)}

    def open(self, sealed: Mapping[str, Any], aad: bytes) -> bytes | None:
        kid = sealed.get("kid")
        if not isinstance(kid, str) or sealed.get("alg") != ALG:
            raise ValueError("a sealed part without a known key id or algorithm")
        aead = self._cipher(kid)
        if aead is None:
            return None
        try:
            return aead.decrypt(
                unb64(str(sealed["nonce"])), unb64(str(sealed["ct"])), kid.encode() + b"|" + aad
            )
        except (InvalidTag, KeyError, ValueError) as exc:
            raise ValueError(f"sealed part under {kid} does not open (tampered or moved)") from exc


WITHHELD = {"withheld": "personal data is not kept with refused input"}


def withhold_personal(body: bytes) -> bytes:
    """Refused input as it may be kept: a JSON object's ``personal`` part (an enrolment's or a
    duty contact's name, phone, e-mail, communities) replaced by a note. The rejected-input
    stream is outside the reach of erasure (no key seals it), so it never holds that part."""
    named = b'"personal"' in body
    if not named and b"\\u" not in body:
        return body  # no such key, not even spelled with JSON escapes ("\\u0070ersonal")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None  # unreadable, and it may name a personal part: keep none of it
    if not isinstance(data, dict):
        if data is not None and not named and '"personal"' not in json.dumps(data):
            return body  # only escapes, and no personal part behind them
        return json.dumps(WITHHELD).encode()
    if "personal" not in data:
        return body
    return json.dumps({**data, "personal": WITHHELD}, ensure_ascii=False).encode()
