"""Durable timers in memory: the test decides when time passes by asking what is ``due``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from services.app.ports import Scheduler


class InMemoryScheduler:
    """The :class:`services.app.ports.Scheduler` for tests.

    Like the JetStream scheduler, a timer fires once per ``timer_id``: scheduling an id that is
    pending or has fired changes nothing (the JetStream one deduplicates by ``Nats-Msg-Id``).
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[datetime, bytes]] = {}
        self._fired: set[str] = set()

    async def schedule(self, timer_id: str, at: datetime, payload: bytes) -> None:
        if timer_id in self._pending or timer_id in self._fired:
            return
        self._pending[timer_id] = (at, payload)

    @property
    def pending(self) -> Mapping[str, tuple[datetime, bytes]]:
        """Timers not fired yet: ``timer_id -> (at, payload)``."""
        return MappingProxyType(self._pending)

    def due(self, now: datetime) -> list[tuple[str, bytes]]:
        """Fire the timers due at ``now`` (``at <= now``): each is returned once, in order of
        ``at`` (then id), and is no longer pending."""
        ready = sorted((at, timer_id) for timer_id, (at, _) in self._pending.items() if at <= now)
        fired = []
        for _, timer_id in ready:
            _, payload = self._pending.pop(timer_id)
            self._fired.add(timer_id)
            fired.append((timer_id, payload))
        return fired


if TYPE_CHECKING:
    _conforms: type[Scheduler] = InMemoryScheduler
