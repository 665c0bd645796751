"""Secret files in the data directory (keys, seeds, the NATS authorization), readable by the
service's user only (mode 0600) and never seen half-written.

Several processes may start at once on one data directory (the service and a CLI command, two
replicas): content is always written in full to a temporary file of its own first, then put in
place in one step.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path


def _written_aside(path: Path, data: bytes) -> Path:
    """``data`` in a new temporary file next to ``path`` (mode 0600, on disk), its path."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def create_private(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of the private file ``path``, created with ``make()`` first if absent.
    Concurrent creators agree on one content (the first to link its file in place wins, the
    others read that one), and nobody reads the file before it is complete."""
    if not path.exists():
        tmp = _written_aside(path, make())
        try:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # loses to a concurrent creator: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()


def replace_private(path: Path, data: bytes) -> None:
    """Write ``data`` to the private file ``path`` in one step (a reader sees the old or the
    new content), also if it existed with another mode."""
    tmp = _written_aside(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
