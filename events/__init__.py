"""The event catalogue: immutable, versioned facts that make up the log (the source of truth).

Nothing here performs I/O or imports infrastructure; adapters in ``services`` carry these models
to and from NATS JetStream.
"""

from events.base import DomainEvent, event_type_of, registry
from events.envelope import Actor, AggregateRef, Envelope, new_envelope

__all__ = [
    "Actor",
    "AggregateRef",
    "DomainEvent",
    "Envelope",
    "event_type_of",
    "new_envelope",
    "registry",
]

# Importing the catalogue modules registers every event type.
from events import escalation as escalation
from events import mobilisation as mobilisation
from events import network as network
from events import notification as notification
from events import pulse as pulse
from events import questions as questions
from events import signals as signals
