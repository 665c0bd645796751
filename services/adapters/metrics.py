"""Prometheus metrics and readiness, read at scrape time.

The components count in plain numbers where the facts arise (commands by result in the handler
table, deliveries by channel in the notifier, retries in the reactors, refused inputs where they
are kept); this adapter only reads them when scraped, so nothing on the hot path touches
``prometheus_client``. What only the server knows (how far each projection is behind, how many
timers are pending, how many messages wait in the dead-letter stream) is asked of it per scrape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.adapters.jetstream.projection_runner import ProjectionRunner
from services.adapters.jetstream.reactor import Reactor
from services.adapters.jetstream.rejected import JetStreamRejectedInputs
from services.adapters.jetstream.topology import Topology
from services.app.handlers import CommandHandlers
from services.app.notifier import Notifier

LAG_NOT_READY = 10_000
"""Events a projection may be behind before the service says it is not ready to answer."""


@dataclass
class ServerFacts:
    """What the last scrape learned from the server (absent when it could not be asked)."""

    reachable: bool = False
    log_position: int = 0
    projection_lag: dict[str, int] = field(default_factory=dict)
    timers_pending: int | None = None
    dead_letters_waiting: int | None = None


@dataclass
class Watched:
    """The parts of a running service the metrics read."""

    nc: NatsClient
    js: JetStreamContext
    topology: Topology
    handlers: CommandHandlers
    notifier: Notifier
    rejected: JetStreamRejectedInputs
    runners: Sequence[ProjectionRunner[Any]]
    reactors: Sequence[Reactor]


class ServiceMetrics(Collector):
    def __init__(self, watched: Watched) -> None:
        self.watched = watched
        self.facts = ServerFacts()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    async def render(self) -> bytes:
        """The exposition text, after asking the server what only it knows."""
        self.facts = await self.ask_server()
        return generate_latest(self.registry)

    async def ask_server(self) -> ServerFacts:
        w = self.watched
        facts = ServerFacts()
        if not w.nc.is_connected:
            return facts
        t = w.topology
        try:
            events = await w.js.stream_info(t.events_stream)
            facts.log_position = events.state.last_seq
            for runner in w.runners:
                with contextlib.suppress(NotFoundError):
                    info = await w.js.consumer_info(t.events_stream, runner.consumer_name)
                    facts.projection_lag[runner.name] = info.num_pending + info.num_ack_pending
            timers = await w.js.stream_info(
                t.timers_stream, subjects_filter=t.timer_at_subject(">")
            )
            facts.timers_pending = sum((timers.state.subjects or {}).values())
            dlq = await w.js.stream_info(t.dlq_stream)
            facts.dead_letters_waiting = dlq.state.messages
        except (nats.errors.Error, TimeoutError, OSError):
            return facts  # reachable stays False: the scrape shows it
        facts.reachable = True
        return facts

    async def readiness(self) -> list[str]:
        """Why the service should not get traffic now (empty: ready)."""
        self.facts = await self.ask_server()
        return self.problems(self.facts)

    def problems(self, facts: ServerFacts) -> list[str]:
        """Why the service should not get traffic now (empty: ready)."""
        found = []
        if not facts.reachable:
            found.append("nats: not connected or JetStream not answering")
        for name, lag in sorted(facts.projection_lag.items()):
            if lag > LAG_NOT_READY:
                found.append(f"projection {name}: {lag} events behind")
        for reactor in self.watched.reactors:
            if not reactor.running:
                found.append(f"reactor {reactor.name}: not running")
        return found

    def collect(self) -> Iterator[Metric]:
        w, facts = self.watched, self.facts
        commands = CounterMetricFamily(
            "bondgenoten_commands",
            "Commands decided, by command and result (ok, duplicate, denied, refused, overloaded)",
            labels=["command", "result"],
        )
        for (name, result), n in sorted(w.handlers.outcomes.items()):
            commands.add_metric([name, result], n)
        yield commands
        rejected = CounterMetricFamily(
            "bondgenoten_rejected_inputs", "Refused inputs kept, by channel", labels=["channel"]
        )
        for channel, n in sorted(w.rejected.kept.items()):
            rejected.add_metric([channel], n)
        yield rejected
        deliveries = CounterMetricFamily(
            "bondgenoten_alert_deliveries",
            "Delivery attempts of alerts and invitations, by channel and result",
            labels=["channel", "result"],
        )
        for (channel, result), n in sorted(w.notifier.deliveries.items()):
            deliveries.add_metric([channel, result], n)
        yield deliveries
        yield from self._reactors()
        yield from self._projections()
        up = GaugeMetricFamily("bondgenoten_nats_up", "1 when NATS answered the last scrape")
        up.add_metric([], 1 if facts.reachable else 0)
        yield up
        position = GaugeMetricFamily("bondgenoten_log_position", "Last position of the log")
        position.add_metric([], facts.log_position)
        yield position
        if facts.timers_pending is not None:
            timers = GaugeMetricFamily("bondgenoten_timers_pending", "Durable timers not yet due")
            timers.add_metric([], facts.timers_pending)
            yield timers
        if facts.dead_letters_waiting is not None:
            dlq = GaugeMetricFamily(
                "bondgenoten_dead_letters_waiting", "Messages in the dead-letter stream"
            )
            dlq.add_metric([], facts.dead_letters_waiting)
            yield dlq

    def _reactors(self) -> Iterator[Metric]:
        handled = CounterMetricFamily(
            "bondgenoten_reactor_handled", "Messages a reactor handled", labels=["reactor"]
        )
        retries = CounterMetricFamily(
            "bondgenoten_reactor_retries", "Retries after a failure", labels=["reactor"]
        )
        parked = CounterMetricFamily(
            "bondgenoten_reactor_dead_letters",
            "Messages parked as dead letters",
            labels=["reactor"],
        )
        for reactor in self.watched.reactors:
            handled.add_metric([reactor.name], reactor.handled)
            retries.add_metric([reactor.name], reactor.retries)
            parked.add_metric([reactor.name], reactor.parked)
        yield from (handled, retries, parked)

    def _projections(self) -> Iterator[Metric]:
        checkpoint = GaugeMetricFamily(
            "bondgenoten_projection_position",
            "Log position a projection reflects",
            labels=["projection"],
        )
        lag = GaugeMetricFamily(
            "bondgenoten_projection_lag_events",
            "Events of its kinds a projection has not folded yet",
            labels=["projection"],
        )
        parked = CounterMetricFamily(
            "bondgenoten_projection_dead_letters",
            "Events a projection parked as dead letters",
            labels=["projection"],
        )
        for runner in self.watched.runners:
            checkpoint.add_metric([runner.name], runner.checkpoint)
            if runner.name in self.facts.projection_lag:
                lag.add_metric([runner.name], self.facts.projection_lag[runner.name])
            parked.add_metric([runner.name], runner.dead_letters)
        yield from (checkpoint, lag, parked)
