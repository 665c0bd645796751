"""structlog setup: JSON lines when not on a TTY (for log shippers), readable on a TTY.

Rules the code follows: bind ``event_id``, ``event_type`` and ``correlation_id`` where there is
one; never log event payloads, names, phone numbers, e-mail addresses, community affiliations or
free text from signals. Per-message INFO logs stay off the hot path: consumers log at DEBUG per
message and at INFO per batch or state change.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TextIO

import structlog


def configure_logging(
    level: str | None = None, *, json: bool | None = None, file: Path | None = None
) -> None:
    """``file``: write the logs there (JSON lines) instead of to stderr, e.g. while the demo
    tells its Dutch story on the terminal."""
    level_name = (level or os.environ.get("BONDGENOTEN_LOG_LEVEL", "INFO")).upper()
    numeric = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    stream: TextIO = sys.stderr
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        stream = file.open("a", encoding="utf-8", buffering=1)
    use_json = (not stream.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    # FastStream and uvicorn log through stdlib logging; keep them at WARNING so they do not log
    # every message or request (that alone halves consumer throughput).
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=stream, format="%(message)s", force=True
    )
    for noisy in ("faststream", "uvicorn.access", "nats"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
