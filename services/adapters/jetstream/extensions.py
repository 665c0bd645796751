"""JetStream features of nats-server 2.12+ that nats-py has no high-level API for.

* Atomic batch publish (ADR-50): all messages of a batch are stored, or none.
* Message schedules (ADR-51): the stream itself publishes a held message at a given time.
* Raw stream management through ``$JS.API.STREAM.*``, so that stream options the installed
  nats-py does not model yet still reach the server. (nats-py 2.16 itself keeps
  ``allow_atomic`` and ``allow_msg_schedules`` in ``StreamConfig``; the raw calls are for the
  next option it does not know, and round-trip the server's JSON unchanged.)

Every protocol fact stated here was checked against the real nats-server 2.15.1
(see ``docs/research/jetstream-batch-and-schedules.md``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

__all__ = [
    "BATCH_COMMIT_HEADER",
    "BATCH_ID_HEADER",
    "BATCH_SEQUENCE_HEADER",
    "DEFAULT_API_PREFIX",
    "ERR_ATOMIC_DISABLED",
    "ERR_BATCH_DUPLICATE_MSG_ID",
    "ERR_BATCH_INCOMPLETE",
    "ERR_BATCH_TOO_LARGE",
    "ERR_BATCH_TOO_MANY_INFLIGHT",
    "ERR_BATCH_UNSUPPORTED_HEADER",
    "ERR_SCHEDULE_DISABLED",
    "ERR_SCHEDULE_PATTERN_INVALID",
    "ERR_SCHEDULE_TARGET_INVALID",
    "ERR_STREAM_NOT_FOUND",
    "ERR_WRONG_LAST_SEQUENCE",
    "ERR_WRONG_LAST_SEQUENCE_IN_BATCH",
    "MAX_BATCH_MESSAGES",
    "SCHEDULE_HEADER",
    "SCHEDULE_TARGET_HEADER",
    "SCHEDULE_TTL_HEADER",
    "AtomicBatchError",
    "BatchAck",
    "BatchDuplicateMsgId",
    "BatchOutcomeUnknown",
    "ExpectedSequenceConflict",
    "JetStreamApiError",
    "OutgoingMessage",
    "cancel_schedule",
    "create_stream_raw",
    "ensure_stream_raw",
    "publish_atomic_batch",
    "schedule_headers",
    "stream_info_raw",
    "update_stream_raw",
]

DEFAULT_API_PREFIX: Final = "$JS.API"

BATCH_ID_HEADER: Final = "Nats-Batch-Id"
BATCH_SEQUENCE_HEADER: Final = "Nats-Batch-Sequence"
BATCH_COMMIT_HEADER: Final = "Nats-Batch-Commit"
_BATCH_HEADERS: Final = frozenset(
    h.lower() for h in (BATCH_ID_HEADER, BATCH_SEQUENCE_HEADER, BATCH_COMMIT_HEADER)
)

SCHEDULE_HEADER: Final = "Nats-Schedule"
SCHEDULE_TARGET_HEADER: Final = "Nats-Schedule-Target"
SCHEDULE_TTL_HEADER: Final = "Nats-Schedule-TTL"

#: Server default limit of messages per atomic batch (message 1001 is answered with 10199).
MAX_BATCH_MESSAGES: Final = 1000

# err_code values observed from nats-server 2.15.1.
ERR_STREAM_NOT_FOUND: Final = 10059
ERR_WRONG_LAST_SEQUENCE: Final = 10071  # "wrong last sequence: <actual>"
ERR_WRONG_LAST_SEQUENCE_IN_BATCH: Final = 10164  # "wrong last sequence" (subject already in batch)
ERR_ATOMIC_DISABLED: Final = 10174  # stream lacks allow_atomic
ERR_BATCH_INCOMPLETE: Final = 10176  # gap, unknown/abandoned batch, or batch spans streams
ERR_BATCH_UNSUPPORTED_HEADER: Final = 10177  # e.g. Nats-Expected-Last-Msg-Id
ERR_BATCH_TOO_LARGE: Final = 10199  # more than 1000 messages
ERR_BATCH_DUPLICATE_MSG_ID: Final = 10201  # a Nats-Msg-Id repeats or is already stored
ERR_BATCH_TOO_MANY_INFLIGHT: Final = 10210  # > 50 open batches on the stream (code 429)
ERR_SCHEDULE_DISABLED: Final = 10188  # stream lacks allow_msg_schedules
ERR_SCHEDULE_PATTERN_INVALID: Final = 10189  # e.g. "@at" time without a UTC offset
ERR_SCHEDULE_TARGET_INVALID: Final = 10190  # target missing, wildcard, self, or not in stream

_SEQUENCE_CONFLICT_CODES: Final = frozenset(
    {ERR_WRONG_LAST_SEQUENCE, ERR_WRONG_LAST_SEQUENCE_IN_BATCH}
)


# --------------------------------------------------------------------------- errors


class JetStreamApiError(Exception):
    """An error reply from the JetStream API (``{"error": {code, err_code, description}}``)."""

    def __init__(self, code: int | None, err_code: int | None, description: str) -> None:
        self.code = code
        self.err_code = err_code
        self.description = description
        super().__init__(f"{description} (code={code}, err_code={err_code})")

    @classmethod
    def from_reply(cls, error: Mapping[str, Any]) -> JetStreamApiError:
        return cls(_opt_int(error.get("code")), _opt_int(error.get("err_code")), _desc(error))


class AtomicBatchError(JetStreamApiError):
    """The batch was rejected; the server stored none of its messages.

    ``index`` is the 0-based position of the message whose reply carried the error (the
    commit message for every check the server defers to commit time), ``None`` if the
    failure was not tied to a reply.
    """

    def __init__(
        self,
        code: int | None,
        err_code: int | None,
        description: str,
        *,
        batch_id: str,
        index: int | None,
    ) -> None:
        self.batch_id = batch_id
        self.index = index
        super().__init__(code, err_code, description)

    @property
    def transient(self) -> bool:
        """Worth retrying as is: no reply (timeout, no responders) or too many open batches.
        The batch's own faults (sequence, duplicate id, size) are not."""
        return (
            self.err_code is None and self.code in (None, 503)
        ) or self.err_code == ERR_BATCH_TOO_MANY_INFLIGHT


class ExpectedSequenceConflict(AtomicBatchError):
    """An ``Nats-Expected-Last-(Subject-)Sequence`` check failed: someone else wrote first.

    err_code 10071 (``wrong last sequence: <actual>``) when the check was evaluated against
    the stream, 10164 (``wrong last sequence``) when the header sat on a message whose
    subject an earlier message of the same batch already writes, which the server can never
    satisfy. Re-read and retry with a fresh batch.
    """


class BatchDuplicateMsgId(AtomicBatchError):
    """err_code 10201: a ``Nats-Msg-Id`` repeats inside the batch or is already stored.

    Unlike a single publish (which is acked with ``duplicate: true``), a batch that carries
    an already stored message id is rejected as a whole. A retried batch that was in fact
    committed the first time therefore surfaces here: treat it as "already done" only if
    your ids are deterministic per logical batch.
    """


class BatchOutcomeUnknown(AtomicBatchError):
    """No reply to the commit message: the batch may or may not have been stored."""


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _desc(error: Mapping[str, Any]) -> str:
    return str(error.get("description", "unknown JetStream error"))


def _batch_error(error: Mapping[str, Any], batch_id: str, index: int) -> AtomicBatchError:
    err_code = _opt_int(error.get("err_code"))
    cls: type[AtomicBatchError] = AtomicBatchError
    if err_code in _SEQUENCE_CONFLICT_CODES:
        cls = ExpectedSequenceConflict
    elif err_code == ERR_BATCH_DUPLICATE_MSG_ID:
        cls = BatchDuplicateMsgId
    return cls(_opt_int(error.get("code")), err_code, _desc(error), batch_id=batch_id, index=index)


# --------------------------------------------------------------------------- raw stream API


async def _api(
    nc: NatsClient, subject: str, body: Mapping[str, Any] | None, request_timeout: float
) -> dict[str, Any]:
    payload = json.dumps(body).encode() if body is not None else b""
    msg = await nc.request(subject, payload, timeout=request_timeout)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


def _raise_on_error(reply: Mapping[str, Any]) -> None:
    error = reply.get("error")
    if isinstance(error, Mapping):
        raise JetStreamApiError.from_reply(error)


async def stream_info_raw(
    nc: NatsClient,
    name: str,
    *,
    request_timeout: float = 5.0,
    api_prefix: str = DEFAULT_API_PREFIX,
) -> dict[str, Any] | None:
    """The raw ``STREAM.INFO`` reply (``config``, ``state``, ...), or ``None`` if no such stream."""
    reply = await _api(nc, f"{api_prefix}.STREAM.INFO.{name}", None, request_timeout)
    error = reply.get("error")
    if isinstance(error, Mapping) and error.get("err_code") == ERR_STREAM_NOT_FOUND:
        return None
    _raise_on_error(reply)
    return reply


async def create_stream_raw(
    nc: NatsClient,
    config: Mapping[str, Any],
    *,
    request_timeout: float = 5.0,
    api_prefix: str = DEFAULT_API_PREFIX,
) -> dict[str, Any]:
    """Create a stream from a server-format JSON config (keys as in ``STREAM.INFO`` ``config``).

    Durations are nanoseconds, as on the wire. Returns the raw reply (``config``, ``state``).
    """
    return await _create_or_update(nc, "CREATE", config, request_timeout, api_prefix)


async def update_stream_raw(
    nc: NatsClient,
    config: Mapping[str, Any],
    *,
    request_timeout: float = 5.0,
    api_prefix: str = DEFAULT_API_PREFIX,
) -> dict[str, Any]:
    """Replace a stream's config. Send the *whole* config: omitted keys fall back to defaults."""
    return await _create_or_update(nc, "UPDATE", config, request_timeout, api_prefix)


async def _create_or_update(
    nc: NatsClient,
    verb: str,
    config: Mapping[str, Any],
    request_timeout: float,
    api_prefix: str,
) -> dict[str, Any]:
    name = config.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("stream config needs a 'name'")
    reply = await _api(nc, f"{api_prefix}.STREAM.{verb}.{name}", config, request_timeout)
    _raise_on_error(reply)
    return reply


async def ensure_stream_raw(
    nc: NatsClient,
    config: Mapping[str, Any],
    *,
    request_timeout: float = 5.0,
    api_prefix: str = DEFAULT_API_PREFIX,
) -> dict[str, Any]:
    """Create the stream, or update it if any key given in ``config`` differs on the server.

    The update merges ``config`` over the server's current config, so keys the caller does
    not mention keep their server values.
    """
    info = await stream_info_raw(
        nc, str(config.get("name")), request_timeout=request_timeout, api_prefix=api_prefix
    )
    if info is None:
        return await create_stream_raw(
            nc, config, request_timeout=request_timeout, api_prefix=api_prefix
        )
    current: dict[str, Any] = info.get("config", {})
    if all(current.get(key) == value for key, value in config.items()):
        return info
    merged = {**current, **config}
    return await update_stream_raw(
        nc, merged, request_timeout=request_timeout, api_prefix=api_prefix
    )


# --------------------------------------------------------------------------- atomic batch


@dataclass(frozen=True)
class OutgoingMessage:
    """One message of an atomic batch. ``headers`` must not contain ``Nats-Batch-*``."""

    subject: str
    data: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchAck:
    """The PubAck of a committed batch (server fields ``stream``, ``seq``, ``batch``, ``count``).

    ``seq`` is the stream sequence of the last stored message. The batch is stored under
    lock at commit, so its messages occupy the contiguous range ``first_seq..seq``.
    """

    stream: str
    seq: int
    batch_id: str
    count: int
    domain: str | None = None

    @property
    def first_seq(self) -> int:
        return self.seq - self.count + 1


async def publish_atomic_batch(
    nc: NatsClient,
    messages: Sequence[OutgoingMessage],
    timeout: float,  # noqa: ASYNC109 - a deadline shared by several nc.request calls
    *,
    ack_every: int = 0,
) -> BatchAck:
    """Publish ``messages`` so that the stream stores all of them or none.

    Protocol (ADR-50, verified on nats-server 2.15.1): every message carries
    ``Nats-Batch-Id`` (a fresh uuid4 hex, <= 64 chars) and ``Nats-Batch-Sequence`` 1..n
    without gaps; the last one also ``Nats-Batch-Commit: 1``. All messages must go to
    subjects of the *same* stream, which needs ``allow_atomic: true``. Non-commit messages
    sent as requests get an empty reply; nothing is stored until the commit, which is
    answered with a PubAck carrying ``batch`` and ``count``.

    The first message is sent as a request so that a stream without ``allow_atomic``
    (10174) or too many open batches (10210) fails fast; the middle messages are published
    without a reply subject unless ``ack_every`` > 0 asks for a round trip every that many
    messages. Header checks (``Nats-Expected-Last-Subject-Sequence``, ``Nats-Msg-Id``
    dedup, ...) are evaluated by the server at commit, against the stream as it was
    before the batch, so errors usually arrive on the commit reply.

    ``timeout`` bounds the whole call. Raises :class:`ExpectedSequenceConflict`,
    :class:`BatchDuplicateMsgId` or :class:`AtomicBatchError` when the server rejected the
    batch (nothing stored), :class:`BatchOutcomeUnknown` when the commit got no reply.
    """
    if not messages:
        raise ValueError("an atomic batch needs at least one message")
    if ack_every < 0:
        raise ValueError("ack_every must be >= 0")
    for msg in messages:
        if any(key.lower() in _BATCH_HEADERS for key in msg.headers):
            raise ValueError("Nats-Batch-* headers are set by publish_atomic_batch")

    batch_id = uuid.uuid4().hex
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = len(messages) - 1

    for index, msg in enumerate(messages):
        headers = {
            **msg.headers,
            BATCH_ID_HEADER: batch_id,
            BATCH_SEQUENCE_HEADER: str(index + 1),
        }
        if index == last:
            headers[BATCH_COMMIT_HEADER] = "1"
        elif index != 0 and not (ack_every and index % ack_every == 0):
            await nc.publish(msg.subject, msg.data, headers=headers)
            continue

        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AtomicBatchError(
                None, None, "timed out before commit", batch_id=batch_id, index=index
            )
        try:
            reply = await nc.request(msg.subject, msg.data, timeout=remaining, headers=headers)
        except NoRespondersError as exc:
            raise AtomicBatchError(
                503,
                None,
                f"no stream listens on subject {msg.subject!r}",
                batch_id=batch_id,
                index=index,
            ) from exc
        except (TimeoutError, NatsTimeoutError) as exc:
            if index == last:
                raise BatchOutcomeUnknown(
                    None, None, "no reply to the commit", batch_id=batch_id, index=index
                ) from exc
            raise AtomicBatchError(
                None, None, "no reply before commit", batch_id=batch_id, index=index
            ) from exc

        if not reply.data:  # empty ack of a non-commit message
            continue
        body: dict[str, Any] = json.loads(reply.data)
        error = body.get("error")
        if isinstance(error, Mapping):
            raise _batch_error(error, batch_id, index)
        if index != last:
            raise AtomicBatchError(
                None,
                None,
                f"unexpected reply before commit: {reply.data[:200]!r}",
                batch_id=batch_id,
                index=index,
            )
        return BatchAck(
            stream=str(body["stream"]),
            seq=int(body["seq"]),
            batch_id=str(body.get("batch", batch_id)),
            count=int(body.get("count", len(messages))),
            domain=body.get("domain"),
        )

    raise AssertionError("unreachable: the commit message always returns or raises")


# --------------------------------------------------------------------------- schedules


def schedule_headers(at: datetime, target: str, *, ttl: timedelta | None = None) -> dict[str, str]:
    """Headers that turn a message into a one-shot schedule (ADR-51, ``@at``).

    Publish the message to a *schedule subject* of a stream with ``allow_msg_schedules``;
    ``target`` must be a literal subject of the same stream and differ from the schedule
    subject (else 10190). At ``at`` the server stores a copy of body and user headers on
    ``target`` (plus ``Nats-Scheduler`` and ``Nats-Schedule-Next: purge``) and removes the
    schedule message. The produced message is stored, not published on core NATS: read it
    with a JetStream consumer (or configure stream ``republish``). ``Nats-Msg-Id`` is not
    copied onto it. One schedule per subject: a newer message on the schedule subject
    replaces the pending one; purging the subject cancels it (see :func:`cancel_schedule`).

    ``at`` must be timezone-aware: the server rejects an ``@at`` time without a UTC offset
    (10189). It is sent in UTC with microseconds. ``ttl`` sets ``Nats-TTL`` on the produced
    message and needs ``allow_msg_ttl`` on the stream (else 10166).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("schedule time must be timezone-aware")
    if not target or any(token in ("*", ">") for token in target.split(".")):
        raise ValueError("schedule target must be a literal subject")
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    headers = {SCHEDULE_HEADER: f"@at {stamp}", SCHEDULE_TARGET_HEADER: target}
    if ttl is not None:
        seconds = int(ttl.total_seconds())
        if seconds < 1:
            raise ValueError("schedule ttl must be at least one second")
        headers[SCHEDULE_TTL_HEADER] = f"{seconds}s"
    return headers


async def cancel_schedule(
    nc: NatsClient,
    stream: str,
    schedule_subject: str,
    *,
    request_timeout: float = 5.0,
    api_prefix: str = DEFAULT_API_PREFIX,
) -> int:
    """Cancel a pending schedule by purging its schedule subject; returns messages purged.

    Returns 0 if nothing was pending (already fired, or never scheduled).
    """
    reply = await _api(
        nc, f"{api_prefix}.STREAM.PURGE.{stream}", {"filter": schedule_subject}, request_timeout
    )
    _raise_on_error(reply)
    return int(reply.get("purged", 0))
