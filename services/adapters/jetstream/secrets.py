"""Service secrets kept in a JetStream KV bucket, so every instance and restart agrees on them."""

from __future__ import annotations

import contextlib
import secrets

from nats.js import JetStreamContext
from nats.js.api import StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.adapters.jetstream.leader import leader_kv
from services.adapters.jetstream.topology import Topology


async def secrets_bucket(js: JetStreamContext, topology: Topology) -> KeyValue:
    """The bucket (read through the stream leader), made if it is not there yet."""
    try:
        return await leader_kv(js, topology.secrets_bucket)
    except BucketNotFoundError:
        await js.create_key_value(
            bucket=topology.secrets_bucket,
            storage=StorageType.FILE,
            history=1,
            replicas=topology.replicas,
        )
        return await leader_kv(js, topology.secrets_bucket)


async def shared_secret(js: JetStreamContext, topology: Topology, key: str) -> bytes:
    """The secret under ``key``; the first instance to ask creates a random one."""
    kv = await secrets_bucket(js, topology)
    candidate = secrets.token_hex(32).encode()
    with contextlib.suppress(KeyWrongLastSequenceError):
        await kv.create(key, candidate)  # only the first instance's secret is kept
    entry = await kv.get(key)
    return entry.value or candidate
