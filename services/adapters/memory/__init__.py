"""In-memory adapters: the ports without a server, for use-case tests that run in milliseconds.

``tests/contract`` checks the event store and the live projection against the JetStream ones.
"""

from services.adapters.memory.eventstore import InMemoryEventStore
from services.adapters.memory.projection import InMemoryProjection

__all__ = ["InMemoryEventStore", "InMemoryProjection"]
