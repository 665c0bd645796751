"""Raw nats-py baselines on the service's own server, and the fast pre-fill of its log.

All connect as the service's nkey (the only identity the generated authorization lets read
the event stream). The baselines do what the service must do at the least, with nothing of
ours in between: publish; pull + ack + JSON parse; ordered replay + JSON parse.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.adapters.jetstream.extensions import (
    MAX_BATCH_MESSAGES,
    OutgoingMessage,
    publish_atomic_batch,
)

EVENTS = "BG_EVENTS"
SIGNALS = "bg.ev.signal.>"


async def connect(data: Path, url: str) -> Client:
    seed = data / "nats" / "identities" / "service.nk"
    return await nats.connect(url, nkeys_seed=str(seed), pending_size=64 * 1024 * 1024)


async def publish(nc: Client, n: int, payload: bytes) -> tuple[float, float]:
    """Pipelined (``publish_async``, 256 in flight) and sequential (``js.publish``) JetStream
    publishes of ``payload`` to a scratch stream: each one a durable write of its own."""
    js = nc.jetstream(publish_async_max_pending=256)
    await js.add_stream(name="RAWBENCH", subjects=["bg.rawbench.>"])
    start = time.perf_counter()
    for i in range(n):
        await js.publish_async(f"bg.rawbench.{i % 64}", payload)
    await js.publish_async_completed()
    pipelined = n / (time.perf_counter() - start)
    m = min(n, 2000)
    start = time.perf_counter()
    for i in range(m):
        await js.publish(f"bg.rawbench.{i % 64}", payload)
    sequential = m / (time.perf_counter() - start)
    await js.delete_stream("RAWBENCH")
    return pipelined, sequential


async def pull_ack_parse(nc: Client, first: int, count: int) -> float:
    """A durable-style pull consumer over the signals from position ``first``: fetch 256,
    ack each, parse each body (what a projection does at the least). Returns messages/s."""
    js = nc.jetstream()
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=first,
        ack_policy=AckPolicy.EXPLICIT,
        filter_subject=SIGNALS,
        max_ack_pending=4096,
    )
    sub = await js.pull_subscribe(SIGNALS, durable="rawbench_pull", stream=EVENTS, config=config)
    done = 0
    start = time.perf_counter()
    try:
        while done < count:
            for msg in await sub.fetch(256, timeout=5):
                json.loads(msg.data)
                await msg.ack()
                done += 1
        return done / (time.perf_counter() - start)
    finally:
        await sub.unsubscribe()
        await js.delete_consumer(EVENTS, "rawbench_pull")


async def ordered_replay(nc: Client) -> tuple[int, float]:
    """The whole event log through an ordered consumer, each body parsed (a rebuild's floor).
    Returns (messages, messages/s)."""
    js = nc.jetstream()
    last = (await js.stream_info(EVENTS)).state.last_seq
    done = asyncio.Event()
    count = 0

    async def on_msg(msg: nats.aio.msg.Msg) -> None:
        nonlocal count
        json.loads(msg.data)
        count += 1
        if msg.metadata.sequence.stream >= last:
            done.set()

    start = time.perf_counter()
    sub = await js.subscribe(
        "bg.ev.>", stream=EVENTS, ordered_consumer=True, cb=on_msg, pending_msgs_limit=-1
    )
    await done.wait()
    elapsed = time.perf_counter() - start
    await sub.unsubscribe()
    return count, count / elapsed


async def templates(nc: Client, count: int = 64) -> list[tuple[str, dict[str, str], bytes]]:
    """Signals the service stored (subject, headers, body), to copy for the pre-fill."""
    js = nc.jetstream()
    found = []
    seq = 0
    while len(found) < count:
        try:
            msg = await js.get_msg(EVENTS, seq=seq + 1, subject=SIGNALS, next=True)
        except nats.js.errors.NotFoundError:
            break
        seq = int(msg.seq or 0)
        found.append((msg.subject or "", dict(msg.headers or {}), msg.data or b""))
    if not found:
        raise SystemExit("no stored signal to copy")
    return found


def _clone(template: tuple[str, dict[str, str], bytes]) -> OutgoingMessage:
    """The same stored signal under fresh ids: the event id (``ce-id``, ``Nats-Msg-Id``) and
    the signal id (the aggregate: the subject's last token and ``signal_id`` in the body)."""
    subject, headers, body = template
    old_signal = subject.rsplit(".", 1)[1]
    old_event = headers["ce-id"]
    new_signal, new_event = uuid.uuid4().hex, uuid.uuid4().hex
    out = {}
    for k, v in headers.items():
        if k.startswith(("Nats-Expected", "Nats-Batch")):
            continue  # a fresh aggregate: nothing to expect; batches are the fill's own
        out[k] = v.replace(old_event, new_event).replace(old_signal, new_signal)
    data = body.replace(old_signal.encode(), new_signal.encode())
    return OutgoingMessage(subject.replace(old_signal, new_signal), data, out)


async def prefill(nc: Client, n: int) -> float:
    """Append ``n`` copies of stored signals in atomic batches of 1,000 (one commit and one
    fsync each), a few batches in flight. Returns events/s."""
    found = await templates(nc)
    start = time.perf_counter()
    slots = asyncio.Semaphore(4)

    async def batch(size: int, offset: int) -> None:
        async with slots:
            msgs = [_clone(found[(offset + i) % len(found)]) for i in range(size)]
            await publish_atomic_batch(nc, msgs, timeout=30)

    tasks = []
    for offset in range(0, n, MAX_BATCH_MESSAGES):
        tasks.append(asyncio.ensure_future(batch(min(MAX_BATCH_MESSAGES, n - offset), offset)))
        if len(tasks) >= 16:
            await asyncio.gather(*tasks)
            tasks.clear()
    await asyncio.gather(*tasks)
    return n / (time.perf_counter() - start)
