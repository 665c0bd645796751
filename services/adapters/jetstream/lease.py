"""Leases in a NATS KV bucket: one active holder per name across all instances.

A reactor keeps the order of the log only if one process handles its messages: with several
instances on one shared durable consumer, each would pull a batch and two messages of one
escalation could be handled at once, or published to the outbound feed out of order. nats-py
has no client for JetStream's pinned-client priority groups, so every reactor takes a lease
first; the others stand by and take over when it lapses.

* Taking it: ``create`` of the key (succeeds only if nobody holds it). The bucket's TTL removes
  an entry that is not renewed, so a killed holder's lease lapses after :data:`LEASE_TTL_S`.
* Keeping it: ``update`` with the revision we wrote last, every :data:`RENEW_EVERY_S`; if that
  fails (someone else holds it, or NATS does not answer) the holder stops at once and hands
  back what it had not handled. A lost lease can briefly overlap a new holder's first message
  (a holder cut off from NATS cannot write either); the handlers are idempotent for that.
* Giving it up on a clean stop: ``delete`` with our revision, so a standby takes over at once.

Reads and writes go to the bucket's stream leader (see ``leader.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.adapters.jetstream.leader import leader_kv

log = structlog.get_logger(__name__)

LEASE_TTL_S = 4.0
RENEW_EVERY_S = 1.0
RETRY_EVERY_S = 0.5


async def lease_bucket(js: JetStreamContext, bucket: str, replicas: int) -> KeyValue:
    try:
        return await leader_kv(js, bucket)
    except BucketNotFoundError:
        with contextlib.suppress(BadRequestError):  # another instance was first
            await js.create_key_value(
                bucket=bucket,
                description="Which instance runs each reactor (leases with a TTL)",
                history=1,
                ttl=LEASE_TTL_S,
                replicas=replicas,
            )
        return await leader_kv(js, bucket)


class Lease:
    """The lease on ``name`` for this process (``holder`` names it in the bucket)."""

    def __init__(
        self, js: JetStreamContext, bucket: str, name: str, holder: str, replicas: int = 1
    ) -> None:
        self._js = js
        self._bucket = bucket
        self._replicas = replicas
        self.name = name
        self.holder = f"{holder or 'instance'}:{uuid.uuid4().hex[:8]}"
        """Unique per process: a restarted instance waits for its predecessor's lease to lapse
        (that predecessor might still be alive, merely cut off)."""
        self._kv: KeyValue | None = None
        self._revision = 0
        self._renewer: asyncio.Task[None] | None = None
        self.held = False

    async def _bucket_kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await lease_bucket(self._js, self._bucket, self._replicas)
        return self._kv

    async def acquire(self, stopping: Callable[[], bool]) -> bool:
        """Wait until this process holds the lease (True), or until ``stopping()`` (False)."""
        while not stopping():
            try:
                kv = await self._bucket_kv()
                self._revision = await kv.create(self.name, self.holder.encode())
            except KeyWrongLastSequenceError:
                pass  # held by another
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.debug("lease.unavailable", lease=self.name, error=type(exc).__name__)
            else:
                self.held = True
                self._renewer = asyncio.create_task(self._keep(), name=f"lease:{self.name}")
                log.info("lease.acquired", lease=self.name, holder=self.holder)
                return True
            await asyncio.sleep(RETRY_EVERY_S)
        return False

    async def _keep(self) -> None:
        while self.held:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                kv = await self._bucket_kv()
                self._revision = await kv.update(
                    self.name, self.holder.encode(), last=self._revision
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.held = False
                log.warning("lease.lost", lease=self.name, error=type(exc).__name__)

    async def release(self) -> None:
        """Give the lease up (a standby takes over at once); harmless if not held."""
        was_held, self.held = self.held, False
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
            self._renewer = None
        if was_held and self._kv is not None:
            with contextlib.suppress(Exception):
                await self._kv.delete(self.name, last=self._revision)
