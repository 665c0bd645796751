"""The weekly network digest against a real event store: its durable timer fires once per week
window (time travel with the test clock and the in-memory scheduler), each network's
coordinators get its flags in Dutch, and a replayed or redelivered timer, or a restarted
digest, sends nothing again (receipts under deterministic ids); slow burns (tension-map cells on
watch) in a network's area are named in its digest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.policy import EscalationPolicy, Level
from events.escalation import Recipient
from events.network import DutyRole
from projections.base import Projection, fold
from projections.call_lists import CallListProjection
from projections.network_health import NetworkHealth, NetworkHealthProjection, network_health
from projections.tension_map import TensionMapProjection, Trend
from services.adapters.clock import FixedClock
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.memory.scheduler import InMemoryScheduler
from services.app.digest import DigestMessage, NetworkDigest, due_of, next_week, week_of
from services.app.ports import RawEvent
from services.app.readmodels import ReadModels
from services.app.workflow import Workflow
from services.texts_nl.alerts import score_nl
from tests.builders_network import ally_enrolled, duty_contact, envelope, network_formed
from tests.factories import at, signal, signal_envelope
from tests.test_slow_burn import AZC, DAY

WEDNESDAY = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
COORDINATORS = Recipient(
    name="netwerkcoordinatoren", channels=("console",), addresses={"console": "-"}
)
OOV = Recipient(name="oov", channels=("console",), addresses={"console": "-"})
POLICY = EscalationPolicy(
    levels=(Level(name="OOV", recipients=(OOV,), ack_timeout_s=60),),
    network_digest=(COORDINATORS,),
)


@dataclass
class Inbox:
    messages: list[tuple[str, DigestMessage]] = field(default_factory=list)

    async def send(self, message: Any, recipient: Recipient) -> str:
        self.messages.append((recipient.name, message))
        return "ok"


def health_at(at: datetime) -> tuple[NetworkHealth, ...]:
    events = [
        envelope(network_formed(size_cap=12)),
        envelope(ally_enrolled("ally-1")),
        envelope(duty_contact(DutyRole.MUNICIPALITY, "oov-1")),
    ]
    calls, life = fold(CallListProjection(), events), fold(NetworkHealthProjection(), events)
    return network_health(calls, at=at, life=life)


def fired(payload: bytes) -> RawEvent:
    return RawEvent(position=0, subject="timer.fired", headers={}, body=payload)


def test_weeks_are_iso_weeks_in_dutch_time_due_monday_morning() -> None:
    assert week_of(WEDNESDAY) == "2026-W11"
    assert due_of("2026-W11") == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # 08:00 CET
    assert due_of("2026-W14") == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # 08:00 CEST
    assert next_week(WEDNESDAY) == "2026-W12"
    assert next_week(due_of("2026-W12") - timedelta(seconds=1)) == "2026-W12"
    assert next_week(due_of("2026-W12")) == "2026-W13"


async def test_the_digest_fires_once_per_week_and_a_replay_sends_nothing(
    store: JetStreamEventStore,
) -> None:
    clock = FixedClock(WEDNESDAY)
    scheduler = InMemoryScheduler()
    inbox = Inbox()

    def digest() -> NetworkDigest:
        return NetworkDigest(
            store, clock, {"console": inbox}, {"default": POLICY}, scheduler, health_at
        )

    first = digest()
    assert await first.arm() == "2026-W12"
    assert await first.arm() == "2026-W12"  # a restart arms the same timer: still one
    assert list(scheduler.pending) == ["digest.2026-W12"]
    assert scheduler.due(clock.now()) == []  # not before Monday

    clock.advance(days=5)  # Monday 16 March, past 08:00
    [(timer_id, payload)] = scheduler.due(clock.now())
    assert timer_id == "digest.2026-W12"
    await first.on_timer(fired(payload))
    [(to, message)] = inbox.messages
    assert to == "netwerkcoordinatoren" and message.week == "2026-W12"
    assert message.headline_nl == (
        "Netwerkonderhoud Bondgenoten Almere Haven: 3 aandachtspunt(en) (week 2026-W12)"
    )
    assert "De zetel van de politie is vacant (nooit ingevuld)" in message.body_nl
    assert "(Nederlandse tijd)" in message.body_nl
    assert "ally-1" not in message.body_nl and "ally-1" not in str(message.payload())

    # The same timer again (a redelivery, a replay), and a restarted digest: nothing resent.
    await first.on_timer(fired(payload))
    await digest().on_timer(fired(payload))
    assert len(inbox.messages) == 1

    # The next week's timer was armed when this one fired, due a week later.
    assert list(scheduler.pending) == ["digest.2026-W13"]
    assert scheduler.pending["digest.2026-W13"][0] == due_of("2026-W13")
    clock.advance(days=3)
    assert scheduler.due(clock.now()) == []
    clock.advance(days=4)
    [(timer_id, payload)] = scheduler.due(clock.now())
    await digest().on_timer(fired(payload))
    assert [m.week for _, m in inbox.messages] == ["2026-W12", "2026-W13"]
    assert inbox.messages[0][1].alert_id != inbox.messages[1][1].alert_id


async def test_the_workflow_hands_the_digest_timers_to_the_digest() -> None:
    payload = b'{"kind": "network_digest", "timer_id": "digest.2026-W12", "week": "2026-W12"}'
    handed: list[bytes] = []

    async def digest_timers(raw: RawEvent) -> None:
        handed.append(raw.body)

    workflow = Workflow.__new__(Workflow)  # on_timer hands it on before touching anything
    workflow.digest_timers = digest_timers
    await workflow.on_timer(fired(payload))
    assert handed == [payload]


@dataclass
class Held:
    """A read model held still (a live projection without a feed)."""

    state: Any


async def test_the_digest_names_the_slow_burns_in_the_networks_area_in_dutch(
    store: JetStreamEventStore,
) -> None:
    # Monday 2 November 2026, 09:00 UTC: the week's digest is due next Monday 08:00 CET.
    clock = FixedClock(at(0))
    network_events = [
        envelope(network_formed(size_cap=12)),  # nw-haven, GM0034-haven
        envelope(ally_enrolled("ally-1")),
        envelope(
            network_formed(
                "nw-elders", name="Bondgenoten Elders", area="GM0518", areas=("GM0518",)
            ),
            area="GM0518",
        ),
    ]
    # A slow burn in the haven: one observed signal a day about the asylum centre, each day
    # from another neighbour; and a single signal in the other network's area (no watch).
    signals = [
        *(
            signal_envelope(
                signal(f"azc-{d}", themes=(AZC,), reporter_id=f"buur-{d}"), minutes=d * DAY + 60
            )
            for d in range(7)
        ),
        signal_envelope(signal("elders-1", area="GM0518-zuid", themes=(AZC,)), minutes=60),
    ]

    def feed(p: Projection[Any]) -> Held:
        return Held(fold(p, signals if isinstance(p, TensionMapProjection) else network_events))

    read = ReadModels(store=None, clock=clock, feed=feed)  # type: ignore[arg-type]
    inbox = Inbox()
    digest = NetworkDigest(
        store,
        clock,
        {"console": inbox},
        {"default": POLICY},
        InMemoryScheduler(),
        read.network_health,
        slow_burns=read.slow_burns,  # as the composition root wires it
    )
    week = await digest.arm()
    clock.advance(days=7)
    assert clock.now() > due_of(week)
    await digest.send(week)

    sent = {m.network_id: m for _, m in inbox.messages}
    haven, elders = sent["nw-haven"], sent["nw-elders"]
    [watch] = haven.watch
    assert (watch.area, watch.theme, watch.slow_trend) == ("GM0034-haven", AZC, Trend.RISING)
    assert (watch.reporters, watch.days) == (7, 7)
    assert haven.headline_nl.endswith("— 1× waakzaam (aanhoudende spanning)")
    assert (
        "Waakzaam: aanhoudende spanning in het werkgebied van het netwerk" in haven.body_nl
        and f"- asielopvang (azc) in GM0034-haven: trage score {score_nl(watch.slow)}, stijgend"
        " (7 melders op 7 dagen in de afgelopen week)."
        in haven.body_nl
    )
    assert haven.body_nl in haven.console_nl
    # The payload carries codes and counts, never who reported.
    payload = haven.payload()
    assert payload["watch"] == [
        {
            "area": "GM0034-haven",
            "theme": AZC,
            "slow": watch.slow,
            "slow_trend": "rising",
            "reporters": 7,
            "days": 7,
        }
    ]
    assert "buur-" not in str(payload) and "buur-" not in haven.console_nl
    # Nothing on watch in the other network's area: its digest says nothing about it.
    assert elders.watch == () and "aanhoudende spanning" not in elders.console_nl
