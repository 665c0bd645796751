"""Wire the workflow, the timers and the notifier to their durable consumers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import httpx

from domain.policy import EscalationPolicy, parse_policies
from services.bootstrap import Infrastructure
from services.notifier import Notifier
from services.notify.channels import (
    CapChannel,
    Channel,
    ConsoleChannel,
    EmailChannel,
    WebhookChannel,
)
from services.reactor import Reactor
from services.readmodels import ReadModels
from services.settings import Settings
from services.workflow import Workflow


def load_policies(settings: Settings) -> dict[str, EscalationPolicy]:
    return parse_policies(settings.escalation_policy.read_text(encoding="utf-8"))


@contextlib.asynccontextmanager
async def channels(settings: Settings) -> AsyncIterator[Mapping[str, Channel]]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        found: dict[str, Channel] = {
            "webhook": WebhookChannel(client),
            "cap": CapChannel(
                client,
                sender=settings.cap_sender,
                status=settings.cap_status,  # type: ignore[arg-type]
            ),
            "console": ConsoleChannel(),
        }
        if settings.smtp_host:
            found["email"] = EmailChannel(
                settings.smtp_host, settings.smtp_port, settings.smtp_sender
            )
        yield found


def reactors(
    infra: Infrastructure,
    read: ReadModels,
    workflow: Workflow,
    notifier: Notifier,
) -> list[Reactor]:
    t = infra.topology
    js = infra.store.js
    return [
        Reactor(
            js,
            t,
            name="workflow_signals",
            stream=t.events_stream,
            filter_subjects=[t.kind_filter("signal")],
            handle=workflow.on_signal,
        ),
        Reactor(
            js,
            t,
            name="workflow_timers_out",
            stream=t.events_stream,
            filter_subjects=[t.kind_filter("escalation")],
            handle=workflow.on_escalation_event,
        ),
        Reactor(
            js,
            t,
            name="workflow_timers_in",
            stream=t.timers_stream,
            filter_subjects=[f"{t.subject_prefix}.timer.fired.>"],
            handle=workflow.on_timer,
        ),
        Reactor(
            js,
            t,
            name="notifier",
            stream=t.events_stream,
            filter_subjects=[t.kind_filter("escalation")],
            handle=notifier.on_event,
            concurrency=8,
        ),
    ]


async def start_reactors(group: asyncio.TaskGroup, all_: list[Reactor]) -> list[asyncio.Task[None]]:
    tasks = []
    for reactor in all_:
        ready = asyncio.Event()
        tasks.append(group.create_task(reactor.run(ready), name=f"reactor:{reactor.name}"))
        await ready.wait()
    return tasks
