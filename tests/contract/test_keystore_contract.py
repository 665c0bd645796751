"""One key-store contract, two key stores: in memory and NATS KV (on the session's server)."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from services.adapters.jetstream.keystore import NatsKeyStore, master_key
from services.adapters.jetstream.topology import Topology
from services.adapters.memory.keystore import InMemoryKeyStore
from services.app.ports import KeyStore
from tests.conftest import MASTER_KEY, stream_messages


@pytest.fixture(params=["memory", "nats"])
def keys(request: pytest.FixtureRequest) -> KeyStore:
    if request.param == "memory":
        return InMemoryKeyStore()
    nc: NatsClient = request.getfixturevalue("nc")
    topology: Topology = request.getfixturevalue("topology")
    return NatsKeyStore(nc.jetstream(), topology.keys_bucket, base64.b64decode(MASTER_KEY))


async def test_a_key_is_made_once_and_then_always_the_same(keys: KeyStore) -> None:
    assert await keys.key_for("ally.a1", create=False) is None
    first = await keys.key_for("ally.a1", create=True)
    assert first is not None and len(first) == 32
    assert await keys.key_for("ally.a1", create=True) == first
    assert await keys.key_for("ally.a1", create=False) == first
    other = await keys.key_for("contact.a1", create=True)
    assert other is not None and other != first


async def test_concurrent_creators_agree_on_one_key(keys: KeyStore) -> None:
    made = await asyncio.gather(*(keys.key_for("ally.a2", create=True) for _ in range(5)))
    assert len(set(made)) == 1 and made[0] is not None


async def test_destroy_is_final_and_repeatable(keys: KeyStore) -> None:
    assert await keys.key_for("ally.a3", create=True) is not None
    await keys.destroy("ally.a3")
    assert await keys.key_for("ally.a3", create=False) is None
    assert await keys.key_for("ally.a3", create=True) is None  # never again
    await keys.destroy("ally.a3")
    await keys.destroy("ally.never")  # an owner without a key: a tombstone all the same
    assert await keys.key_for("ally.never", create=True) is None


async def test_kv_holds_keys_only_wrapped_and_destroy_erases_the_message(
    nc: NatsClient, topology: Topology
) -> None:
    store = NatsKeyStore(nc.jetstream(), topology.keys_bucket, base64.b64decode(MASTER_KEY))
    key = await store.key_for("ally.a4", create=True)
    assert key is not None
    stored = await stream_messages(nc, f"KV_{topology.keys_bucket}")
    assert len(stored) == 1 and key not in (stored[0].data or b"")
    assert base64.b64encode(key) not in (stored[0].data or b"")
    # Another master key opens nothing.
    wrong = NatsKeyStore(nc.jetstream(), topology.keys_bucket, os.urandom(32))
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        await wrong.key_for("ally.a4", create=False)
    await store.destroy("ally.a4")
    left = await stream_messages(nc, f"KV_{topology.keys_bucket}")
    assert all(not m.data for m in left)  # only the purge marker (the tombstone)


def test_master_key_is_made_once_in_the_data_dir_with_owner_only_access(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    first = master_key(None, d)
    assert len(first) == 32 and master_key(None, d) == first
    assert (d / "master.key").stat().st_mode & 0o077 == 0
    assert master_key(MASTER_KEY, d) == base64.b64decode(MASTER_KEY)
    with pytest.raises(ValueError, match="32 bytes"):
        master_key(base64.b64encode(b"short").decode(), d)


def test_a_master_key_made_by_two_processes_at_once_is_one_complete_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second process that starts while the first is making the key reads the first's whole
    key or makes its own and both agree; it never reads a file still being written."""
    from services.adapters.jetstream import keystore as keystore_module

    second: list[bytes] = []
    started: list[bool] = []

    class SecondProcessMeanwhile:
        @staticmethod
        def generate_key(bit_length: int) -> bytes:
            if not started:  # the first process is making its key: the second one starts
                started.append(True)
                second.append(master_key(None, tmp_path))
            return os.urandom(bit_length // 8)

    monkeypatch.setattr(keystore_module, "AESGCM", SecondProcessMeanwhile)
    first = master_key(None, tmp_path)
    assert len(first) == 32 and second == [first]
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary file left


@pytest.mark.parametrize("stored", [b"", b"c2hvcnQ=\n", b"not base64 at all!"])
def test_a_master_key_file_without_32_bytes_is_refused(tmp_path: Path, stored: bytes) -> None:
    (tmp_path / "master.key").write_bytes(stored)
    with pytest.raises(ValueError, match="32 bytes"):
        master_key(None, tmp_path)
