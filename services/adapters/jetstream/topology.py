"""The streams and buckets this service owns, created or verified at start-up.

We never overwrite an existing stream's configuration (FastStream's ``declare=True`` would). A
missing stream is created with our defaults; an existing one is checked for the properties the
code relies on. Operator tuning (replicas, limits, placement) is left alone; a property the code
cannot work without (subjects, file storage, atomic batches) stops start-up with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from events.envelope import municipality_of

log = structlog.get_logger(__name__)

DAY_S = 86_400.0
OUTBOUND_KEPT_S = 7 * DAY_S
"""How long the outbound stream keeps an escalation event, and deduplicates it by event id."""


class TopologyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Topology:
    """Names of everything in NATS, derived from two prefixes so tests can isolate themselves."""

    stream_prefix: str = "BG"
    subject_prefix: str = "bg"
    duplicate_window_s: float = 120.0
    signal_ttl_s: float | None = None
    """Retention of signals: each new ``signal`` event is stored with this per-message TTL
    (``Nats-TTL``) and leaves the log when it expires; ``None``: kept for ever. The rest of the
    log is never aged out (see the README, "Retention")."""
    replicas: int = 1
    """Copies of every stream and bucket it creates: 3 on a cluster (one node may fail, or be
    restarted, without losing an acknowledged write or stopping the service), 1 on one server.
    An existing stream keeps its own (operators change replicas with the nats CLI)."""

    @property
    def events_stream(self) -> str:
        return f"{self.stream_prefix}_EVENTS"

    @property
    def events_subjects(self) -> str:
        return f"{self.subject_prefix}.ev.>"

    def event_subject(self, kind: str, municipality: str, area: str, aggregate_id: str) -> str:
        return f"{self.subject_prefix}.ev.{kind}.{municipality}.{area}.{aggregate_id}"

    def area_filter(self, kind: str, area: str) -> str:
        """One area's events of one aggregate kind (``*``: of every kind)."""
        return f"{self.subject_prefix}.ev.{kind}.{municipality_of(area)}.{area}.>"

    def kind_filter(self, kind: str) -> str:
        return f"{self.subject_prefix}.ev.{kind}.>"

    @property
    def rejected_stream(self) -> str:
        return f"{self.stream_prefix}_REJECTED"

    def rejected_subject(self, channel: str) -> str:
        return f"{self.subject_prefix}.rejected.{channel}"

    @property
    def dlq_stream(self) -> str:
        return f"{self.stream_prefix}_DLQ"

    def dlq_subject(self, consumer: str) -> str:
        return f"{self.subject_prefix}.dlq.{consumer}"

    @property
    def timers_stream(self) -> str:
        return f"{self.stream_prefix}_TIMERS"

    @property
    def timers_subjects(self) -> str:
        return f"{self.subject_prefix}.timer.>"

    def timer_fired_subject(self, timer_id: str) -> str:
        return f"{self.subject_prefix}.timer.fired.{timer_id}"

    def timer_at_subject(self, timer_id: str) -> str:
        return f"{self.subject_prefix}.timer.at.{timer_id}"

    @property
    def secrets_bucket(self) -> str:
        return f"{self.stream_prefix}_secrets"

    @property
    def keys_bucket(self) -> str:
        """Per-owner data keys, wrapped (``services.adapters.jetstream.keystore``)."""
        return f"{self.stream_prefix}_keys"

    @property
    def audit_stream(self) -> str:
        return f"{self.stream_prefix}_AUDIT"

    def audit_subject(self, action: str) -> str:
        token = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in action) or "_"
        return f"{self.subject_prefix}.audit.{token}"

    @property
    def outbound_stream(self) -> str:
        """Escalation events for operations systems (``services.app.outbound``)."""
        return f"{self.stream_prefix}_OUTBOUND"

    @property
    def outbound_subjects(self) -> str:
        return f"{self.subject_prefix}.out.>"

    def outbound_subject(self, municipality: str, event: str) -> str:
        """``<prefix>.out.escalation.<municipality>.<event>``, e.g.
        ``bg.out.escalation.GM0034.opened``: subscribers filter by municipality or event."""
        return f"{self.subject_prefix}.out.escalation.{municipality}.{event}"

    @property
    def leases_bucket(self) -> str:
        """Which instance runs each reactor (``services.adapters.jetstream.lease``)."""
        return f"{self.stream_prefix}_leases"

    @property
    def projections_bucket(self) -> str:
        return f"{self.stream_prefix}_projections"

    def stream_configs(self) -> list[StreamSpec]:
        return [
            StreamSpec(
                StreamConfig(
                    name=self.events_stream,
                    description="Bondgenoten event log: the single source of truth",
                    subjects=[self.events_subjects],
                    storage=StorageType.FILE,
                    num_replicas=self.replicas,
                    retention=RetentionPolicy.LIMITS,
                    # If an operator ever sets limits, refuse new writes rather than drop history.
                    discard=DiscardPolicy.NEW,
                    duplicate_window=self.duplicate_window_s,
                    allow_atomic=True,
                    deny_delete=True,
                    deny_purge=True,
                    allow_msg_ttl=True if self.signal_ttl_s else None,
                ),
                required={
                    "storage": "file",
                    "allow_atomic": True,
                    "retention": "limits",
                    "discard": "new",
                    "deny_delete": True,
                    "deny_purge": True,
                },
                keeps_history=True,
            ),
            StreamSpec(
                StreamConfig(
                    name=self.rejected_stream,
                    description="Rejected input with the reason it was refused",
                    subjects=[f"{self.subject_prefix}.rejected.>"],
                    storage=StorageType.FILE,
                    num_replicas=self.replicas,
                    # Rejected input may hold personal data in free text: keep it 90 days.
                    max_age=90 * DAY_S,
                ),
                required={"storage": "file"},
            ),
            StreamSpec(
                StreamConfig(
                    name=self.dlq_stream,
                    description="Events a consumer could not process (dead letters), with reasons",
                    subjects=[f"{self.subject_prefix}.dlq.>"],
                    storage=StorageType.FILE,
                    num_replicas=self.replicas,
                    # Parked copies of events may hold personal data; the log keeps the original.
                    max_age=90 * DAY_S,
                ),
                required={"storage": "file"},
            ),
            StreamSpec(
                StreamConfig(
                    name=self.timers_stream,
                    description="Durable timers: scheduled messages that fire workflow deadlines",
                    subjects=[self.timers_subjects],
                    storage=StorageType.FILE,
                    num_replicas=self.replicas,
                    allow_msg_schedules=True,
                    duplicate_window=self.duplicate_window_s,
                ),
                required={"storage": "file", "allow_msg_schedules": True},
            ),
            StreamSpec(
                StreamConfig(
                    name=self.outbound_stream,
                    description="Escalation events for operations systems (police, "
                    "municipality): a subscriber resumes from its own durable consumer",
                    subjects=[self.outbound_subjects],
                    storage=StorageType.FILE,
                    num_replicas=self.replicas,
                    max_age=OUTBOUND_KEPT_S,
                    # Deduplicated by event id for as long as a message is kept: a reactor
                    # that reads the log again publishes nothing twice (services.app.outbound).
                    duplicate_window=OUTBOUND_KEPT_S,
                ),
                required={"storage": "file"},
            ),
            StreamSpec(
                StreamConfig(
                    name=self.audit_stream,
                    description="Audit trail: every command, denial, login and read of personal "
                    "data (ids only, no personal data); append-only",
                    subjects=[f"{self.subject_prefix}.audit.>"],
                    storage=StorageType.FILE,
                    num_replicas=self.replicas,
                    retention=RetentionPolicy.LIMITS,
                    discard=DiscardPolicy.NEW,
                    deny_delete=True,
                    deny_purge=True,
                    allow_atomic=True,  # entries are group-committed
                ),
                required={
                    "storage": "file",
                    "deny_delete": True,
                    "deny_purge": True,
                    "allow_atomic": True,
                },
                enable=("allow_atomic",),
            ),
        ]


@dataclass(frozen=True)
class StreamSpec:
    config: StreamConfig
    required: dict[str, Any] = field(default_factory=dict)
    keeps_history: bool = False
    """The log: no limit may ever remove an event (age, count, size, per subject)."""
    enable: tuple[str, ...] = ("allow_msg_ttl",)
    """Flags that may be switched on in an existing stream when this service needs them (a
    one-way change the server allows); everything else an operator set is left alone."""


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


async def ensure_streams(js: JetStreamContext, topology: Topology) -> None:
    for spec in topology.stream_configs():
        await ensure_stream(js, spec)


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    name = spec.config.name
    assert name is not None
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(spec.config)
        log.info("stream.created", stream=name)
        return
    existing = info.config
    switch_on = [
        key
        for key in spec.enable
        if getattr(spec.config, key, None) is True and not getattr(existing, key, None)
    ]
    if switch_on:
        for key in switch_on:
            setattr(existing, key, True)
        existing = (await js.update_stream(existing)).config
        log.info("stream.enabled", stream=name, settings=switch_on)
    problems = []
    missing_subjects = set(spec.config.subjects or []) - set(existing.subjects or [])
    if missing_subjects:
        problems.append(f"subjects {sorted(missing_subjects)} not bound")
    for key, wanted in spec.required.items():
        have = _value(getattr(existing, key, None))
        if have != wanted:
            problems.append(f"{key} is {have!r}, this service needs {wanted!r}")
    if spec.keeps_history:
        for key in ("max_age", "max_msgs", "max_bytes", "max_msgs_per_subject"):
            have = getattr(existing, key, None)
            if have not in (None, 0, -1):
                problems.append(f"{key} is {have!r}: the event log must never drop events")
    window = spec.config.duplicate_window
    if window and existing.duplicate_window and existing.duplicate_window != window:
        log.warning(
            "stream.duplicate_window_differs",
            stream=name,
            configured=existing.duplicate_window,
            expected=window,
        )
    if problems:
        raise TopologyError(
            f"stream {name} exists with settings this service cannot work with: "
            + "; ".join(problems)
            + ". It was left unchanged; fix it with `nats stream edit` or remove it."
        )
    log.debug("stream.verified", stream=name)
