"""Dead letters: an event a consumer cannot process is parked with its reason, never dropped.

The original body and headers are kept, plus ``Bg-Dlq-*`` headers saying which consumer gave
up, on which log position, and why. The original's ``Nats-*`` headers are instructions to the
server for the original write (expected sequence, batch, schedule): they are kept as
``Bg-Orig-*`` so they do not apply to this one. The publish is acknowledged by JetStream before
the consumer moves on, so a message is always either processed or parked.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from pydantic import ValidationError

from events.codec import without_values
from services.adapters.jetstream.topology import Topology
from services.app.ports import RawEvent

MAX_REASON = 1000


def reason_of(exc: BaseException) -> str:
    """Why it failed, without the values involved: a validation error names the fields, since
    the rejected values may be personal data (kept in the parked body, not in the reason)."""
    if isinstance(exc, ValidationError):
        return f"ValidationError: {without_values(exc)}"
    return f"{type(exc).__name__}: {exc}"


async def park(
    js: JetStreamContext, topology: Topology, consumer: str, raw: RawEvent, reason: str
) -> None:
    headers = {
        (f"Bg-Orig-{k.removeprefix('Nats-')}" if k.startswith("Nats-") else k): v
        for k, v in raw.headers.items()
    }
    headers.update(
        {
            "Bg-Dlq-Consumer": consumer,
            "Bg-Dlq-Position": str(raw.position),
            "Bg-Dlq-Subject": raw.subject,
            "Bg-Dlq-Reason": reason[:MAX_REASON].replace("\r", " ").replace("\n", " "),
            # Parking the same position twice (a crash right after parking) stores it once.
            "Nats-Msg-Id": f"dlq:{consumer}:{raw.position}",
        }
    )
    await js.publish(topology.dlq_subject(consumer), raw.body, headers=headers)
