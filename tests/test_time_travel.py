"""Both kinds of time travel against a real server: ``as_known_at`` (what the service knew
then) equals the live read models captured at that moment, and ``as_of`` (the situation then,
with everything known now) shows signals entered late at the moment they occurred."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from events.envelope import AggregateRef, new_envelope
from events.signals import Evidence, SourceRole
from projections.base import fold
from projections.tension_map import Band, CellView, TensionMapProjection, Trend, tension_view
from services.adapters.clock import FixedClock
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.app.readmodels import Moment, ReadModels
from services.settings import Settings
from tests.api_helpers import AREA, NETWORK, client_for, seed_network, signal_body
from tests.conftest import serve_in_background, settled
from tests.factories import signal

MINUTE = timedelta(minutes=1)


async def capture(client: httpx.AsyncClient, when: dict[str, str]) -> dict[str, Any]:
    """Every read model as the API shows it (to the crisis organisation)."""

    async def get(path: str, actor: str = "crisis:test-reader", **params: str) -> Any:
        r = await client.get(path, params={**params, **when}, headers={"X-Actor": actor})
        assert r.status_code == 200, (path, r.text)
        return r.json()

    escalations = await get("/api/v1/escalations")
    return {
        "tension": await get("/api/v1/tension-map"),
        "calls": await get("/api/v1/call-lists", area=AREA, themes="demonstration"),
        "networks": await get("/api/v1/networks"),
        "health": await get(f"/api/v1/networks/{NETWORK}/health", "coordinator:test"),
        "escalations": escalations,
        "details": [await get(f"/api/v1/escalations/{e['escalation_id']}") for e in escalations],
        "timelines": [
            await get(f"/api/v1/escalations/{e['escalation_id']}/events") for e in escalations
        ],
    }


async def test_as_known_at_equals_the_live_read_models_captured_during_a_run(
    settings: Settings,
) -> None:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))

    # Per moment: (role, reporter, level, minutes before that moment it occurred).
    steps: list[list[tuple[str, str, int, int]]] = [
        [("ally", "a1", 4, 2)],
        [("police", "wijkagent", 4, 1)],
        # Typed in late: a2's signal occurred before the previous moment's capture.
        [("municipality", "oov", 4, 3), ("ally", "a2", 3, 15)],
        [],  # nothing new: only time passes (decay, health)
    ]
    async with (
        serve_in_background(settings, clock=clock) as service,
        client_for(service) as client,
    ):
        await seed_network(client, service)
        captured: list[tuple[datetime, dict[str, Any]]] = []
        for step in steps:
            for role, reporter, level, ago in step:
                occurred = (clock.now() - ago * MINUTE).isoformat()
                body = signal_body(
                    source_role=role, reporter=reporter, level=level, occurred_at=occurred
                )
                r = await client.post("/api/v1/signals", json=body)
                assert r.status_code == 201, r.text
            await settled(service)
            captured.append((clock.now(), await capture(client, {})))
            clock.advance(minutes=10)
        assert captured[-1][1]["escalations"], "the run opens an escalation"
        assert captured[0][1]["tension"]["cells"] and not captured[0][1]["escalations"]
        for moment, live in captured:
            replayed = await capture(client, {"as_known_at": moment.isoformat()})
            assert replayed == live, moment
            # ``at`` is the deprecated old name of ``as_known_at``.
            old = await client.get("/api/v1/tension-map", params={"at": moment.isoformat()})
            assert old.json() == live["tension"]
        # Valid time: as of just after the late signal occurred, it is there, with a1's.
        late_at = captured[2][0] - 14 * MINUTE
        r = await client.get("/api/v1/tension-map", params={"as_of": late_at.isoformat()})
        cells = r.json()["cells"]
        assert sorted(s["level"] for c in cells for s in c["signals"]) == [3, 4]
        # ... but at that moment the service did not know it yet.
        both = {"as_of": late_at.isoformat(), "as_known_at": captured[1][0].isoformat()}
        cells = (await client.get("/api/v1/tension-map", params=both)).json()["cells"]
        assert [s["level"] for c in cells for s in c["signals"]] == [4]
        # One error shape for a moment that is no moment.
        bad = await client.get("/api/v1/escalations", params={"as_of": "gisteren"})
        assert bad.status_code == 422 and "as_of" in bad.text
        clash = {"at": moment.isoformat(), "as_known_at": moment.isoformat()}
        assert (await client.get("/api/v1/tension-map", params=clash)).status_code == 422


def late(signal_id: str, occurred: datetime, recorded: datetime, **kw: Any) -> Any:
    s = signal(signal_id, area="GM0034-stad", themes=("asylum_reception",), **kw)
    return new_envelope(
        s,
        aggregate=AggregateRef(kind=s.lane, area=s.area, id=s.signal_id),
        actor=f"{s.reporter.role.value}:{s.reporter.id}",
        source="/bondgenoten/test",
        recorded_at=recorded,
        occurred_at=occurred,
    )


async def test_signals_entered_late_about_past_days_show_rise_and_decay_as_of_each_day(
    store: JetStreamEventStore,
) -> None:
    """Today someone types in what happened over the last ten days: an incident five days ago
    (three reports within two hours) and one neighbour a day worrying about the asylum centre.
    As known at any past moment the map is empty; as of each past day it shows the rise, the
    decay and the slow burn's watch."""
    today = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    incident = today - timedelta(days=5)
    # Recorded first: a signal of today, so the live fold's watermark is already past them all.
    await store.append([late("now", today, today, reporter_id="n0")], expected_version=0)
    entered = today + 30 * MINUTE
    incident_reports = [
        ("i1", 0, SourceRole.ALLY, "a1"),
        ("i2", 60, SourceRole.POLICE, "wijkagent"),
        ("i3", 120, SourceRole.MUNICIPALITY, "oov"),
    ]
    for sid, minutes, role, who in incident_reports:
        e = late(sid, incident + minutes * MINUTE, entered, level=4, role=role, reporter_id=who)
        await store.append([e], expected_version=0)
    for d in range(10):  # one moderate signal a day, days -10 … -1, 08:00 UTC
        day = today - timedelta(days=10 - d, hours=1)
        e = late(f"d{d}", day, entered, level=2, evidence=Evidence.OBSERVED, reporter_id=f"b{d}")
        await store.append([e], expected_version=0)
    clock = FixedClock(entered + MINUTE)
    read = ReadModels(store, clock, feed=lambda p: None)  # type: ignore[arg-type,return-value]

    async def cell(**when: datetime) -> CellView | None:
        view = await read.tension_map(theme="asylum_reception", moment=Moment(**when))
        return view.cells[0] if view.cells else None

    # What the service knew before they were typed in: only today's signal.
    known = await cell(as_known_at=entered - MINUTE)
    assert known is not None and [s.signal_id for s in known.signals] == ["now"]
    assert await cell(as_of=incident + 90 * MINUTE, as_known_at=entered - MINUTE) is None
    # As of the incident's hours: the rise, through the bands (on top of that day's worry).
    rise = [await cell(as_of=incident + m * MINUTE) for m in (30, 90, 150)]
    assert [c.band if c else None for c in rise] == [Band.ELEVATED, Band.HIGH, Band.CRITICAL]
    assert all(c is not None and c.trend == Trend.RISING for c in rise)
    # The decay over the following days.
    decay = [await cell(as_of=incident + timedelta(days=d, hours=2, minutes=30)) for d in (1, 3)]
    assert [c.band if c else None for c in decay] == [Band.ELEVATED, Band.NORMAL]
    assert decay[0] is not None and decay[1] is not None
    assert rise[2] is not None and rise[2].score > decay[0].score > decay[1].score
    # The slow burn, as of each past day just after its signal: watch from the fifth day.
    watch = []
    for d in range(10):
        c = await cell(as_of=today - timedelta(days=10 - d, minutes=59))
        watch.append(bool(c and c.watch))
    assert watch[:4] == [False] * 4 and all(watch[4:])
    # Folded in log order, as the live read model does, the incident is lost even when looked
    # at as of its own hours: its signals expired before the watermark the fold had reached
    # (today's signal came first). Folding in occurred order is what makes it count.
    projection = TensionMapProjection()
    logged = [e async for e in store.read(kinds=projection.kinds)]
    in_log_order = tension_view(fold(projection, logged), incident + 150 * MINUTE)
    assert not [s for c in in_log_order.cells for s in c.signals if s.signal_id[0] == "i"]
