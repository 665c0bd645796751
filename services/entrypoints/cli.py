"""``bondgenoten`` console script."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from services.adapters.logging import configure_logging
from services.settings import Settings

log = structlog.get_logger(__name__)


async def _until_stopped() -> None:
    """Wait for SIGINT/SIGTERM, so both Ctrl-C and a supervisor stop shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _run(args: argparse.Namespace) -> int:
    from services.runtime import run_service

    settings = Settings.from_env()
    if args.demo:
        settings = settings.for_demo()
    await run_service(settings, demo=args.demo, until=_until_stopped())
    return 0


async def _project(args: argparse.Namespace) -> int:
    from services.runtime import run_projections

    await run_projections(Settings.from_env(), until=_until_stopped())
    return 0


async def _rebuild(args: argparse.Namespace) -> int:
    from services.runtime import rebuild

    await rebuild(Settings.from_env(), names=args.projection or None)
    return 0


async def _asyncapi(args: argparse.Namespace) -> int:
    from services.adapters.jetstream.topology import Topology
    from services.entrypoints.nats.api import asyncapi_document

    settings = Settings.from_env()
    print(asyncapi_document(Topology(settings.stream_prefix, settings.subject_prefix)))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bondgenoten", description=__doc__)
    p.add_argument("--log-level", default=None)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run all services (embedded NATS unless NATS_URL is set)")
    run.add_argument("--demo", action="store_true", help="seed a realistic demo and play it")
    run.set_defaults(handler=_run)
    pj = sub.add_parser("project", help="run only the projection runners (scale-out, tests)")
    pj.set_defaults(handler=_project)
    rb = sub.add_parser("rebuild", help="rebuild projections from the log")
    rb.add_argument("projection", nargs="*", help="projection names (default: all)")
    rb.set_defaults(handler=_rebuild)
    aa = sub.add_parser("asyncapi", help="print the AsyncAPI document of the NATS API")
    aa.set_defaults(handler=_asyncapi)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    handler: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.handler
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(handler(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
