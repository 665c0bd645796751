"""In-memory adapters: the ports without a server, for use-case tests that run in milliseconds.

``tests/contract`` checks the event store against the JetStream one.
"""

from services.adapters.memory.eventstore import InMemoryEventStore

__all__ = ["InMemoryEventStore"]
