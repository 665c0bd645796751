"""Errors the domain speaks about. Adapters translate infrastructure failures into these."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused; ``code`` is stable for API clients, the message is for humans."""

    code = "refused"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class ConcurrencyConflict(Exception):
    """The aggregate changed between load and append. Callers reload, re-decide and retry."""

    def __init__(self, aggregate: str, expected: int | None) -> None:
        super().__init__(f"{aggregate}: expected version {expected} is stale")
        self.aggregate = aggregate
        self.expected = expected
