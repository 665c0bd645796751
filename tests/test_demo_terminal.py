"""``bondgenoten run --demo`` on a terminal: the Dutch story alone, the logs in a file."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.adapters.jetstream.embedded import free_port

pytestmark = pytest.mark.slow
DATA = Path(__file__).parent / "data"


def test_the_story_on_a_terminal_is_not_interleaved_with_log_lines(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        BONDGENOTEN_DATA_DIR=str(tmp_path / "data"),
        BONDGENOTEN_NATS_PORT=str(free_port()),
        BONDGENOTEN_HTTP_PORT=str(free_port()),
        BONDGENOTEN_ESCALATION_POLICY=str(DATA / "policy-console.toml"),
    )
    env.pop("NATS_URL", None)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services", "run", "--demo"],
        env=env, stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while b"De demo draait door" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if ready:
                try:
                    seen += os.read(primary, 65536)
                except OSError:
                    break
    finally:
        proc.send_signal(signal.SIGINT)
        # The way out is on the terminal too: read until the process has closed it.
        while True:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if not ready and proc.poll() is not None:
                break
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
        proc.wait(timeout=30)
        os.close(primary)
    text = seen.decode("utf-8", errors="replace")
    assert "De demo draait door" in text, text[-2000:]
    assert "Gestopt." in text, text[-2000:]
    for marker in ("projection.started", "stream.created", "[info", '"level"', "INFO"):
        assert marker not in text, marker
    log_file = tmp_path / "data" / "bondgenoten.log"
    assert log_file.exists() and "projection.started" in log_file.read_text()
