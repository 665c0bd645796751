"""The fault suite on one nats-server (the cluster's faults are in test_cluster_faults.py), each
during a burst of signals with an escalation open and two instances at work where it matters:
an instance killed with SIGKILL (in its own process), nats-server restarted, poison messages
in the log and every reactor's messages redelivered, an instance whose clock runs an hour
ahead. Each asserts what every fault must leave intact: no acknowledged signal lost or twice,
each alert sent once, the timer fired once, read models equal to a fault-free fold of the log.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from events.escalation import CrisisAlertIssued
from events.signals import SignalReceived
from services.adapters.jetstream.embedded import EmbeddedNats
from services.settings import Settings
from tests.api_helpers import signed_client
from tests.conftest import MASTER_KEY, eventually, serve_in_background, settled, subject_counts
from tests.faults import Burst
from tests.receivers import HttpReceiver, serve_receiver
from tests.service_process import start_service
from tests.test_cluster_faults import (
    ACK_TIMEOUT_S,
    DECLARE,
    assert_no_double_effects,
    open_escalation,
    store_on,
)
from tests.test_instances import named
from tests.test_leases import active_in
from tests.test_workflow_live import write_policy

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async for r in serve_receiver():
        yield r


class SkewedClock:
    """This instance's clock, ``skew`` off the true time."""

    def __init__(self, skew: timedelta) -> None:
        self.skew = skew

    def now(self) -> datetime:
        return datetime.now(UTC) + self.skew


def folded(tension_map: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a tension map holds from the fold of the log: each cell's signals and reporters
    (scores, contributions and trends decay with the moment the map is asked at)."""
    return sorted(
        (
            cell["area"],
            cell["theme"],
            cell["distinct_reporters"],
            cell["distinct_roles"],
            sorted(signal["signal_id"] for signal in cell["signals"]),
        )
        for cell in tension_map["cells"]
    )


async def burst_until(burst: Burst, more: int) -> None:
    """Until ``more`` further requests were confirmed (the service is taking writes)."""
    target = len(burst.acked) + more
    await eventually(lambda: len(burst.acked) >= target, timeout=120, interval=0.01)


async def test_an_instance_killed_during_a_burst_its_standby_takes_over(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path, nc: NatsClient
) -> None:
    """Instance a, in its own process, holds every reactor's lease when it is killed with
    SIGKILL mid-burst; b takes over when the leases lapse; a comes back and catches up from
    its snapshot."""
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=ACK_TIMEOUT_S)
    a_settings = named(settings, "a").model_copy(update=dict(escalation_policy=policy))
    env = {"BONDGENOTEN_INSTANCE": "a", "BONDGENOTEN_MASTER_KEY": MASTER_KEY}
    log = tmp_path / "a.log"
    proc = await start_service(a_settings, policy, log, **env)
    try:
        b_settings = named(settings, "b").model_copy(update=dict(escalation_policy=policy))
        async with serve_in_background(b_settings) as b:
            assert not any(r.active for r in b.reactors), "a started first: it runs them"
            store = await store_on(b)
            await open_escalation(b)
            burst = Burst(nc, settings.subject_prefix, tag="kill", join_theme="demonstration")
            burst.start()
            await burst_until(burst, 80)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await eventually(lambda: all(r.active for r in b.reactors), timeout=30)
            await burst_until(burst, 60)
            await burst.stop()
            proc = await start_service(a_settings, policy, log, **env)
            await burst.confirm_all()
            await assert_no_double_effects(store, receiver, burst, [b])
            # a folded the same log into the same read models (after its snapshot).
            last = await settled(b)
            area = DECLARE["area"].split("-")[0]
            path = f"/api/v1/tension-map?area={area}&min_position={last}"
            async with signed_client(
                a_settings, base_url=f"http://127.0.0.1:{a_settings.http_port}"
            ) as c:
                from_a = await c.get(path)
            async with signed_client(b, base_url=b.http_url) as c:
                from_b = await c.get(path)
            assert from_a.status_code == from_b.status_code == 200, from_a.text
            assert folded(from_a.json()) == folded(from_b.json())
            await store.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()


async def test_nats_server_restarted_under_load(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=ACK_TIMEOUT_S)
    cfg = settings.model_copy(update=dict(escalation_policy=policy))
    async with serve_in_background(cfg) as service:
        store = await store_on(service)
        await open_escalation(service)
        burst = Burst(
            service.infra.nc, settings.subject_prefix, tag="restart", join_theme="demonstration"
        )
        burst.start()
        await burst_until(burst, 80)
        nats_server.kill()
        nats_server.start()
        await burst_until(burst, 80)
        await burst.stop()
        await burst.confirm_all()
        await assert_no_double_effects(store, receiver, burst, [service])
        await store.close()


async def test_poison_and_redelivered_messages_during_a_burst(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path, nc: NatsClient
) -> None:
    """Undecodable messages on the subjects every consumer reads are parked with their reason
    and the rest goes on; then every reactor's consumer is reset, so JetStream delivers all
    its messages again: nothing is done twice."""
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=ACK_TIMEOUT_S)
    async with (
        serve_in_background(
            named(settings, "a").model_copy(update=dict(escalation_policy=policy))
        ) as a,
        serve_in_background(
            named(settings, "b").model_copy(update=dict(escalation_policy=policy))
        ) as b,
    ):
        t = a.infra.topology
        js = nc.jetstream()
        store = await store_on(a)
        await open_escalation(a)
        burst = Burst(nc, settings.subject_prefix, tag="poison", join_theme="demonstration")
        burst.start()
        await burst_until(burst, 30)
        poison = {
            "escalation": t.event_subject("escalation", "GM0034", "GM0034-stad", "poison"),
            "signal": t.event_subject("signal", "GM0034", "GM0034-stad", "poison"),
        }
        # Of the types the consumers act on, so each must try to read it.
        types = {"escalation": CrisisAlertIssued.TYPE, "signal": SignalReceived.TYPE}
        for kind, subject in poison.items():
            await js.publish(subject, b"\xff not an event", headers={"ce-type": types[kind]})
        await burst_until(burst, 60)
        await burst.stop()
        await burst.confirm_all()
        for service in (a, b):
            await settled(service, timeout=120)
        # Every consumer of those subjects parked its copy, with the reason.
        parked = await subject_counts(js, t.dlq_stream)
        # (workflow_timers_out leaves it alone: it acts on two event types, told by a header)
        for name in ("workflow_signals", "notifier", "outbound"):
            assert parked.get(t.dlq_subject(name)), f"{name} parked nothing"
        for runner in (*a.runners, *b.runners):
            if {"signal", "escalation"} & set(runner.projection.kinds):
                assert parked.get(t.dlq_subject(runner.consumer_name)), runner.consumer_name
        # Redelivery of everything to every reactor (its consumer starts again from the log).
        holders = {r.name: r for service in (a, b) for r in service.reactors if r.active}

        def handled() -> Counter[str]:
            # Summed over both: the lease may move to the other instance meanwhile.
            counts: Counter[str] = Counter()
            for r in (*a.reactors, *b.reactors):
                counts[r.name] += r.handled
            return counts

        before = {name: n for name, n in handled().items() if n}
        for name, reactor in holders.items():
            await js.delete_consumer(reactor.stream, name)
        await eventually(
            lambda: all(handled()[name] > n for name, n in before.items()),
            timeout=60,
            what="every reactor handling its messages again",
        )
        await assert_no_double_effects(store, receiver, burst, [a, b])
        assert active_in(a, b)
        await store.close()


async def test_an_instance_with_its_clock_an_hour_ahead(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path, nc: NatsClient
) -> None:
    """b's clock runs an hour ahead and b runs the workflow: the timer still fires once, when
    it is due by the server's clock (b's clock saying it is long past does not fire it), and
    the log keeps its order (decisions of both instances interleave on one escalation)."""
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=ACK_TIMEOUT_S)
    skewed = SkewedClock(timedelta(hours=1))
    b_settings = named(settings, "b").model_copy(update=dict(escalation_policy=policy))
    a_settings = named(settings, "a").model_copy(update=dict(escalation_policy=policy))
    async with serve_in_background(b_settings, clock=skewed) as b:
        await eventually(lambda: all(r.active for r in b.reactors), what="b runs the reactors")
        async with serve_in_background(a_settings) as a:
            store = await store_on(a)
            loop = asyncio.get_running_loop()
            declared_at = loop.time()
            await open_escalation(a)
            burst = Burst(nc, settings.subject_prefix, tag="skew", join_theme="demonstration")
            burst.start()
            await burst_until(burst, 100)
            await burst.stop()
            await burst.confirm_all()
            second = await receiver.wait_for("/teamchef", timeout=ACK_TIMEOUT_S + 60)
            # Not before the acknowledgement time ran out (a lower bound only: slower is fine).
            assert second.at - declared_at >= ACK_TIMEOUT_S - 0.5, "the timer fired early"
            await assert_no_double_effects(store, receiver, burst, [a, b])
            answered = {
                s.infra.settings.instance: s.handlers.outcomes[("signal.submit", "ok")]
                for s in (a, b)
            }
            assert all(answered.values()), answered
            await store.close()
