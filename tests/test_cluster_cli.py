"""``bondgenoten cluster``: three JetStream nodes on loopback that let in the data directory's
service seed, replicate a stream three ways, and stop with Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js.api import StreamConfig

from tests.conftest import eventually

pytestmark = pytest.mark.cluster


async def test_the_cluster_command_runs_three_nodes_until_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "BONDGENOTEN_DATA_DIR": str(tmp_path / "data")}
    store = tmp_path / "nodes"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "--log-level", "WARNING", "cluster", "--dir", str(store),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        printed = []
        while not printed or "Ctrl-C" not in printed[-1]:
            line = (await proc.stdout.readline()).decode()
            assert line, "the command ended before the cluster was ready"
            printed.append(line)
        text = "".join(printed)
        url = next(line.split()[1] for line in printed if line.strip().startswith("NATS_URL"))
        seed = tmp_path / "data" / "nats" / "identities" / "service.nk"
        assert str(seed) in text
        nc = await nats.connect(servers=url.split(","), nkeys_seed=str(seed))
        try:
            js = nc.jetstream()
            info = await js.add_stream(StreamConfig(name="X", subjects=["bg.x"], num_replicas=3))
            assert info.cluster is not None
            await js.publish("bg.x", b"1")
            peers = await eventually(
                lambda: js.stream_info("X"), what="the stream's replicas", ignoring=(Exception,)
            )
            assert peers.cluster is not None and len(peers.cluster.replicas or []) == 2
        finally:
            await nc.close()
        # Without the service's seed nobody gets in.
        with pytest.raises(nats.errors.Error, match="Authorization"):
            await nats.connect(servers=url.split(","), allow_reconnect=False, connect_timeout=2)
        proc.send_signal(signal.SIGINT)
        assert await proc.wait() == 0
        assert sorted(p.name for p in store.iterdir()) == ["n1", "n2", "n3"]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
