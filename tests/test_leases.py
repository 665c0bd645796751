"""Reactors are single-active across instances: each runs in exactly one instance (the holder
of its lease), the others stand by, and a standby takes over when the holder stops or dies."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.client import Client as NatsClient

from services.adapters.jetstream.lease import LEASE_TTL_S, Lease
from services.adapters.jetstream.topology import Topology
from services.bootstrap import Service
from services.settings import Settings
from tests.conftest import eventually, serve_in_background
from tests.test_instances import named


def active_in(*services: Service) -> dict[str, list[str]]:
    """For each reactor, the instances where it consumes now."""
    found: dict[str, list[str]] = {}
    for service in services:
        for reactor in service.reactors:
            holders = found.setdefault(reactor.name, [])
            if reactor.active:
                holders.append(service.infra.settings.instance)
    return found


async def test_each_reactor_runs_in_one_instance_and_a_standby_takes_over(
    settings: Settings,
) -> None:
    async with serve_in_background(named(settings, "a")) as a:
        b_running = serve_in_background(named(settings, "b"))
        b = await b_running.__aenter__()
        try:
            # Started first, a holds every lease; b is ready, standing by.
            assert await eventually(
                lambda: all(h == ["a"] for h in active_in(a, b).values()), what="a holds all"
            )
            assert all(r.running and not r.active for r in b.reactors)
        except BaseException:
            await b_running.__aexit__(None, None, None)
            raise
    # a stopped cleanly and gave its leases up: b takes each over.
    try:
        await eventually(lambda: all(r.active for r in b.reactors), what="b took over")
    finally:
        await b_running.__aexit__(None, None, None)


async def test_a_lease_lapses_when_its_holder_dies(nc: NatsClient, topology: Topology) -> None:
    js = nc.jetstream()
    first = Lease(js, topology.leases_bucket, "notifier", "a")
    second = Lease(js, topology.leases_bucket, "notifier", "b")
    assert await first.acquire(lambda: False)
    # The holder dies without giving it up: its renewal stops, nothing is deleted.
    assert first._renewer is not None
    first._renewer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first._renewer
    taken = asyncio.create_task(second.acquire(lambda: False))
    assert await eventually(lambda: taken.done() and taken.result(), timeout=LEASE_TTL_S * 5)
    assert second.held
    await second.release()


async def test_a_holder_that_loses_its_lease_stops(nc: NatsClient, topology: Topology) -> None:
    js = nc.jetstream()
    holder = Lease(js, topology.leases_bucket, "outbound", "a")
    assert await holder.acquire(lambda: False)
    # Another process overwrites it (as after a lapse the holder did not notice).
    kv = await js.key_value(topology.leases_bucket)
    await kv.put("outbound", b"someone-else")
    await eventually(lambda: not holder.held, what="the holder noticed")
    await holder.release()
    assert (await kv.get("outbound")).value == b"someone-else"
