"""The embedded nats-server never outlives the service: not on Ctrl-C, not on kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.adapters.jetstream.embedded import EmbeddedNats, EmbeddedNatsError, free_port

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _server_pid(log: Path, deadline_s: float = 20) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        text = log.read_text()
        if "service.ready" in text:
            started = next(line for line in text.splitlines() if "nats.embedded.started" in line)
            return int(json.loads(started)["pid"])
        time.sleep(0.05)
    raise AssertionError("service did not start: " + log.read_text()[-2000:])


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = tmp_path / "service.log"
    env = dict(
        os.environ,
        BONDGENOTEN_DATA_DIR=str(tmp_path / "data"),
        BONDGENOTEN_NATS_PORT=str(free_port()),
        BONDGENOTEN_HTTP_PORT=str(free_port()),
    )
    env.pop("NATS_URL", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services", "run"], env=env, stdout=out, stderr=out
        )
    return proc, _server_pid(log)


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_stops_the_embedded_server(tmp_path: Path) -> None:
    proc, server = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    assert _gone_within(server, 5)


def test_kill_9_of_the_service_takes_the_server_down(tmp_path: Path) -> None:
    proc, server = _start(tmp_path)
    proc.kill()
    proc.wait(timeout=5)
    assert _gone_within(server, 5)


def test_a_second_server_on_the_same_store_is_refused(tmp_path: Path) -> None:
    first = EmbeddedNats(tmp_path / "store", port=free_port())
    first.start()
    try:
        second = EmbeddedNats(tmp_path / "store", port=free_port())
        with pytest.raises(EmbeddedNatsError, match="in use by another nats-server"):
            second.start()
    finally:
        first.stop()
    third = EmbeddedNats(tmp_path / "store", port=free_port())
    third.start()  # free again once the first has stopped
    third.stop()


def test_rebuild_while_the_service_runs_says_so_without_a_traceback(tmp_path: Path) -> None:
    proc, _ = _start(tmp_path)
    try:
        env = dict(os.environ, BONDGENOTEN_DATA_DIR=str(tmp_path / "data"))
        env.pop("NATS_URL", None)
        rebuild = subprocess.run(
            [sys.executable, "-m", "services", "rebuild"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert rebuild.returncode == 1
    assert "in gebruik" in rebuild.stderr and "Traceback" not in rebuild.stderr
