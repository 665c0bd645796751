"""The service on a three-node JetStream cluster, two instances at once, through faults: the
stream leader killed during a burst with an escalation open, and one node partitioned off
(stopped, the rest going on, then back). Each asserts: no acknowledged signal lost or twice,
the alert sent once per level, the timer fired once, the read models of both instances equal
to a fault-free fold of the log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient

from events.escalation import AckTimeoutElapsed, AckTimerSet, CrisisAlertIssued, SignalJoined
from services.adapters.jetstream.cluster import LoopbackCluster
from services.adapters.jetstream.embedded import EmbeddedNats, free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.bootstrap import Service
from services.settings import Settings
from tests.api_helpers import seed_network, signed_client
from tests.conftest import MASTER_KEY, eventually, serve_in_background, settled
from tests.faults import (
    Burst,
    assert_every_acknowledged_signal_once,
    assert_projections_are_the_fold_of_the_log,
)
from tests.receivers import HttpReceiver, serve_receiver
from tests.test_workflow_live import (
    POLICE,
    assert_climbed_after_the_timeout,
    delivery_recorded,
    timer_gone_off,
    write_policy,
)

pytestmark = [pytest.mark.cluster, pytest.mark.faults, pytest.mark.slow]
DECLARE = {"area": "GM0034-stad", "theme": "demonstration", "reason": "groep onderweg"}
ACK_TIMEOUT_S = 8.0


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async for r in serve_receiver():
        yield r


@pytest.fixture
async def cnc(nats_cluster: LoopbackCluster) -> AsyncIterator[NatsClient]:
    client = await nats.connect(
        servers=nats_cluster.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.1
    )
    yield client
    await client.close()


def on_cluster(cluster: LoopbackCluster, settings: Settings, policy: Path, name: str) -> Settings:
    return settings.model_copy(
        update=dict(
            nats_url=cluster.url,
            instance=name,
            http_port=free_port(),
            escalation_policy=policy,
            master_key=MASTER_KEY,
        )
    )


@contextlib.asynccontextmanager
async def two_instances(
    cluster: LoopbackCluster, settings: Settings, policy: Path
) -> AsyncIterator[tuple[Service, Service]]:
    async with (
        serve_in_background(on_cluster(cluster, settings, policy, "a")) as a,
        serve_in_background(on_cluster(cluster, settings, policy, "b")) as b,
    ):
        yield a, b


async def leader_of(nc: NatsClient, stream: str, cluster: LoopbackCluster) -> EmbeddedNats:
    async def known() -> str | None:
        info = await nc.jetstream().stream_info(stream)
        return info.cluster.leader if info.cluster else None

    name = await eventually(known, timeout=30, ignoring=(nats.errors.Error,))
    return cluster.node(name)


class RetryUnavailable(httpx.AsyncHTTPTransport):
    """A client that sends a request again (same Idempotency-Key) while the service answers
    503, as the API asks of clients: on a fresh cluster a stream or bucket the service has
    just created takes a moment to elect its leader."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(100):
            response = await super().handle_async_request(request)
            if response.status_code != 503:
                return response
            await response.aclose()
            await asyncio.sleep(0.1)
        return response


async def open_escalation(service: Service) -> None:
    retrying = RetryUnavailable()
    async with signed_client(service, base_url=service.http_url, transport=retrying) as c:
        await seed_network(c)
        r = await c.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
        assert r.status_code == 201, r.text


async def assert_no_double_effects(
    store: JetStreamEventStore, receiver: HttpReceiver, burst: Burst, services: list[Service]
) -> None:
    """The acceptance checks after a fault: the second level's alert went out (the timer fired)
    and everything the log asks for is done; then each effect exactly once."""
    await receiver.wait_for("/teamchef", timeout=ACK_TIMEOUT_S + 60)
    history = [e async for e in store.read(kinds=["escalation"], skip_undecodable=True)]
    timer_id = next(e.data.timer_id for e in history if isinstance(e.data, AckTimerSet))
    t = store.topology
    js = services[0].infra.js
    fired = await eventually(lambda: timer_gone_off(js, t, timer_id), timeout=30)
    assert fired == {t.timer_fired_subject(timer_id): 1}, "the timer fired more than once"
    alerts = [e.data.alert_id for e in history if isinstance(e.data, CrisisAlertIssued)]
    assert len(alerts) == 2, "an alert was issued twice"
    for alert_id in alerts:
        await eventually(lambda a=alert_id: delivery_recorded(store, a), timeout=30)  # type: ignore[misc]
    for service in services:
        await settled(service, timeout=120)
    await assert_every_acknowledged_signal_once(store, burst)
    history = [e async for e in store.read(kinds=["escalation"], skip_undecodable=True)]
    assert_climbed_after_the_timeout(history, ack_timeout_s=ACK_TIMEOUT_S)
    assert len([e for e in history if isinstance(e.data, AckTimeoutElapsed)]) == 1
    joined = [e.data.signal_id for e in history if isinstance(e.data, SignalJoined)]
    assert len(joined) == len(set(joined)), "a signal joined the escalation twice"
    wanted = {burst.acked[c] for c in burst.joining if c in burst.acked}
    assert wanted <= set(joined), "a signal about the open escalation was not taken in"
    for service in services:
        await assert_projections_are_the_fold_of_the_log(service)
    assert len(receiver.to("/oov")) == 1, "the first alert was sent twice"
    assert len(receiver.to("/teamchef")) == 1, "the second alert was sent twice"


async def store_on(service: Service) -> JetStreamEventStore:
    infra = service.infra
    return JetStreamEventStore(infra.nc, replace(infra.topology), keys=infra.keys)


async def test_stream_leader_killed_during_a_burst_with_an_escalation_open(
    nats_cluster: LoopbackCluster,
    settings: Settings,
    receiver: HttpReceiver,
    tmp_path: Path,
    cnc: NatsClient,
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=ACK_TIMEOUT_S)
    async with two_instances(nats_cluster, settings, policy) as (a, b):
        assert a.infra.topology.replicas == 3
        store = await store_on(a)
        await open_escalation(a)
        await receiver.wait_for("/oov", timeout=30)
        burst = Burst(cnc, settings.subject_prefix, join_theme="demonstration")
        burst.start()
        await eventually(lambda: len(burst.acked) >= 80, timeout=120, interval=0.01)
        leader = await leader_of(cnc, a.infra.topology.events_stream, nats_cluster)
        leader.kill()
        # Past the failover: the cluster elected a new leader and takes writes again.
        at_kill = len(burst.acked)
        await eventually(lambda: len(burst.acked) >= at_kill + 80, timeout=120, interval=0.01)
        await burst.stop()
        await asyncio.to_thread(nats_cluster.start_node, leader)
        await burst.confirm_all()
        await assert_no_double_effects(store, receiver, burst, [a, b])
        # The work was shared: both instances answered requests.
        assert a.handlers.outcomes[("signal.submit", "ok")] > 0
        assert b.handlers.outcomes[("signal.submit", "ok")] > 0
        await store.close()


async def test_one_node_partitioned_off_and_back_under_load(
    nats_cluster: LoopbackCluster,
    settings: Settings,
    receiver: HttpReceiver,
    tmp_path: Path,
    cnc: NatsClient,
) -> None:
    """A node that is not the events stream's leader is cut off (stopped: on loopback the
    same as losing its routes and clients) while signals arrive, and comes back to catch up."""
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=ACK_TIMEOUT_S)
    async with two_instances(nats_cluster, settings, policy) as (a, b):
        store = await store_on(a)
        await open_escalation(a)
        await receiver.wait_for("/oov", timeout=30)
        burst = Burst(cnc, settings.subject_prefix, tag="part", join_theme="demonstration")
        burst.start()
        await eventually(lambda: len(burst.acked) >= 80, timeout=120, interval=0.01)
        leader = await leader_of(cnc, a.infra.topology.events_stream, nats_cluster)
        cut = next(node for node in nats_cluster.nodes if node is not leader)
        cut.stop()
        at_cut = len(burst.acked)
        await eventually(lambda: len(burst.acked) >= at_cut + 60, timeout=120, interval=0.01)
        await asyncio.to_thread(nats_cluster.start_node, cut)
        at_back = len(burst.acked)
        await eventually(lambda: len(burst.acked) >= at_back + 30, timeout=120, interval=0.01)
        await burst.stop()
        await burst.confirm_all()
        await assert_no_double_effects(store, receiver, burst, [a, b])
        await store.close()
