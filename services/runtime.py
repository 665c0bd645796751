"""Run the service: infrastructure plus every long-running component, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import structlog
import uvicorn
from faststream.nats import NatsBroker

from events.signals import DEFAULT_THEMES, THEME_CODE
from services.adapters.clock import Clock
from services.adapters.jetstream.reactor import Reactor
from services.app.intake import SignalIntake
from services.app.links import RsvpLinks, rsvp_secret
from services.app.notifier import Notifier
from services.app.readmodels import ReadModels
from services.app.situation import area_name
from services.app.workflow import Workflow
from services.bootstrap import Infrastructure, infrastructure
from services.entrypoints.http.api import ApiDeps, create_api
from services.entrypoints.nats.api import create_broker
from services.settings import Settings
from services.wiring_tmp import channels, load_policies, reactors, start_reactors

log = structlog.get_logger(__name__)


class _Uvicorn(uvicorn.Server):
    """Leave SIGINT/SIGTERM to the service, which stops uvicorn in order with the rest."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


@dataclass
class Service:
    infra: Infrastructure
    read: ReadModels
    intake: SignalIntake
    workflow: Workflow
    notifier: Notifier
    reactors: list[Reactor]
    broker: NatsBroker
    http: _Uvicorn

    @property
    def http_url(self) -> str:
        cfg = self.http.config
        return f"http://{cfg.host}:{cfg.port}"


@contextlib.asynccontextmanager
async def running(
    settings: Settings, clock: Clock | None = None, *, projections_only: bool = False
) -> AsyncIterator[Service]:
    policies = load_policies(settings)  # fail before starting anything if the policy is wrong
    async with (
        infrastructure(settings, clock) as infra,
        channels(settings) as channel_map,
        asyncio.TaskGroup() as tasks,
    ):
        read = ReadModels(infra.store, infra.clock)
        loops = await read.start(tasks)
        themes = theme_vocabulary(settings)
        intake = SignalIntake(infra.store, infra.clock, lambda: themes, read.known_network)
        workflow = Workflow(infra.store, infra.clock, read, policies)
        http_url = f"http://{settings.http_host}:{settings.http_port}"
        public_url = settings.public_url or http_url
        secret = await rsvp_secret(infra.store.js, infra.topology, settings.rsvp_secret)
        links = RsvpLinks(secret, public_url)
        notifier = Notifier(
            infra.store,
            infra.clock,
            channel_map,
            policies,
            api_url=f"{public_url}/api/v1",
            allies=read.ally_personal,
            convenings=read.convening,
            area_name=lambda area: area_name(read, area),
            rsvp_link=links.url,
            caught_up=lambda position: read.escalations.wait_for(position, timeout=10),
        )
        broker = create_broker(infra.nats_url, infra.topology, intake, workflow)
        api = create_api(ApiDeps(infra.store, infra.clock, intake, read, themes, workflow, links))
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
        all_reactors = [] if projections_only else reactors(infra, workflow, notifier)
        service = Service(infra, read, intake, workflow, notifier, all_reactors, broker, http)
        http_task: asyncio.Task[None] | None = None
        try:
            if not projections_only:
                if not await read.catch_up():
                    log.warning("projections.lagging", note="reactors retry until caught up")
                loops += await start_reactors(tasks, all_reactors)
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
            for task in loops:  # stop the long-running loops; the group then exits
                task.cancel()


def theme_vocabulary(settings: Settings) -> frozenset[str]:
    """The default themes plus the deployment's own; a malformed code stops the start."""
    bad = [t for t in settings.extra_themes if not THEME_CODE.match(t)]
    if bad:
        raise ValueError(f"BONDGENOTEN_THEMES: not a theme code {bad} (a-z, 0-9, _; 2-40)")
    return frozenset(DEFAULT_THEMES) | frozenset(settings.extra_themes)


async def run_service(settings: Settings, *, demo: bool, until: Awaitable[None]) -> None:
    async with running(settings) as service:
        log.info(
            "service.ready",
            nats=service.infra.nats_url,
            http=service.http_url,
            embedded=service.infra.embedded is not None,
        )
        print(
            f"Bondgenoten escalation service\n"
            f"  NATS      {service.infra.nats_url}\n"
            f"  HTTP API  {service.http_url}/api/v1  (OpenAPI: /api/v1/openapi.json,"
            f" docs: /api/v1/docs)",
            flush=True,
        )
        if demo:
            from services.demo.story import play_demo

            await play_demo(service)
        await until
    log.info("service.stopped")


async def run_projections(settings: Settings, *, until: Awaitable[None]) -> None:
    async with running(settings, projections_only=True) as service:
        log.info("projections.ready", nats=service.infra.nats_url)
        await until


async def rebuild(settings: Settings, names: list[str] | None) -> None:
    """Rebuild projections from the log (run while the service is stopped)."""
    async with infrastructure(settings) as infra:
        read = ReadModels(infra.store, infra.clock)
        for runner in read.runners:
            if names and runner.projection.name not in names:
                continue
            await runner.rebuild()
            print(f"rebuilt {runner.projection.name} up to position {runner.checkpoint}")
