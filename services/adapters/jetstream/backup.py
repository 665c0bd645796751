"""Backup and restore of what the service keeps in NATS, as one JSON Lines file.

What is kept: the event log, the audit trail, refused inputs and dead letters, the wrapped data
keys and the shared secrets (KV), and the timers still to go off. What is not: the projections'
snapshots (a rebuild makes them again, equal), fired timers (they were handled) and the
outbound feed (derived from the log). The master key is not in the backup: the data keys are
wrapped with it, so keep it apart (``BONDGENOTEN_MASTER_KEY`` or ``<data dir>/master.key``) —
a stolen backup alone reveals no ally.

Restore goes into a fresh server only (an empty log): each message is published again in its
order with its headers, minus the expected-sequence checks of its first append. The event ids
(``Nats-Msg-Id``, ``ce-id``) stay; positions stay too unless the log had gaps (expired signals).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from services.adapters.jetstream.topology import Topology, ensure_streams

FORMAT = "bondgenoten-backup/1"
FETCH = 512
DROPPED_HEADERS = ("Nats-Expected-", "Nats-Batch-")
"""What belonged to the first append: its checks (against a stream that is gone) and its
atomic batch (each message is published on its own again, in the same order)."""


class RestoreRefused(RuntimeError):
    """The target already holds events: a restore never merges into a log."""


@dataclass(frozen=True)
class Part:
    stream: str
    keep: Callable[[str], bool] = lambda _subject: True


def parts(topology: Topology) -> list[Part]:
    timers_at = f"{topology.subject_prefix}.timer.at."
    return [
        Part(f"KV_{topology.keys_bucket}"),
        Part(f"KV_{topology.secrets_bucket}"),
        Part(topology.events_stream),
        Part(topology.audit_stream),
        Part(topology.rejected_stream),
        Part(topology.dlq_stream),
        Part(topology.timers_stream, lambda subject: subject.startswith(timers_at)),
    ]


async def _messages(js: JetStreamContext, stream: str) -> AsyncIterator[Any]:
    """Every message of ``stream`` in order (an ephemeral consumer on the leader)."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return
    if not info.state.messages:
        return
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0,
        mem_storage=True,
        num_replicas=1,
    )
    created = await js.add_consumer(stream, config)
    name = created.name
    sub = await js.pull_subscribe_bind(consumer=name, stream=stream)
    try:
        while True:
            msgs = await sub.fetch(FETCH, timeout=5)
            for msg in msgs:
                yield msg
                if msg.metadata.num_pending == 0:
                    return
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, name)


async def backup(
    js: JetStreamContext, topology: Topology, out: IO[str], progress: Callable[[int], None]
) -> dict[str, int]:
    """Write every kept message to ``out``; returns how many per stream."""
    counts: dict[str, int] = {}
    out.write(json.dumps({"format": FORMAT, "streams": [p.stream for p in parts(topology)]}))
    out.write("\n")
    total = 0
    for part in parts(topology):
        counts[part.stream] = 0
        async for msg in _messages(js, part.stream):
            if not part.keep(msg.subject):
                continue
            line = {
                "stream": part.stream,
                "subject": msg.subject,
                "headers": dict(msg.headers or {}),
                "data": base64.b64encode(msg.data).decode(),
            }
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            counts[part.stream] += 1
            total += 1
            if total % 1000 == 0:
                progress(total)
    return counts


def _headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.startswith(DROPPED_HEADERS)}


async def restore(
    js: JetStreamContext,
    topology: Topology,
    lines: Iterable[str],
    prepare: Callable[[], Any],
    progress: Callable[[int], None],
) -> dict[str, int]:
    """Publish a backup into a fresh server; ``prepare`` makes the KV buckets first."""
    await ensure_streams(js, topology)
    with contextlib.suppress(NotFoundError):
        if (await js.stream_info(topology.events_stream)).state.messages:
            raise RestoreRefused(topology.events_stream)
    await prepare()
    rows = iter(lines)
    head = json.loads(next(rows))
    if head.get("format") != FORMAT:
        raise ValueError(f"not a backup of this service (format {head.get('format')!r})")
    counts: dict[str, int] = {}
    for total, row in enumerate(rows, start=1):
        message = json.loads(row)
        try:
            await js.publish(
                message["subject"],
                base64.b64decode(message["data"]),
                headers=_headers(message["headers"]) or None,
            )
        except Exception as exc:
            raise RuntimeError(f"restoring {message['subject']} failed: {exc!r}") from exc
        counts[message["stream"]] = counts.get(message["stream"], 0) + 1
        if total % 1000 == 0:
            progress(total)
    return counts
