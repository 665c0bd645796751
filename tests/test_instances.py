"""Two instances against one NATS: requests are shared (each answered once), each instance keeps
its own read models from its own projection consumers, and a second instance without a name of
its own is refused instead of folding half of the log."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from domain.access import Principal, Role
from services.adapters.jetstream.embedded import free_port
from services.bootstrap import StillRunning
from services.entrypoints.nats.api import command_subject
from services.settings import Settings
from tests.api_helpers import client_for, seed_network, signal_body
from tests.conftest import eventually, serve_in_background


def named(settings: Settings, instance: str) -> Settings:
    return settings.model_copy(update=dict(instance=instance, http_port=free_port()))


async def test_two_instances_share_requests_and_each_sees_everything(
    settings: Settings, nc: NatsClient
) -> None:
    async with (
        serve_in_background(named(settings, "a")) as a,
        serve_in_background(named(settings, "b")) as b,
    ):
        async with client_for(a) as client:
            await seed_network(client, a)
        principal = Principal(Role.POLICE, "wijkagent")
        subject = command_subject(settings.subject_prefix, "signal.submit", principal)
        replies: list[dict[str, Any]] = []
        for i in range(20):
            body = signal_body(source_role="police", reporter="wijkagent", level=1 + i % 5)
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox)
            await nc.publish(subject, json.dumps({**body, "command_id": f"s{i}"}).encode(), inbox)
            replies.append(json.loads((await sub.next_msg(timeout=5)).data))
            # A second answer would come right behind the first one.
            await nc.flush()
            assert sub.pending_msgs == 0
            await sub.unsubscribe()
        assert all(r["ok"] and not r["duplicate"] for r in replies)
        handled = {
            name: service.handlers.outcomes[("signal.submit", "ok")]
            for name, service in (("a", a), ("b", b))
        }
        assert sum(handled.values()) == 20  # each request decided once, by one of them
        last = max(r["position"] for r in replies)
        for service in (a, b):
            assert await service.read.tension.wait_for(last, timeout=10)
        assert a.read.tension.state == b.read.tension.state
        consumers = {r.consumer_name for r in a.runners} | {r.consumer_name for r in b.runners}
        assert len(consumers) == 2 * len(a.runners)


async def test_a_second_instance_without_its_own_name_is_refused(settings: Settings) -> None:
    async with serve_in_background(named(settings, "")) as first:
        await eventually(lambda: all(r.checkpoint >= 0 for r in first.runners))
        with pytest.raises(StillRunning):
            async with serve_in_background(named(settings, "")):
                pass
