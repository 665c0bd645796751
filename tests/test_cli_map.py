"""``bondgenoten map`` against the test server: the tension map in either kind of time."""

from __future__ import annotations

from datetime import timedelta

from events.envelope import AggregateRef, new_envelope
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.settings import Settings
from tests.factories import T0, signal
from tests.service_process import run_cli, service_env


async def test_map_shows_a_signal_typed_in_late_as_of_when_it_occurred(
    store: JetStreamEventStore, settings: Settings
) -> None:
    s = signal("late", area="GM0034-stad", themes=("asylum_reception",), level=4)
    # Occurred at T0 (10:00 in Amsterdam), typed in two days later.
    e = new_envelope(
        s,
        aggregate=AggregateRef(kind=s.lane, area=s.area, id=s.signal_id),
        actor="ally:ally-1",
        source="/bondgenoten/test",
        occurred_at=T0,
        recorded_at=T0 + timedelta(days=2),
    )
    await store.append([e], expected_version=0)
    env = service_env(settings)
    as_of = (T0 + timedelta(minutes=30)).isoformat()
    code, out, err = await run_cli(env, "map", "--as-of", as_of)
    assert code == 0, err
    assert "Spanningsbeeld op 02-11-2026 10:30 (Nederlandse tijd)" in out
    assert "GM0034-stad" in out and "asielopvang (azc)" in out and "normaal" in out
    # What the service knew at that moment: nothing yet.
    code, out, err = await run_cli(env, "map", "--as-of", as_of, "--as-known-at", as_of)
    assert code == 0, err
    assert "Geen spanning boven de drempel." in out and "zoals bekend op" in out
    code, _, err = await run_cli(env, "map", "--as-known-at", "gisteren")
    assert code == 2 and "--as-known-at" in err and "ISO 8601" in err
