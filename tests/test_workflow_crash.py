"""Durable acknowledgement timers: the ladder climbs once, also when the service is killed with
SIGKILL after opening (and restarted before the timeout ends), or when NATS itself is."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from events.escalation import AckTimeoutElapsed, AckTimerSet, CrisisAlertIssued
from services.adapters.jetstream.embedded import EmbeddedNats, free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.settings import Settings
from tests.api_helpers import seed_network, signed_client
from tests.conftest import eventually, serve_in_background, settled
from tests.receivers import HttpReceiver, serve_receiver
from tests.service_process import start_service
from tests.test_workflow_live import (
    POLICE,
    assert_climbed_after_the_timeout,
    delivery_recorded,
    events_of,
    timer_gone_off,
    with_policy,
    write_policy,
)

pytestmark = pytest.mark.slow
TIMEOUT_S = 6.0
DECLARE = {"area": "GM0034-stad", "theme": "demonstration", "reason": "groep onderweg"}


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async for r in serve_receiver():
        yield r


async def test_service_killed_after_opening_still_climbs_once(
    settings: Settings,
    receiver: HttpReceiver,
    tmp_path: Path,
    store: JetStreamEventStore,
    js: JetStreamContext,
) -> None:
    settings = settings.model_copy(update=dict(http_port=free_port()))
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=TIMEOUT_S)
    log = tmp_path / "service.log"
    t = store.topology
    proc = await start_service(settings, policy, log)
    try:
        async with signed_client(settings, base_url=f"http://127.0.0.1:{settings.http_port}") as c:
            await seed_network(c)
            r = await c.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
            assert r.status_code == 201, r.text
        await receiver.wait_for("/oov")
        # The first level's timer is recorded with the alert, in one decision.
        [timer] = await events_of(store, "escalation", AckTimerSet)
        timer_id = timer.data.timer_id
        fired = t.timer_fired_subject(timer_id)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        proc = await start_service(settings, policy, log)
        # Normally restarted before the timeout; on a slow machine the timer may have gone off
        # while the service was down. Either way it climbs once, as asserted below.
        second = await receiver.wait_for("/teamchef", timeout=TIMEOUT_S + 30)
        assert second.json()["level_name"] == "Teamchef politie"
        history = [e async for e in store.read(kinds=["escalation"])]
        assert_climbed_after_the_timeout(history, ack_timeout_s=TIMEOUT_S)
        # A second climb would need a second firing: no schedule may be left and one message
        # fired. A second delivery stops once the notifier recorded this one.
        assert await eventually(lambda: timer_gone_off(js, t, timer_id)) == {fired: 1}
        level_2 = [e.data.alert_id for e in history if isinstance(e.data, CrisisAlertIssued)][1]
        await eventually(lambda: delivery_recorded(store, level_2))
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    assert len(receiver.to("/oov")) == 1
    assert len(receiver.to("/teamchef")) == 1
    assert len(await events_of(store, "escalation", AckTimeoutElapsed)) == 1


async def test_nats_killed_while_the_timer_runs_still_climbs_once(
    settings: Settings,
    receiver: HttpReceiver,
    tmp_path: Path,
    store: JetStreamEventStore,
    nats_server: EmbeddedNats,
) -> None:
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=3.0)
    async with serve_in_background(with_policy(settings, policy)) as service:
        async with signed_client(service, base_url=service.http_url) as c:
            await seed_network(c)
            r = await c.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
            assert r.status_code == 201, r.text
        await receiver.wait_for("/oov")
        await settled(service)  # the timer is scheduled
        nats_server.kill()
        await asyncio.sleep(0.5)  # the outage itself: nothing to wait for while NATS is down
        nats_server.start()
        second = await receiver.wait_for("/teamchef", timeout=30)
        assert second.json()["level_name"] == "Teamchef politie"
        # Not ``settled``: an acknowledgement sent around the outage can stay unconfirmed until
        # JetStream redelivers the message (ACK_WAIT_S later). The markers that matter:
        history = [e async for e in store.read(kinds=["escalation"])]
        assert_climbed_after_the_timeout(history, ack_timeout_s=3.0)
        # a second climb would need a second firing: no schedule may be left, one message fired;
        t = service.infra.topology
        timer_id = next(e.data.timer_id for e in history if isinstance(e.data, AckTimerSet))
        fired = await eventually(lambda: timer_gone_off(service.infra.js, t, timer_id))
        assert fired == {t.timer_fired_subject(timer_id): 1}
        # a second delivery stops once the notifier recorded this one.
        level_2 = [e.data.alert_id for e in history if isinstance(e.data, CrisisAlertIssued)][1]
        await eventually(lambda: delivery_recorded(store, level_2))
    assert len(receiver.to("/teamchef")) == 1
    assert len(await events_of(store, "escalation", AckTimeoutElapsed)) == 1


async def test_replay_after_the_dedup_window_refires_no_timer(
    settings: Settings, receiver: HttpReceiver, tmp_path: Path, nc: Any
) -> None:
    """Every reactor reads the log again from the start, after JetStream's duplicate window
    has passed (so message ids no longer protect): no alert is sent again, no timer acts."""
    settings = settings.model_copy(update=dict(duplicate_window_s=1.0))
    policy = write_policy(tmp_path / "policy.toml", receiver, ack_timeout_s=1.0)
    cfg = with_policy(settings, policy)
    async with serve_in_background(cfg) as service:
        async with signed_client(service, base_url=service.http_url) as c:
            await seed_network(c)
            r = await c.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
            assert r.status_code == 201, r.text
        await receiver.wait_for("/teamchef", timeout=30)
        await settled(service)
        consumers = [(x.stream, x.name) for x in service.reactors]
    # The scenario, not a wait for a result: let the duplicate window pass after the last
    # write (JetStream shows no sign of it passing).
    await asyncio.sleep(settings.duplicate_window_s + 0.5)
    js = nc.jetstream()
    for stream, name in consumers:
        await js.delete_consumer(stream, name)
    async with serve_in_background(cfg) as service:
        # Every reactor has read the whole log again and handled all it caused.
        await settled(service)
        replayed = {x.name: x.handled for x in service.reactors}
        store = service.infra.store
        timeouts = await events_of(store, "escalation", AckTimeoutElapsed)
        alerts = await events_of(store, "escalation", CrisisAlertIssued)
    assert replayed["workflow_timers_out"] > 0 and replayed["workflow_timers_in"] > 0, replayed
    assert len(receiver.to("/oov")) == 1 and len(receiver.to("/teamchef")) == 1
    assert len(timeouts) == 1 and len(alerts) == 2
