"""Ports: what the use cases need from the outside world, as Protocols (Cosmic Python).

Adapters in ``services.adapters`` implement them (JetStream, in memory, HTTP channels, the
system clock); ``services.bootstrap`` picks one implementation of each. Nothing in
``services.app`` imports an adapter: the arrows point inward.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from domain.access import Principal
from domain.intake import FieldError
from events.codec import decode
from events.envelope import AggregateRef, Envelope
from events.escalation import Recipient
from events.personal import PersonalCipher

if TYPE_CHECKING:
    from services.app.messages import Notice

S = TypeVar("S", covariant=True)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class AppendResult:
    """Where the events landed: their log positions and the aggregate's new version."""

    positions: tuple[int, ...]
    version: int
    duplicate: bool = False


@dataclass(frozen=True)
class RawEvent:
    """A stored event before decoding: what a consumer dead-letters if decoding fails.
    ``cipher``: opens its sealed personal part (the service's keyring, its key fetched first:
    ``Keyring.attach``); without one, a sealed part raises ``KeyNotLoaded``."""

    position: int
    subject: str
    headers: dict[str, str]
    body: bytes
    cipher: PersonalCipher | None = field(default=None, compare=False, repr=False)

    def decode(self) -> Envelope[Any]:
        """The single decode point of every stored event."""
        return decode(self.headers, self.body, position=self.position, cipher=self.cipher)

    def with_cipher(self, cipher: PersonalCipher | None) -> RawEvent:
        # Called for every event a projection or rebuild reads: dataclasses.replace took
        # about 7% of a rebuild's time (it re-inspects the fields on every call).
        if cipher is self.cipher:
            return self
        return RawEvent(self.position, self.subject, self.headers, self.body, cipher)


class StoreUnavailable(TimeoutError):
    """The log could not be reached or did not answer in time; the outcome of an append may
    be unknown. Transient: retrying the same command (same ids) is safe."""


class Overloaded(Exception):
    """More commands in flight than the service takes at once: answered 503 / ``unavailable``
    with a hint to retry, rather than queued without bound (a queue would only delay every
    answer, the urgent ones too)."""


class EventStore(Protocol):
    """The log. One aggregate is one consistency boundary with its own version.

    * ``append``: events of one aggregate, all or nothing. ``expected_version`` ``None`` = any,
      ``0`` = the aggregate must not exist, ``n`` = its version must be ``n``; otherwise
      ``ConcurrencyConflict``. Appending the very same events again (same ids) is a no-op
      answered with ``duplicate=True``, also long after the first append.
    * ``load``: an aggregate's events in order and its version.
    * ``read`` / ``read_raw``: the log in order, optionally only some aggregate kinds, and of
      those only one area's (read through the subjects: the rest of the log is not scanned);
      ``as_of`` stops at the first event recorded after that moment.
    """

    async def append(
        self, events: Sequence[Envelope[Any]], expected_version: int | None
    ) -> AppendResult: ...

    async def load(self, ref: AggregateRef) -> tuple[list[Envelope[Any]], int]: ...

    async def version(self, ref: AggregateRef) -> int: ...

    async def find(self, kind: str, aggregate_id: str) -> AggregateRef | None: ...

    async def last_position(self) -> int: ...

    def read(
        self,
        from_position: int = 1,
        *,
        kinds: Sequence[str] | None = None,
        area: str | None = None,
        as_of: datetime | None = None,
        skip_undecodable: bool = False,
    ) -> AsyncIterator[Envelope[Any]]: ...

    def read_raw(
        self,
        from_position: int = 1,
        *,
        kinds: Sequence[str] | None = None,
        area: str | None = None,
        until: int | None = None,
    ) -> AsyncIterator[RawEvent]: ...


class RejectedInputs(Protocol):
    """Where refused input is kept with its reason: nothing a reporter sends is lost."""

    async def keep(self, body: bytes, channel: str, errors: Sequence[FieldError]) -> None: ...


class Scheduler(Protocol):
    """Durable timers: ``payload`` is delivered to the workflow at ``at`` (once per
    ``timer_id``), also when this service is down at that moment."""

    async def schedule(self, timer_id: str, at: datetime, payload: bytes) -> None: ...


class DeliveryError(Exception):
    """A send failed. ``retryable``: the same channel may succeed later (5xx, timeout, SMTP
    4xx); otherwise move on to the next channel. ``detail`` holds no personal data."""

    def __init__(self, retryable: bool, detail: str) -> None:
        super().__init__(detail)
        self.retryable = retryable
        self.detail = detail


class Channel(Protocol):
    """One way to reach a recipient (webhook, CAP, e-mail, console): returns a short detail
    such as ``HTTP 200`` or raises :class:`DeliveryError`."""

    async def send(self, message: Notice, recipient: Recipient) -> str: ...


class LiveProjection(Protocol[S]):
    """A read model kept up to date from the log, with the position it reflects."""

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> S: ...

    @property
    def checkpoint(self) -> int: ...

    async def wait_for(self, position: int, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """True once the read model reflects the log up to ``position``."""
        ...


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail (BIO logging fields): who did what to which object, with
    what result, from where and when. Never personal data: objects are ids, not names."""

    actor: str
    action: str
    object: str
    result: str  # "ok", "refused", "denied", "unauthenticated", "revealed", "erased", ...
    origin: str  # the channel and where from: "http 10.0.0.7", "nats", "page", "cli"
    at: datetime
    detail: str = ""


class AuditTrail(Protocol):
    """Append-only record of every command, every read of personal data or call lists, every
    decryption, login and denial. Queryable by an admin."""

    async def record(self, entry: AuditEntry) -> None: ...

    def entries(
        self, *, since: datetime | None = None, actor: str | None = None
    ) -> AsyncGenerator[AuditEntry, None]: ...


class KeyStore(Protocol):
    """Per-ally data keys, kept outside the event log and readable only by the service
    (NATS KV in this deployment; an external KMS can implement the same three calls).
    ``destroy`` is final: what was sealed under the key can never be opened again.

    * ``key_for(owner, create=False)``: the owner's 32-byte key, or ``None`` if there is none
      (never created, or destroyed).
    * ``key_for(owner, create=True)``: the same, creating a random key when there is none yet;
      ``None`` only if it was destroyed (an erased owner never gets a key again). Concurrent
      creators agree on one key.
    * ``destroy(owner)``: erase the key (and leave a tombstone); repeating it is a no-op.

    ``owner`` is a key id such as ``ally.a-17`` or ``contact.wijkagent-3``."""

    async def key_for(self, owner: str, *, create: bool) -> bytes | None: ...

    async def destroy(self, owner: str) -> None: ...


class Unauthenticated(Exception):
    """No credential, or one that does not prove who sent it (bad signature, wrong issuer or
    audience, expired): 401 on HTTP. The message names the reason, never the token."""

    def __init__(self, reason: str, field: str = "Authorization") -> None:
        super().__init__(reason)
        self.field = field


class Authenticator(Protocol):
    """Turns a bearer credential into a :class:`domain.access.Principal` (OIDC in production,
    the built-in issuer locally: the same validation). Raises :class:`Unauthenticated`, or
    :class:`domain.access.Forbidden` for a valid credential without a role this service knows."""

    async def authenticate(self, token: str) -> Principal: ...


class Operations(Protocol):
    """What operators ask a running service: its metrics and whether it is ready."""

    async def render(self) -> bytes:
        """The Prometheus exposition text."""
        ...

    async def readiness(self) -> list[str]:
        """Why it should not get traffic now, one line each (empty: ready)."""
        ...
