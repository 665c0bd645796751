"""The ``bondgenoten`` console script: run the service (with the demo), run projections only,
rebuild projections, review incidents afterwards, print the AsyncAPI document. Texts for
people: services.texts_nl.cli."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import io
import json
import os
import re
import signal
import sys
import tempfile
import typing
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError

from domain.access import OUTSIDE_ROLES, Forbidden, inbox_prefix, matrix_rows, principal_of
from domain.errors import DomainError
from domain.intake import pydantic_errors
from projections.tension_map import TensionMapProjection, tension_view
from services import bootstrap
from services.adapters.jetstream.authorization import (
    AUTHORIZATION_FILE,
    AuthorizationError,
    add_integration,
    command_subjects,
    ensure_authorization,
    query_subjects,
)
from services.adapters.jetstream.backup import RestoreRefused
from services.adapters.jetstream.cluster import LoopbackCluster
from services.adapters.jetstream.embedded import EmbeddedNatsError, reload_running_server
from services.adapters.logging import configure_logging
from services.app.queries import QUERIES, served
from services.app.readmodels import PROJECTIONS
from services.settings import Settings
from services.texts_nl import cli as texts
from services.texts_nl import labels

log = structlog.get_logger(__name__)
DEMO_TOKEN_TTL = timedelta(hours=8)
TTL = re.compile(r"^([0-9]{1,6})([smhd])$")
ROLES = ", ".join(OUTSIDE_ROLES)


@contextlib.contextmanager
def _stop_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT/SIGTERM, so both Ctrl-C and a supervisor stop shut down cleanly.
    Installed before the service says it is ready: a stop right after that must not kill it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, _log_task_stacks)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _log_task_stacks() -> None:
    """SIGUSR1 logs where every task waits: for an operator whose service does not stop."""
    for task in asyncio.all_tasks():
        stack = io.StringIO()
        task.print_stack(limit=12, file=stack)
        log.warning("task.stack", task=task.get_name(), stack=stack.getvalue())


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.demo:
        explicit = "BONDGENOTEN_ESCALATION_POLICY" in os.environ
        settings = settings.for_demo(explicit_policy=explicit)
        if sys.stdout.isatty():  # the Dutch story alone on the terminal; logs to a file
            log_file = settings.data_dir / "bondgenoten.log"
            configure_logging(args.log_level or settings.log_level, file=log_file)
            print(texts.LOGS_IN_FILE.format(path=log_file), flush=True)
    with _stop_signals() as stop:
        try:
            async with bootstrap.running(settings) as service:
                log.info("service.ready", nats=service.infra.nats_url, http=service.http_url)
                ready = texts.READY.format(nats=service.infra.nats_url, http=service.http_url)
                print(ready, flush=True)
                await _serve(args, service, stop)
        except bootstrap.StillRunning as clash:
            print(texts.INSTANCE_CLASH.format(name=clash.name), file=sys.stderr)
            return 1
    print(texts.STOPPED, flush=True)
    return 0


async def _serve(args: argparse.Namespace, service: bootstrap.Service, stop: asyncio.Event) -> None:
    """Until stopped; with ``--demo``, the demo plays meanwhile (and may end or fail alone)."""
    stopped = asyncio.ensure_future(stop.wait())
    if args.demo:
        from services.demo import play_demo  # the CLI alone composes the demo

        # The demo obtains its own credentials: a token of the built-in issuer per actor.
        tokens = functools.partial(service.token_for, ttl=DEMO_TOKEN_TTL, origin="cli demo")
        demo = asyncio.ensure_future(play_demo(service.http_url, tokens))
        await asyncio.wait({demo, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not demo.done():
            demo.cancel()
        elif demo.exception() is not None:
            log.error("demo.failed", error=repr(demo.exception()))
    await stopped


async def _project(args: argparse.Namespace, settings: Settings) -> int:
    with _stop_signals() as stop:
        async with bootstrap.running(settings, projections_only=True) as service:
            log.info("projections.ready", nats=service.infra.nats_url)
            await stop.wait()
    return 0


async def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    known = [p.name for p in PROJECTIONS]
    unknown = [n for n in args.projection if n not in known]
    if unknown:
        print(texts.UNKNOWN_PROJECTION.format(unknown=", ".join(unknown), known=", ".join(known)))
        return 2
    try:
        rebuilt = await bootstrap.rebuild(settings, args.projection or None)
    except bootstrap.StillRunning as running:
        print(texts.STILL_RUNNING.format(name=running.name), file=sys.stderr)
        return 1
    except EmbeddedNatsError as exc:
        print(texts.STORE_IN_USE.format(reason=exc), file=sys.stderr)
        return 1
    for name, position in rebuilt:
        print(texts.REBUILT.format(name=name, position=position))
    return 0


def _copied(count: int) -> None:
    print(texts.PROGRESS.format(count=count), file=sys.stderr, flush=True)


async def _backup(args: argparse.Namespace, settings: Settings) -> int:
    with open(args.file, "w", encoding="utf-8") as out:  # noqa: ASYNC230 - a one-shot command
        counts = await bootstrap.backup_to(settings, out, _copied)
    for stream, count in counts.items():
        print(texts.BACKED_UP.format(stream=stream, count=count))
    return 0


async def _restore(args: argparse.Namespace, settings: Settings) -> int:
    with open(args.file, encoding="utf-8") as lines:  # noqa: ASYNC230 - a one-shot command
        try:
            counts = await bootstrap.restore_from(settings, lines, _copied)
        except RestoreRefused as refused:
            print(texts.RESTORE_REFUSED.format(stream=refused), file=sys.stderr)
            return 1
    for stream, count in counts.items():
        print(texts.BACKED_UP.format(stream=stream, count=count))
    return 0


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _moment_option(value: str | None) -> datetime | None:
    """An ISO 8601 time with offset (``ValueError`` otherwise)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


def _local(moment: datetime) -> str:
    return moment.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M")


async def _map(args: argparse.Namespace, settings: Settings) -> int:
    """The tension map at a moment in either kind of time, folded from the log."""
    from services.app.readmodels import Moment, replay  # only this command needs them

    moments: dict[str, datetime | None] = {}
    for option, value in (("--as-of", args.as_of), ("--as-known-at", args.as_known_at)):
        try:
            moments[option] = _moment_option(value)
        except ValueError:
            print(texts.MAP_BAD_TIME.format(option=option, value=value), file=sys.stderr)
            return 2
    as_of, known = moments["--as-of"], moments["--as-known-at"]
    projection = TensionMapProjection()
    try:
        async with bootstrap.infrastructure(settings) as infra:
            view_at = as_of or known or infra.clock.now()
            # Without either moment: the log as it is now, looked at now.
            moment = Moment(as_of=as_of, as_known_at=known or (None if as_of else view_at))
            state = await replay(infra.store, projection, moment)
    except EmbeddedNatsError as exc:
        print(texts.STORE_IN_USE.format(reason=exc), file=sys.stderr)
        return 1
    view = tension_view(state, view_at, projection.config, area=args.area, theme=args.theme)
    known_part = texts.MAP_KNOWN.format(known=_local(known)) if known else ""
    print(texts.MAP_HEADER.format(view=_local(view_at), known=known_part))
    if not view.cells:
        print(texts.MAP_EMPTY)
    for cell in view.cells:
        print(
            texts.MAP_ROW.format(
                area=cell.area,
                theme=labels.theme_label(cell.theme),
                score=cell.score,
                band=labels.band_label(cell.band),
                trend=labels.trend_label(cell.trend),
                slow=cell.slow,
                slow_trend=labels.trend_label(cell.slow_trend),
            )
        )
        if cell.watch:
            print(texts.MAP_WATCH.format(reporters=cell.slow_reporters, days=cell.slow_days))
    return 0


async def _token(args: argparse.Namespace, settings: Settings) -> int:
    if settings.oidc_issuer is not None:
        print(texts.ISSUE_EXTERNAL.format(issuer=settings.oidc_issuer), file=sys.stderr)
        return 2
    try:
        principal = principal_of(args.role, args.id)  # never the service's own
        ttl = parse_ttl(args.ttl)
    except (Forbidden, ValueError):
        print(texts.ISSUE_BAD_INPUT, file=sys.stderr)
        return 2
    token = bootstrap.local_issuer(settings).mint(principal, datetime.now(UTC), ttl)
    # A login: kept in the log (the audit trail belongs to the running service).
    log.info("token.issued", actor=principal.actor, ttl_s=int(ttl.total_seconds()))
    print(token)
    return 0


def parse_ttl(value: str) -> timedelta:
    """``8h``, ``30m``, ``2d``, ``90s``: at most 30 days."""
    match = TTL.fullmatch(value.strip())
    if match is None:
        raise ValueError(value)
    number, unit = int(match.group(1)), match.group(2)
    ttl = timedelta(seconds=number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])
    if not timedelta(0) < ttl <= timedelta(days=30):
        raise ValueError(value)
    return ttl


def matrix_table() -> str:
    """The role × action matrix as a Markdown table (the README's, generated)."""
    roles = [r.value for r in OUTSIDE_ROLES]
    lines = ["| action | " + " | ".join(roles) + " |", "|---|" + "---|" * len(roles)]
    for action, allowed in matrix_rows():
        marks = ["✓" if r in allowed else "" for r in roles]
        lines.append(f"| `{action}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


async def _matrix(args: argparse.Namespace, settings: Settings) -> int:
    print(matrix_table())
    return 0


async def _asyncapi(args: argparse.Namespace, settings: Settings) -> int:
    from services.entrypoints.nats.api import asyncapi_document

    print(asyncapi_document(settings))
    return 0


async def _nats_config(args: argparse.Namespace, settings: Settings) -> int:
    auth = ensure_authorization(
        settings.nats_dir, settings.subject_prefix, stream_prefix=settings.stream_prefix
    )
    users = ", ".join(u.name for u in auth.users)
    print(
        texts.NATS_CONFIG_DONE.format(
            config=auth.config_file, seed=auth.service_seed, users=users, name=AUTHORIZATION_FILE
        )
    )
    if reload_running_server(settings.nats_dir):
        print(texts.NATS_RELOADED)
    return 0


async def _nats_user(args: argparse.Namespace, settings: Settings) -> int:
    try:
        user = add_integration(
            settings.nats_dir,
            settings.subject_prefix,
            args.role,
            args.id,
            stream_prefix=settings.stream_prefix,
        )
    except AuthorizationError:
        print(texts.NATS_BAD_USER.format(id=args.id), file=sys.stderr)
        return 2
    inbox = inbox_prefix(args.role, args.id)
    subjects = command_subjects(settings.subject_prefix, args.role, args.id)
    print(
        texts.NATS_USER_DONE.format(
            role=args.role,
            id=args.id,
            seed_file=user.seed_file,
            public_key=user.public_key,
            subjects=subjects,
            queries=query_subjects(settings.subject_prefix, args.role, args.id),
            inbox=inbox,
        )
    )
    if args.print_seed:
        print(texts.NATS_USER_SEED.format(seed=user.seed_file.read_text().strip()))
    reloaded = reload_running_server(settings.nats_dir)
    print(texts.NATS_RELOADED if reloaded else texts.NATS_NOT_RUNNING)
    return 0


CLI_READER = principal_of("reviewer", "cli")
"""Whoever runs the CLI reads as a reviewer: allies by pseudonym, never their contact details
(the CLI has no login to tell who may see more)."""


async def _query(args: argparse.Namespace, settings: Settings) -> int:
    """A read of the query catalogue at a moment, replayed from the log, as JSON."""
    query_type = next(q for q in QUERIES if args.name == q.NAME)
    fields: dict[str, Any] = {"as_of": args.as_of, "as_known_at": args.as_known_at}
    for param in args.params:
        key, is_set, value = param.partition("=")
        if not is_set or not key:
            print(texts.QUERY_BAD_PARAM.format(param=param), file=sys.stderr)
            return 2
        known = query_type.model_fields.get(key)
        listed = known is not None and typing.get_origin(known.annotation) is list
        fields[key] = [v for v in value.split(",") if v] if listed else value
    try:
        query = query_type.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        for error in pydantic_errors(exc):
            print(
                texts.QUERY_REFUSED.format(field=error.field, message=error.message),
                file=sys.stderr,
            )
        return 2
    try:
        async with bootstrap.offline_queries(settings) as queries:
            result = await queries.answer(query, principal=CLI_READER, channel="cli")
    except EmbeddedNatsError as exc:
        print(texts.STORE_IN_USE.format(reason=exc), file=sys.stderr)
        return 1
    except Forbidden:
        print(texts.QUERY_FORBIDDEN.format(name=args.name), file=sys.stderr)
        return 2
    except DomainError as exc:
        print(texts.QUERY_REFUSED.format(field=exc.field, message=exc), file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(served(query, result), indent=2, ensure_ascii=False) + "\n")
    return 0


def _progress(read: int) -> None:
    """Events read so far, on stderr (stdout may be the report itself)."""
    print(texts.REVIEW_PROGRESS.format(read=read), file=sys.stderr, flush=True)


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    print(texts.REVIEW_WRITTEN.format(path=output), file=sys.stderr)


async def _review(args: argparse.Namespace, settings: Settings) -> int:
    from services.app.review_report import render_html, render_markdown

    try:
        async with bootstrap.reviews(settings) as reviews:
            found = await reviews.review(args.escalation_id, CLI_READER, _progress)
            now = reviews.clock.now()
    except EmbeddedNatsError as exc:
        print(texts.STORE_IN_USE.format(reason=exc), file=sys.stderr)
        return 1
    if found is None:
        print(texts.REVIEW_UNKNOWN.format(escalation_id=args.escalation_id), file=sys.stderr)
        return 1
    if args.format == "html":
        text = render_html(found, now)
    elif args.format == "markdown":
        text = render_markdown(found, now)
    else:
        text = found.model_dump_json(indent=2) + "\n"
    _write(text, args.output)
    return 0


def parse_moment(value: str) -> datetime:
    """An ISO 8601 time with its offset, or a date (midnight in Amsterdam, as people mean it)."""
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        day = datetime.fromisoformat(value.strip())
        return day.replace(tzinfo=ZoneInfo("Europe/Amsterdam"))
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        raise ValueError(value)
    return moment


async def _reviews(args: argparse.Namespace, settings: Settings) -> int:
    from services.app.review_report import summaries_csv

    try:
        start, end = parse_moment(args.start), parse_moment(args.end)
    except ValueError:
        print(texts.REVIEWS_BAD_PERIOD, file=sys.stderr)
        return 2
    try:
        async with bootstrap.reviews(settings) as reviews:
            rows = await reviews.period(start, end, _progress)
    except EmbeddedNatsError as exc:
        print(texts.STORE_IN_USE.format(reason=exc), file=sys.stderr)
        return 1
    if args.csv:
        text = summaries_csv(rows)
    else:
        text = json.dumps([r.model_dump(mode="json") for r in rows], indent=2) + "\n"
    _write(text, args.output)
    return 0


async def _cluster(args: argparse.Namespace, settings: Settings) -> int:
    """A three-node JetStream cluster on loopback until Ctrl-C, with the data directory's
    generated authorization (the service connects with its own seed, as to the embedded
    server). Without ``--dir`` its store is a temporary directory, removed on exit."""
    auth = ensure_authorization(
        settings.nats_dir, settings.subject_prefix, stream_prefix=settings.stream_prefix
    )
    with contextlib.ExitStack() as stack:
        if args.dir:
            base = Path(args.dir)
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bg-cluster-")))
        cluster = LoopbackCluster(base, authorization=auth.config_file)
        stack.callback(cluster.stop)  # also the nodes already started when a later one fails
        with _stop_signals() as stop:
            try:
                await asyncio.to_thread(cluster.start)
            except EmbeddedNatsError as exc:
                print(texts.CLUSTER_FAILED.format(reason=exc), file=sys.stderr)
                return 1
            print(texts.CLUSTER_READY.format(dir=base, url=cluster.url, seed=auth.service_seed))
            sys.stdout.flush()
            await stop.wait()
    print(texts.STOPPED, flush=True)
    return 0


Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bondgenoten", description=texts.DESCRIPTION)
    p.add_argument("--log-level", default=None, help=texts.LOG_LEVEL)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help=texts.RUN, description=texts.RUN)
    run.add_argument("--demo", action="store_true", help=texts.RUN_DEMO)
    run.set_defaults(handler=_run)
    pj = sub.add_parser("project", help=texts.PROJECT, description=texts.PROJECT)
    pj.set_defaults(handler=_project)
    rb = sub.add_parser("rebuild", help=texts.REBUILD, description=texts.REBUILD)
    names = ", ".join(p.name for p in PROJECTIONS)
    rb.add_argument("projection", nargs="*", help=texts.REBUILD_NAMES.format(names=names))
    rb.set_defaults(handler=_rebuild)
    bk = sub.add_parser("backup", help=texts.BACKUP, description=texts.BACKUP)
    bk.add_argument("file", help=texts.BACKUP_FILE)
    bk.set_defaults(handler=_backup)
    rs = sub.add_parser("restore", help=texts.RESTORE, description=texts.RESTORE)
    rs.add_argument("file", help=texts.BACKUP_FILE)
    rs.set_defaults(handler=_restore)
    mp = sub.add_parser("map", help=texts.MAP, description=texts.MAP)
    mp.add_argument("--as-of", default=None, help=texts.MAP_AS_OF)
    mp.add_argument("--as-known-at", default=None, help=texts.MAP_AS_KNOWN_AT)
    mp.add_argument("--area", default=None, help=texts.MAP_AREA)
    mp.add_argument("--theme", default=None, help=texts.MAP_THEME)
    mp.set_defaults(handler=_map)
    qu = sub.add_parser("query", help=texts.QUERY, description=texts.QUERY)
    reads = [q.NAME for q in QUERIES]
    qu.add_argument("name", choices=reads, help=texts.QUERY_NAME.format(names=", ".join(reads)))
    qu.add_argument("params", nargs="*", metavar="veld=waarde", help=texts.QUERY_PARAM)
    qu.add_argument("--as-of", default=None, help=texts.MAP_AS_OF)
    qu.add_argument("--as-known-at", default=None, help=texts.MAP_AS_KNOWN_AT)
    qu.set_defaults(handler=_query)
    tk = sub.add_parser("token", help=texts.ISSUE, description=texts.ISSUE)
    tk.add_argument("--role", required=True, help=texts.ISSUE_ROLE.format(roles=ROLES))
    tk.add_argument("--id", required=True, help=texts.ISSUE_ID)
    tk.add_argument("--ttl", default="8h", help=texts.ISSUE_TTL)
    tk.set_defaults(handler=_token)
    mx = sub.add_parser("matrix", help=texts.MATRIX, description=texts.MATRIX)
    mx.set_defaults(handler=_matrix)
    aa = sub.add_parser("asyncapi", help=texts.ASYNCAPI, description=texts.ASYNCAPI)
    aa.set_defaults(handler=_asyncapi)
    nc = sub.add_parser("nats-config", help=texts.NATS_CONFIG, description=texts.NATS_CONFIG)
    nc.set_defaults(handler=_nats_config)
    nu = sub.add_parser("nats-user", help=texts.NATS_USER, description=texts.NATS_USER)
    roles = ", ".join(OUTSIDE_ROLES)
    nu.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in OUTSIDE_ROLES],
        help=texts.NATS_USER_ROLE.format(roles=roles),
    )
    nu.add_argument("--id", required=True, help=texts.NATS_USER_ID)
    nu.add_argument("--print-seed", action="store_true", help=texts.NATS_USER_PRINT_SEED)
    nu.set_defaults(handler=_nats_user)
    rv = sub.add_parser("review", help=texts.REVIEW, description=texts.REVIEW)
    rv.add_argument("escalation_id", help=texts.REVIEW_ID)
    rv.add_argument(
        "--format", choices=["html", "markdown", "json"], default="html", help=texts.REVIEW_FORMAT
    )
    rv.add_argument("--output", default=None, help=texts.REVIEW_OUTPUT)
    rv.set_defaults(handler=_review)
    rs = sub.add_parser("reviews", help=texts.REVIEWS, description=texts.REVIEWS)
    rs.add_argument("--from", dest="start", required=True, help=texts.REVIEWS_FROM)
    rs.add_argument("--to", dest="end", required=True, help=texts.REVIEWS_TO)
    rs.add_argument("--csv", action="store_true", help=texts.REVIEWS_CSV)
    rs.add_argument("--output", default=None, help=texts.REVIEW_OUTPUT)
    rs.set_defaults(handler=_reviews)
    cl = sub.add_parser("cluster", help=texts.CLUSTER, description=texts.CLUSTER)
    cl.add_argument("--dir", default=None, help=texts.CLUSTER_DIR)
    cl.set_defaults(handler=_cluster)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            variable = f"BONDGENOTEN_{'_'.join(str(p) for p in error['loc']).upper()}"
            print(
                texts.BAD_SETTING.format(variable=variable, message=error["msg"]), file=sys.stderr
            )
        return 2
    configure_logging(args.log_level or settings.log_level)
    handler: Handler = args.handler
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(handler(args, settings))
    return 130


if __name__ == "__main__":
    sys.exit(main())
