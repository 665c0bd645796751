"""The composition root (Cosmic Python's bootstrap): the one place that picks adapters, builds
the use cases on them and starts the entry points, in order, and stops them in reverse.

Nothing else decides which NATS server, store, clock or channel is used: use cases receive
ports, entry points receive use cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import nats
import structlog
import uvicorn
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from domain.access import Principal, principal_of
from domain.policy import EscalationPolicy, parse_policies
from events.signals import DEFAULT_THEMES, SIGNAL_KIND, URGENT_KIND
from projections.base import Projection
from services.adapters.cap_in import parse_cap
from services.adapters.clock import SystemClock
from services.adapters.identity.local import LocalIssuer
from services.adapters.identity.oidc import (
    ClaimMapping,
    JwksUrl,
    KeySource,
    OidcAuthenticator,
    StaticJwks,
)
from services.adapters.jetstream.audit import JetStreamAuditTrail
from services.adapters.jetstream.authorization import ensure_authorization
from services.adapters.jetstream.backup import backup, restore
from services.adapters.jetstream.embedded import EmbeddedNats
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.keystore import NatsKeyStore, master_key
from services.adapters.jetstream.lease import Lease
from services.adapters.jetstream.outbound import JetStreamOutbound
from services.adapters.jetstream.projection_runner import ProjectionRunner
from services.adapters.jetstream.reactor import Handler, Reactor
from services.adapters.jetstream.rejected import JetStreamRejectedInputs
from services.adapters.jetstream.scheduler import JetStreamScheduler
from services.adapters.jetstream.secrets import secrets_bucket, shared_secret
from services.adapters.jetstream.topology import OUTBOUND_KEPT_S, Topology, ensure_streams
from services.adapters.metrics import ServiceMetrics, Watched
from services.adapters.notify.channels import (
    CapChannel,
    ConsoleChannel,
    EmailChannel,
    WebhookChannel,
)
from services.adapters.notify.feed import WebhookFeed
from services.adapters.tracing import configure as configure_tracing
from services.app.audit import Recorder
from services.app.digest import NetworkDigest
from services.app.handlers import CommandHandlers
from services.app.links import (
    ACK_VALID,
    PULSE_VALID_AFTER_DEADLINE,
    ack_links,
    mobilisation_links,
    pulse_links,
    rsvp_expiry,
    rsvp_links,
)
from services.app.need_to_know import Pseudonyms
from services.app.notifier import Notifier
from services.app.outbound import Outbound
from services.app.outreach import (
    QUESTION_TIMER,
    OutreachCommands,
    OutreachNotifier,
    QuestionTimers,
    ally_recipient,
)
from services.app.personal import Keyring
from services.app.ports import Channel, Clock
from services.app.queries import QueryHandlers
from services.app.readmodels import ReadModels, projections
from services.app.review import Reviews
from services.app.situation import area_name
from services.app.workflow import Workflow
from services.entrypoints.http.app import ApiDeps, create_api
from services.entrypoints.http.auth import Auth
from services.entrypoints.http.dashboard import DashboardConfig
from services.entrypoints.nats.api import create_broker
from services.settings import Settings

log = structlog.get_logger(__name__)


# ---------------------------------------------------------------- infrastructure


@dataclass
class NatsErrors:
    """nats-py's ``error_cb``: permission denials (and async publish errors) arrive only here,
    never as exceptions. Each is logged and counted, so a wrong server configuration shows."""

    counts: Counter[str] = field(default_factory=Counter)

    async def record(self, exc: Exception) -> None:
        """The ``error_cb`` (nats-py wants a coroutine function, not a callable object)."""
        denied = "permissions violation" in str(exc).lower()
        kind = "permission_denied" if denied else type(exc).__name__
        self.counts[kind] += 1
        error = f"{type(exc).__name__}: {exc}"
        log.warning("nats.error", kind=kind, error=error, total=self.counts[kind])

    @property
    def permission_denials(self) -> int:
        return self.counts["permission_denied"]


def credentials(settings: Settings) -> dict[str, Any]:
    """nats-py connect options for the service's own credential (with ``NATS_URL``)."""
    if settings.nats_creds is not None:
        return {"user_credentials": str(settings.nats_creds)}
    if settings.nats_seed_file is not None:
        return {"nkeys_seed": str(settings.nats_seed_file)}
    return {}


async def connect(
    url: str,
    name: str = "bondgenoten",
    errors: NatsErrors | None = None,
    **credential: Any,
) -> NatsClient:
    return await nats.connect(
        servers=url.split(","),
        name=name,
        error_cb=(errors or NatsErrors()).record,
        **credential,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        drain_timeout=5,  # on exit; the default 30 s only delays a stop
    )


@dataclass
class Infrastructure:
    settings: Settings
    nats_url: str
    nc: NatsClient
    js: JetStreamContext
    topology: Topology
    store: JetStreamEventStore
    clock: Clock
    embedded: EmbeddedNats | None
    keys: Keyring
    credential: dict[str, Any] = field(default_factory=dict)
    """nats-py options carrying the service's credential (for its other connections)."""
    errors: NatsErrors = field(default_factory=NatsErrors)

    def lease(self, reactor: str) -> Lease:
        """One instance at a time runs each reactor (in log order); the others stand by."""
        t = self.topology
        return Lease(self.js, t.leases_bucket, reactor, self.settings.instance, t.replicas)

    def runner(self, projection: Projection[Any]) -> ProjectionRunner[Any]:
        return ProjectionRunner(
            self.js,
            self.topology,
            self.store,
            projection,
            self.keys,
            instance=self.settings.instance,
        )


@contextlib.asynccontextmanager
async def infrastructure(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[Infrastructure]:
    embedded: EmbeddedNats | None = None
    url = settings.nats_url
    credential = credentials(settings)
    if url is None:
        # Generated authorization: only the service's nkey and the integrations' connect.
        auth = ensure_authorization(
            settings.nats_dir, settings.subject_prefix, stream_prefix=settings.stream_prefix
        )
        embedded = EmbeddedNats(
            settings.nats_dir, port=settings.nats_port, authorization=auth.config_file
        ).start()
        url = embedded.url
        credential = {"nkeys_seed": str(auth.service_seed)}
    elif not credential:
        log.warning("nats.no_credential", note="set BONDGENOTEN_NATS_SEED_FILE or _NATS_CREDS")
    errors = NatsErrors()
    try:
        nc = await connect(url, errors=errors, **credential)
        store: JetStreamEventStore | None = None
        try:
            retention = settings.signal_retention_days
            topology = Topology(
                settings.stream_prefix,
                settings.subject_prefix,
                settings.duplicate_window_s,
                signal_ttl_s=retention * 86_400 if retention else None,
                replicas=settings.replicas or (3 if nc._server_info.get("cluster") else 1),
            )
            js = nc.jetstream()
            await ensure_streams(js, topology)
            master = master_key(settings.master_key, settings.data_dir)
            keys = Keyring(
                NatsKeyStore(js, topology.keys_bucket, master, replicas=topology.replicas)
            )
            store = JetStreamEventStore(nc, topology, keys=keys)
            yield Infrastructure(
                settings=settings,
                nats_url=url,
                nc=nc,
                js=js,
                topology=topology,
                store=store,
                clock=clock or SystemClock(),
                embedded=embedded,
                keys=keys,
                credential=credential,
                errors=errors,
            )
        finally:
            if store is not None:
                with contextlib.suppress(Exception):
                    await store.close()
            with contextlib.suppress(Exception):
                await nc.drain()
    finally:
        if embedded is not None:
            embedded.stop()


@contextlib.asynccontextmanager
async def audit_trail(infra: Infrastructure) -> AsyncIterator[JetStreamAuditTrail]:
    """The audit trail; on the way out, after everything that records in it has stopped and
    before the connection drains, the entries still awaiting their acknowledgement are waited
    for."""
    trail = JetStreamAuditTrail(infra.nc, infra.topology)
    try:
        yield trail
    finally:
        await trail.close()


def load_policies(settings: Settings) -> dict[str, EscalationPolicy]:
    return parse_policies(settings.escalation_policy.read_text(encoding="utf-8"))


def theme_vocabulary(settings: Settings) -> frozenset[str]:
    """The default themes plus the deployment's own."""
    return frozenset(DEFAULT_THEMES) | frozenset(settings.extra_themes)


@contextlib.asynccontextmanager
async def channels(settings: Settings) -> AsyncIterator[Mapping[str, Channel]]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        found: dict[str, Channel] = {
            "webhook": WebhookChannel(client),
            "cap": CapChannel(client, sender=settings.cap_sender, status=settings.cap_status),
            "console": ConsoleChannel(),
        }
        if settings.smtp_host:
            found["email"] = EmailChannel(
                settings.smtp_host, settings.smtp_port, settings.smtp_sender
            )
        yield found


URGENT_AT_ONCE = 16
"""Major-incident signals decided at once by the urgent workflow reactor."""


def reactors(infra: Infrastructure, workflow: Workflow, notifier: Notifier) -> list[Reactor]:
    t = infra.topology

    def reactor(name: str, stream: str, subjects: str, handle: Handler, **kw: Any) -> Reactor:
        return Reactor(
            infra.js,
            t,
            name=name,
            stream=stream,
            filter_subjects=[subjects],
            handle=handle,
            keys=infra.keys,
            lease=infra.lease(name),
            **kw,
        )

    escalations = t.kind_filter("escalation")
    fired = t.timer_fired_subject(">")
    routine, urgent = t.kind_filter(SIGNAL_KIND), t.kind_filter(URGENT_KIND)
    return [
        reactor("workflow_signals", t.events_stream, routine, workflow.on_signal),
        # The urgent lane: major-incident signals on a consumer of their own, never behind a
        # backlog of routine signals.
        # Side by side across areas, in order within one (subject: …ev.urgent.<gm>.<area>.<id>):
        # one slow decision must not hold up the next area's alert.
        reactor(
            "workflow_urgent",
            t.events_stream,
            urgent,
            workflow.on_urgent,
            concurrency=URGENT_AT_ONCE,
            order_key=lambda subject: subject.rsplit(".", 1)[0],
        ),
        reactor("workflow_timers_out", t.events_stream, escalations, workflow.on_escalation_event),
        reactor("workflow_timers_in", t.timers_stream, fired, workflow.on_timer),
        # Deliveries wait on slow receivers with backoff: many at once, each idempotent (8 fell
        # behind 10 alerts a second under load: each escalation event takes a slot in turn).
        reactor("notifier", t.events_stream, escalations, notifier.on_event, concurrency=32),
    ]


def outbound_reactors(infra: Infrastructure, client: httpx.AsyncClient) -> list[Reactor]:
    """Escalation events onto the outbound subjects (from the log), and from there into each
    configured webhook feed (one durable consumer per subscription)."""
    t = infra.topology
    outbound = Outbound(
        JetStreamOutbound(infra.js, t), infra.clock, timedelta(seconds=OUTBOUND_KEPT_S)
    )
    found = [
        Reactor(
            infra.js,
            t,
            name="outbound",
            stream=t.events_stream,
            filter_subjects=[t.kind_filter("escalation")],
            handle=outbound.on_event,
            keys=infra.keys,
            lease=infra.lease("outbound"),
        )
    ]
    for feed in infra.settings.outbound_webhooks:
        found.append(
            Reactor(
                infra.js,
                t,
                name=f"outbound_webhook_{feed.name}",
                stream=t.outbound_stream,
                filter_subjects=[f"{t.subject_prefix}.out.{feed.subjects}"],
                handle=WebhookFeed(client, feed.url, feed.secret).deliver,
                lease=infra.lease(f"outbound_webhook_{feed.name}"),
            )
        )
    return found


def outreach_reactors(
    infra: Infrastructure, timers: QuestionTimers, notifier: OutreachNotifier
) -> list[Reactor]:
    """Question timers armed from the question events; pulse questions, mobilisation requests
    and escalated questions sent from theirs."""
    t = infra.topology
    kinds = [t.kind_filter(k) for k in ("pulse", "mobilisation", "question")]
    return [
        Reactor(
            infra.js,
            t,
            name="question_timers_out",
            stream=t.events_stream,
            filter_subjects=[t.kind_filter("question")],
            handle=timers.on_question_event,
            keys=infra.keys,
            lease=infra.lease("question_timers_out"),
        ),
        Reactor(
            infra.js,
            t,
            name="outreach_notifier",
            stream=t.events_stream,
            filter_subjects=kinds,
            handle=notifier.on_event,
            keys=infra.keys,
            lease=infra.lease("outreach_notifier"),
            concurrency=4,
        ),
    ]


def local_issuer(settings: Settings) -> LocalIssuer:
    """The built-in issuer (its key in the data directory): the same for the service and the
    CLI, so tokens the CLI issues are valid for the service."""
    return LocalIssuer(settings.data_dir, settings.local_issuer, settings.oidc_audience)


def dashboard_config(settings: Settings, issuer: LocalIssuer | None) -> DashboardConfig:
    """The dashboard's map layers (read once, at start: a wrong file stops the start) and
    its demo login, only where allowed and only with the built-in issuer."""
    layers = [geojson(path) for path in (settings.map_outlines, settings.map_areas)]
    demo = issuer.mint if settings.demo_login and issuer is not None else None
    return DashboardConfig(outlines=layers[0], areas=layers[1], demo_login=demo)


def geojson(path: Path) -> dict[str, Any]:
    collection = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ValueError(f"{path} is not a GeoJSON FeatureCollection")
    return collection


def identity(settings: Settings) -> tuple[OidcAuthenticator, LocalIssuer | None]:
    """Who may call the API: the configured OIDC issuer, else the built-in one, validated
    through the same :class:`OidcAuthenticator` (only the key source differs)."""
    local: LocalIssuer | None = None
    keys: KeySource
    if settings.oidc_issuer is not None and settings.oidc_jwks_url is not None:
        issuer, keys = settings.oidc_issuer, JwksUrl(settings.oidc_jwks_url)
    else:
        local = local_issuer(settings)
        issuer, keys = local.issuer, StaticJwks(local.jwks())
    authenticator = OidcAuthenticator(
        keys,
        issuer=issuer,
        audience=settings.oidc_audience,
        mapping=ClaimMapping(settings.oidc_roles_claim, settings.oidc_id_claim),
        leeway_s=settings.oidc_leeway_s,
    )
    return authenticator, local


# ---------------------------------------------------------------- the running service


class _Uvicorn(uvicorn.Server):
    """Leave SIGINT/SIGTERM to the service, which stops uvicorn in order with the rest."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


@dataclass
class Service:
    infra: Infrastructure
    read: ReadModels
    handlers: CommandHandlers
    workflow: Workflow
    notifier: Notifier
    reactors: list[Reactor]
    broker: NatsBroker
    http: _Uvicorn
    audit: Recorder
    issuer: LocalIssuer | None = None
    runners: list[ProjectionRunner[Any]] = field(default_factory=list)
    operations: ServiceMetrics | None = None

    @property
    def http_url(self) -> str:
        cfg = self.http.config
        return f"http://{cfg.host}:{cfg.port}"

    async def mint(self, principal: Principal, ttl: timedelta, origin: str = "cli") -> str:
        """A token of the built-in issuer for ``principal`` (a login: kept in the audit
        trail). Only without an external identity provider."""
        if self.issuer is None:
            raise RuntimeError("an external identity provider issues tokens here")
        token = self.issuer.mint(principal, self.infra.clock.now(), ttl)
        await self.audit.record(
            principal.actor, "token.issue", "issuer:local", "ok", channel=origin
        )
        return token

    async def token_for(self, actor: str, *, ttl: timedelta, origin: str = "cli") -> str:
        """:meth:`mint` for an actor written ``role:id`` (the demo's credentials); never the
        service's own (``Forbidden``)."""
        role, _, id_ = actor.partition(":")
        return await self.mint(principal_of(role, id_), ttl, origin)


async def _start(group: asyncio.TaskGroup, loops: list[Any], name: str) -> list[asyncio.Task[None]]:
    """Start long-running loops one by one, each ready (consumer bound) before the next."""
    tasks = []
    for loop in loops:
        ready = asyncio.Event()
        tasks.append(group.create_task(loop.run(ready), name=f"{name}:{loop.name}"))
        await ready.wait()
    return tasks


@contextlib.asynccontextmanager
async def running(
    settings: Settings, clock: Clock | None = None, *, projections_only: bool = False
) -> AsyncIterator[Service]:
    tracing = configure_tracing(settings.otlp_endpoint, settings.instance)
    policies = load_policies(settings)  # fail before starting anything if the policy is wrong
    async with infrastructure(settings, clock) as infra:
        await _alone_on([infra.runner(projection) for projection in projections(infra.keys)])
        try:
            async with _running(infra, policies, projections_only) as service:
                yield service
        finally:
            if tracing is not None:
                tracing.shutdown()  # the last spans out


@contextlib.asynccontextmanager
async def _running(
    infra: Infrastructure, policies: dict[str, EscalationPolicy], projections_only: bool
) -> AsyncIterator[Service]:
    settings = infra.settings
    async with (
        audit_trail(infra) as trail,  # closed after the task group below has finished
        channels(settings) as channel_map,
        httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0)) as feed_client,
        asyncio.TaskGroup() as tasks,
    ):
        runners: list[ProjectionRunner[Any]] = []

        def feed(projection: Projection[Any]) -> ProjectionRunner[Any]:
            runners.append(infra.runner(projection))
            return runners[-1]

        read = ReadModels(infra.store, infra.clock, feed, infra.keys)
        loops = await _start(tasks, runners, "projection")
        themes = theme_vocabulary(settings)
        rejected = JetStreamRejectedInputs(infra.js, infra.topology, infra.clock)
        audit = Recorder(trail, infra.clock)
        handlers = CommandHandlers(
            infra.store, infra.clock, read, policies, themes, infra.keys, audit
        )
        scheduler = JetStreamScheduler(infra.js, infra.topology)
        workflow = Workflow(handlers, infra.clock, read, policies, scheduler)
        handlers.register(
            OutreachCommands(
                infra.store,
                infra.clock,
                read,
                timedelta(seconds=settings.question_escalate_after_s),
            ).table()
        )
        question_timers = QuestionTimers(handlers, scheduler, policies)
        workflow.other_timers[QUESTION_TIMER] = question_timers.on_timer
        public_url = settings.public_url or settings.http_url
        secret = (settings.rsvp_secret or "").encode() or await shared_secret(
            infra.js, infra.topology, "rsvp"
        )
        rsvp, ack = rsvp_links(secret, public_url), ack_links(secret, public_url)
        pulse, mobilise = pulse_links(secret, public_url), mobilisation_links(secret, public_url)
        clock = infra.clock

        def rsvp_url(convening_id: str, ally_id: str) -> str | None:
            meeting = read.convening(convening_id)
            starts = meeting.starts_at if meeting is not None else None
            return rsvp.issue(convening_id, ally_id, rsvp_expiry(starts, clock.now()))

        def ack_url(escalation_id: str, recipient: str) -> str | None:
            return ack.issue(escalation_id, recipient, clock.now() + ACK_VALID)

        pseudonyms = await pseudonyms_of(infra)
        authenticator, local_issuer = identity(settings)
        auth = Auth(authenticator, audit, infra.clock)
        notifier = Notifier(
            infra.store,
            infra.clock,
            channel_map,
            policies,
            ack_link=ack_url,
            allies=read.ally_personal,
            convenings=read.convening,
            area_name=lambda area: area_name(read, area),
            rsvp_link=rsvp_url,
            caught_up=lambda position: read.escalations.wait_for(position, timeout=10),
        )
        outreach_notifier = OutreachNotifier(
            infra.store,
            infra.clock,
            channel_map,
            policies,
            ally_recipient(read.ally_personal, policies),
            area_name=lambda area: area_name(read, area),
            pulse_link=lambda p, a, due: pulse.issue(p, a, due + PULSE_VALID_AFTER_DEADLINE),
            mobilisation_link=lambda r, a, due: mobilise.issue(r, a, due + timedelta(days=1)),
            deployment=lambda: notifier.deployment,
        )
        queries = QueryHandlers(read, audit, pseudonyms)
        broker = create_broker(
            infra.nats_url,
            settings.subject_prefix,
            handlers,
            rejected,
            queries,
            error_cb=infra.errors.record,
            **infra.credential,
        )
        issuer_docs = (
            {
                "jwks": local_issuer.jwks(),
                "openid_configuration": local_issuer.openid_configuration(),
            }
            if local_issuer is not None
            else None
        )
        all_reactors = [] if projections_only else reactors(infra, workflow, notifier)
        if not projections_only:
            all_reactors += outbound_reactors(infra, feed_client)
            all_reactors += outreach_reactors(infra, question_timers, outreach_notifier)
        # The weekly network digest: its timers fire on the workflow's timer consumer (one
        # more consumer would slow every start); it sends through the notifier's channels.
        digest = NetworkDigest(
            infra.store,
            infra.clock,
            channel_map,
            policies,
            scheduler,
            read.network_health,
            caught_up=read.catch_up,
            slow_burns=read.slow_burns,
            deployment=lambda: notifier.deployment,
        )
        workflow.digest_timers = digest.on_timer
        metrics = ServiceMetrics(
            Watched(
                infra.nc,
                infra.js,
                infra.topology,
                handlers,
                notifier,
                rejected,
                runners,
                all_reactors,
            )
        )
        dashboard = dashboard_config(settings, local_issuer)
        api = create_api(
            ApiDeps(
                handlers,
                read,
                rejected,
                policies,
                themes,
                rsvp,
                ack,
                auth,
                pseudonyms,
                queries,
                issuer_docs,
                cap_parser=parse_cap,
                operations=metrics,
                pulse_links=pulse,
                mobilisation_links=mobilise,
                reviews=Reviews(infra.store, read, infra.clock, pseudonyms),
                dashboard=dashboard,
            )
        )
        http = _Uvicorn(
            uvicorn.Config(
                api,
                host=settings.http_host,
                port=settings.http_port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        dashboard.stopping = lambda: http.should_exit  # live streams end, so uvicorn can stop
        service = Service(
            infra,
            read,
            handlers,
            workflow,
            notifier,
            all_reactors,
            broker,
            http,
            audit,
            local_issuer,
            runners,
            metrics,
        )
        http_task: asyncio.Task[None] | None = None
        try:
            if not projections_only:
                if not await read.catch_up():
                    log.warning("projections.lagging", note="reactors retry until caught up")
                loops += await _start(tasks, all_reactors, "reactor")
                await digest.arm()
                await broker.start()
                http_task = tasks.create_task(http.serve(), name="http")
                while not http.started:  # uvicorn exposes a flag, not an event
                    if http_task.done():
                        break  # it failed to start (port taken): the group raises its error
                    await asyncio.sleep(0.01)
            yield service
        finally:
            if http_task is not None:
                # Let uvicorn finish its requests and close its socket, so a restart can bind.
                http.should_exit = True
                await asyncio.wait({http_task}, timeout=5)
                loops.append(http_task)
            await broker.stop()
            for reactor in all_reactors:
                reactor.stop()
            for runner in runners:
                runner.stop()
            for task in loops:  # stop the long-running loops; the group then exits
                task.cancel()
            # A cancel can be lost (nats-py waits in asyncio.wait_for, which on Python 3.11
            # swallows one that lands as a message arrives): ask again until all have ended.
            while running := [task for task in loops if not task.done()]:
                await asyncio.wait(running, timeout=0.5)
                for task in running:
                    task.cancel()


async def _alone_on(runners: list[ProjectionRunner[Any]]) -> None:
    """Two instances on one projection consumer would each fold half of the log: refuse to
    start while another reads it. A killed predecessor's pull requests expire within a second
    (the fetch timeout), so a consumer still busy is asked again for a few seconds first."""
    busy: list[ProjectionRunner[Any]] = []
    for _ in range(ALONE_CHECKS):
        busy = [runner for runner in runners if await runner.in_use()]
        if not busy:
            return
        await asyncio.sleep(0.25)
    raise StillRunning(busy[0].consumer_name)


ALONE_CHECKS = 12
"""How often (every quarter second) a busy projection consumer is asked before refusing."""


class StillRunning(RuntimeError):
    """A rebuild was asked while a service still reads the projection, or a second instance
    started without its own ``BONDGENOTEN_INSTANCE``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"projection {name} is being consumed")
        self.name = name


async def rebuild(settings: Settings, names: list[str] | None) -> list[tuple[str, int]]:
    """Fold the log again into the named projections (all by default); the service must be
    stopped. Returns each rebuilt projection's name and the position it reached."""
    async with infrastructure(settings) as infra:
        chosen = [p for p in projections(infra.keys) if not names or p.name in names]
        runners = [infra.runner(p) for p in chosen]
        for runner in runners:
            if await runner.in_use():
                raise StillRunning(runner.name)
        # Independent folds of one log: read and folded side by side, so a rebuild takes
        # about as long as its largest projection (the reads overlap with the folding).
        await asyncio.gather(*(runner.rebuild() for runner in runners))
        return [(runner.name, runner.checkpoint) for runner in runners]


async def backup_to(
    settings: Settings, out: IO[str], progress: Callable[[int], None]
) -> dict[str, int]:
    """Write what the service keeps in NATS to ``out`` (see ``adapters.jetstream.backup``)."""
    async with infrastructure(settings) as infra:
        return await backup(infra.js, infra.topology, out, progress)


async def restore_from(
    settings: Settings, lines: Iterable[str], progress: Callable[[int], None]
) -> dict[str, int]:
    """Publish a backup into a fresh server (an empty log); rebuild the projections after."""
    async with infrastructure(settings) as infra:

        async def prepare() -> None:
            t = infra.topology
            master = master_key(settings.master_key, settings.data_dir)
            await NatsKeyStore(infra.js, t.keys_bucket, master, replicas=t.replicas).ensure()
            await secrets_bucket(infra.js, t)

        return await restore(infra.js, infra.topology, lines, prepare, progress)


async def pseudonyms_of(infra: Infrastructure) -> Pseudonyms:
    """The deployment's pseudonyms: from the configured secret, else the shared one in the
    secrets bucket, so the service, its CLI reports and its reads agree on every pseudonym."""
    secret = (infra.settings.pseudonym_secret or "").encode()
    return Pseudonyms(secret or await shared_secret(infra.js, infra.topology, "pseudonym"))


@contextlib.asynccontextmanager
async def offline_queries(settings: Settings) -> AsyncIterator[QueryHandlers]:
    """The reads of the query catalogue over the log alone (the CLI): nothing kept live, every
    read replays the log at its moment (now, without one); audited, with the running
    service's pseudonyms."""
    async with infrastructure(settings) as infra, audit_trail(infra) as trail:
        read = ReadModels(infra.store, infra.clock, None, infra.keys)
        yield QueryHandlers(read, Recorder(trail, infra.clock), await pseudonyms_of(infra))


@contextlib.asynccontextmanager
async def reviews(settings: Settings) -> AsyncIterator[Reviews]:
    """The after-action review over the log alone (the CLI): no projection, no reactor; the
    multi-incident view finds its escalations on their own subjects. The pseudonyms are the
    running service's (its shared secret), so a CLI report and an API report agree."""
    async with infrastructure(settings) as infra:
        yield Reviews(infra.store, None, infra.clock, await pseudonyms_of(infra))
