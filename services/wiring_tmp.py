"""Wire the workflow, the timers and the notifier to their durable consumers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from domain.policy import EscalationPolicy, parse_policies
from services.adapters.jetstream.reactor import Handler, Reactor
from services.adapters.notify.channels import (
    CapChannel,
    Channel,
    ConsoleChannel,
    EmailChannel,
    WebhookChannel,
)
from services.app.notifier import Notifier
from services.app.workflow import Workflow
from services.bootstrap import Infrastructure
from services.settings import Settings


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


def reactors(infra: Infrastructure, workflow: Workflow, notifier: Notifier) -> list[Reactor]:
    t = infra.topology

    def reactor(name: str, stream: str, subjects: str, handle: Handler, **kw: Any) -> Reactor:
        return Reactor(
            infra.store.js, t, name=name, stream=stream, filter_subjects=[subjects],
            handle=handle, **kw,
        )  # fmt: skip

    escalations = t.kind_filter("escalation")
    fired = f"{t.subject_prefix}.timer.fired.>"
    return [
        reactor("workflow_signals", t.events_stream, t.kind_filter("signal"), workflow.on_signal),
        reactor("workflow_timers_out", t.events_stream, escalations, workflow.on_escalation_event),
        reactor("workflow_timers_in", t.timers_stream, fired, workflow.on_timer),
        # Deliveries wait on slow receivers with backoff: several at once, each idempotent.
        reactor("notifier", t.events_stream, escalations, notifier.on_event, concurrency=8),
    ]


async def start_reactors(group: asyncio.TaskGroup, all_: list[Reactor]) -> list[asyncio.Task[None]]:
    tasks = []
    for reactor in all_:
        ready = asyncio.Event()
        tasks.append(group.create_task(reactor.run(ready), name=f"reactor:{reactor.name}"))
        await ready.wait()
    return tasks
