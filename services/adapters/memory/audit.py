"""The audit trail in a list: the in-memory :class:`services.app.ports.AuditTrail`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING

from services.app.ports import AuditEntry, AuditTrail


class InMemoryAuditTrail:
    def __init__(self) -> None:
        self.recorded: list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        self.recorded.append(entry)

    async def entries(
        self, *, since: datetime | None = None, actor: str | None = None
    ) -> AsyncGenerator[AuditEntry, None]:
        for entry in list(self.recorded):
            if (since is None or entry.at >= since) and (actor is None or entry.actor == actor):
                yield entry


if TYPE_CHECKING:
    _conforms: type[AuditTrail] = InMemoryAuditTrail
