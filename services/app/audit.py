"""Keeping the audit trail: the one place an :class:`AuditEntry` is made, for commands (the
handler table), logins and denials (the HTTP entry point, the pages) and tokens issued.

* Failure policy: an entry that cannot be recorded (the audit stream away or full) is logged
  as ``audit.not_recorded`` and what was being done goes on: a command stands, a 401 or 403
  stays a 401 or 403, a token issued is issued. The audit trail never turns an answer into an
  outage; a gap in it is loud in the log.
* Origin: ``"<channel> <address>"``, the address left out when there is none (``http
  10.0.0.7``, ``page 10.0.0.7``, ``nats``, ``cli``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import structlog

from services.app.ports import AuditEntry, AuditTrail, Clock

log = structlog.get_logger(__name__)


def origin(channel: str, address: str = "") -> str:
    """Where an audited action came from: the channel, then the client's address if known."""
    return f"{channel} {address}".strip()


class Recorder:
    """Writes the audit trail (:class:`services.app.ports.AuditTrail`) with one failure policy
    and one origin format, and reads it back for an admin."""

    def __init__(self, trail: AuditTrail, clock: Clock) -> None:
        self.trail = trail
        self.clock = clock

    async def record(
        self,
        actor: str,
        action: str,
        object_: str,
        result: str,
        *,
        channel: str,
        address: str = "",
        detail: str = "",
    ) -> None:
        entry = AuditEntry(
            actor=actor,
            action=action,
            object=object_,
            result=result,
            origin=origin(channel, address),
            at=self.clock.now(),
            detail=detail,
        )
        try:
            await self.trail.record(entry)
        except Exception as exc:  # what was done stands; the gap is loud in the log
            log.error("audit.not_recorded", action=action, error=type(exc).__name__)

    def entries(
        self, *, since: datetime | None = None, actor: str | None = None
    ) -> AsyncGenerator[AuditEntry, None]:
        return self.trail.entries(since=since, actor=actor)
