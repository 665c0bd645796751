"""Reads that must see the last acknowledged write go to the stream leader.

nats-py reads a KV bucket whose stream allows Direct Get through ``$JS.API.DIRECT.GET``, which
any replica answers, also a follower that has not applied the last write yet: on a cluster a
key just created by one instance could look missing to another (and a personal data key that
looks missing reads as erased). The JetStream API's message get is answered by the leader only.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.kv import KeyValue


async def leader_kv(js: JetStreamContext, bucket: str) -> KeyValue:
    """The bucket (``BucketNotFoundError`` if missing), read through its stream leader."""
    await js.key_value(bucket)  # exists, and is a KV bucket
    return KeyValue(name=bucket, stream=f"KV_{bucket}", pre=f"$KV.{bucket}.", js=js, direct=False)
