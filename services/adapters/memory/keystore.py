"""The key store in memory: the contract of the NATS KV one, for tests and tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from services.app.ports import KeyStore


class InMemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, bytes | None] = {}  # None: destroyed (tombstone)

    async def key_for(self, owner: str, *, create: bool) -> bytes | None:
        if owner in self._keys:
            return self._keys[owner]
        if not create:
            return None
        self._keys[owner] = AESGCM.generate_key(bit_length=256)
        return self._keys[owner]

    async def destroy(self, owner: str) -> None:
        self._keys[owner] = None

    def holds(self, owner: str) -> bool:
        """Test hook: is a usable key kept for ``owner``?"""
        return self._keys.get(owner) is not None


if TYPE_CHECKING:
    _conforms: type[KeyStore] = InMemoryKeyStore
