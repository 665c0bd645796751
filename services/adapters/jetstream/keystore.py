"""Per-owner data keys in a NATS KV bucket (``<prefix>_keys``), wrapped by a master key.

* One entry per owner (``ally.<id>``, ``contact.<id>``), history 1. The value is the data key
  sealed (AES-256-GCM) under the master key with the owner as associated data, so the raw KV
  files (and a copy of the bucket) hold no usable key without the master key, which lives
  outside NATS (``BONDGENOTEN_MASTER_KEY`` or ``<data dir>/master.key``, mode 0600).
* Creation writes with "expected last subject sequence 0": concurrent creators agree on one
  key, and a destroyed owner (whose entry is a tombstone) never gets a key again.
* ``destroy``: the key's message is deleted with JetStream ``STREAM.MSG.DELETE`` without
  ``no_erase``, so the server overwrites it in its block file, then the entry is purged (the
  purge marker is the tombstone). The bucket's stream is created by us, like a KV bucket but
  with deletes allowed (``create_key_value`` denies them).

An external KMS fits the same port (:class:`services.app.ports.KeyStore`): ``key_for(owner,
create=False)`` = fetch (or unwrap) the owner's key, ``key_for(owner, create=True)`` = fetch
or generate-and-store, ``destroy(owner)`` = schedule the key's destruction and refuse it from
then on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import (
    BadRequestError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from services.adapters.jetstream.leader import leader_kv
from services.adapters.private_files import create_private

if TYPE_CHECKING:
    from services.app.ports import KeyStore

MASTER_KEY_FILE = "master.key"
WRAP_VERSION = b"w1"


def master_key(configured: str | None, data_dir: Path) -> bytes:
    """The master key: ``configured`` (base64 of 32 bytes), else the one in ``data_dir``
    (created on first start, readable by the service's user only)."""
    if configured:
        key = base64.b64decode(configured)
        if len(key) != 32:
            raise ValueError("BONDGENOTEN_MASTER_KEY must be 32 bytes, base64-encoded")
        return key
    path = data_dir / MASTER_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    stored = create_private(path, lambda: base64.b64encode(AESGCM.generate_key(bit_length=256)))
    try:
        key = base64.b64decode(stored.strip(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise ValueError(f"{path} must hold a master key of 32 bytes, base64-encoded")
    return key


class NatsKeyStore:
    """The :class:`services.app.ports.KeyStore` on a NATS KV bucket."""

    def __init__(
        self, js: JetStreamContext, bucket: str, master: bytes, *, replicas: int = 1
    ) -> None:
        self._replicas = replicas
        self._js = js
        self._bucket = bucket
        self._stream = f"KV_{bucket}"
        self._wrap = AESGCM(master)
        self._kv: KeyValue | None = None

    async def _open(self) -> KeyValue:
        if self._kv is None:
            try:
                await self._js.stream_info(self._stream)
            except NotFoundError:
                with contextlib.suppress(BadRequestError):  # another instance was first
                    await self._js.add_stream(
                        StreamConfig(
                            name=self._stream,
                            description="Per-owner data keys, wrapped (see keystore.py)",
                            subjects=[f"$KV.{self._bucket}.>"],
                            storage=StorageType.FILE,
                            max_msgs_per_subject=1,
                            discard=DiscardPolicy.NEW,
                            allow_rollup_hdrs=True,
                            allow_direct=True,
                            deny_delete=False,
                            num_replicas=self._replicas,
                        )
                    )
            self._kv = await leader_kv(self._js, self._bucket)
        return self._kv

    async def ensure(self) -> None:
        """Make the bucket if it is not there yet (before a restore fills it)."""
        await self._open()

    async def key_for(self, owner: str, *, create: bool) -> bytes | None:
        kv = await self._open()
        try:
            entry = await kv.get(owner)
        except KeyDeletedError:
            return None  # destroyed: final
        except KeyNotFoundError:
            if not create:
                return None
            return await self._create(kv, owner)
        return self._unwrap(owner, entry.value or b"")

    async def _create(self, kv: KeyValue, owner: str) -> bytes | None:
        key = AESGCM.generate_key(bit_length=256)
        try:
            await kv.update(owner, self._wrapped(owner, key), last=0)
        except KeyWrongLastSequenceError:
            return await self.key_for(owner, create=False)  # another writer, or a tombstone
        return key

    async def destroy(self, owner: str) -> None:
        kv = await self._open()
        try:
            entry = await kv.get(owner)
        except KeyDeletedError:
            return  # already destroyed
        except KeyNotFoundError:
            entry = None
        if entry is not None and entry.revision:
            # Overwrites the stored message in the server's files (no_erase is not set).
            with contextlib.suppress(NotFoundError):
                await self._js.delete_msg(self._stream, entry.revision)
        await kv.purge(owner)  # the tombstone: never created again

    def _wrapped(self, owner: str, key: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        sealed = self._wrap.encrypt(nonce, key, owner.encode())
        return WRAP_VERSION + b":" + base64.b64encode(nonce + sealed)

    def _unwrap(self, owner: str, value: bytes) -> bytes:
        version, _, body = value.partition(b":")
        if version != WRAP_VERSION:
            raise ValueError(f"key of {owner}: unknown wrapping")
        raw = base64.b64decode(body)
        return self._wrap.decrypt(raw[:12], raw[12:], owner.encode())


if TYPE_CHECKING:
    _conforms: type[KeyStore] = NatsKeyStore
