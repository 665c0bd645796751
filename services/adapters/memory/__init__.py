"""In-memory adapters: the ports without a server, for use-case tests that run in milliseconds.

``tests/contract`` checks the event store and the live projection against the JetStream ones.
"""

from services.adapters.memory.audit import InMemoryAuditTrail
from services.adapters.memory.eventstore import InMemoryEventStore
from services.adapters.memory.projection import InMemoryProjection
from services.adapters.memory.rejected import InMemoryRejectedInputs, Rejected
from services.adapters.memory.scheduler import InMemoryScheduler

__all__ = [
    "InMemoryAuditTrail",
    "InMemoryEventStore",
    "InMemoryProjection",
    "InMemoryRejectedInputs",
    "InMemoryScheduler",
    "Rejected",
]
