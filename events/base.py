"""Event base class and the registry that maps a stable type name to its current model.

Each event class declares ``TYPE`` (a stable, reverse-DNS CloudEvents ``type``) and
``VERSION`` (its schema version). Type names never change once an event is in a log; a new
shape gets a new ``VERSION`` plus an upcaster (see :mod:`events.upcasting`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

TYPE_PREFIX = "nl.bondgenoten."


class DomainEvent(BaseModel):
    """A fact that happened. Frozen: the log never changes what it recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class UnknownEventType(LookupError):
    """The log holds a type this code base does not know (newer writer, or a typo)."""


class _Registry:
    def __init__(self) -> None:
        self._by_type: dict[str, type[DomainEvent]] = {}

    def register(self, cls: type[DomainEvent]) -> type[DomainEvent]:
        if not cls.TYPE.startswith(TYPE_PREFIX):
            raise ValueError(f"event type {cls.TYPE!r} must start with {TYPE_PREFIX!r}")
        existing = self._by_type.get(cls.TYPE)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {cls.TYPE!r} registered twice")
        self._by_type[cls.TYPE] = cls
        return cls

    def model_for(self, type_name: str) -> type[DomainEvent]:
        try:
            return self._by_type[type_name]
        except KeyError:
            raise UnknownEventType(type_name) from None

    def types(self) -> list[str]:
        return sorted(self._by_type)


registry = _Registry()


def event(cls: type[DomainEvent]) -> Any:
    """Class decorator: register an event model under its ``TYPE``."""
    return registry.register(cls)


def event_type_of(e: DomainEvent) -> str:
    return type(e).TYPE
