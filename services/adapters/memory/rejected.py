"""Refused input kept in a list, with its channel and reasons: the in-memory RejectedInputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from domain.intake import FieldError
from services.app.personal import withhold_personal
from services.app.ports import RejectedInputs


class Rejected(NamedTuple):
    body: bytes
    channel: str
    errors: tuple[FieldError, ...]


class InMemoryRejectedInputs:
    """The :class:`services.app.ports.RejectedInputs` for tests: ``kept`` in arrival order."""

    def __init__(self) -> None:
        self.kept: list[Rejected] = []

    async def keep(self, body: bytes, channel: str, errors: Sequence[FieldError]) -> None:
        self.kept.append(Rejected(withhold_personal(body), channel, tuple(errors)))


if TYPE_CHECKING:
    _conforms: type[RejectedInputs] = InMemoryRejectedInputs
