"""Encode an envelope as a CloudEvents binary-mode message (``ce-*`` headers + JSON body) and back.

Pure: works on a header mapping and bytes, so the NATS adapter stays thin and this is unit-tested.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from events.base import DomainEvent, UnknownEventType, registry
from events.envelope import AggregateRef, Envelope
from events.personal import PersonalCipher, event_aad, kid_of, open_part, seal_part
from events.upcasting import SchemaVersionError, upcast

SPEC_VERSION = "1.0"
SEALED_KID_HEADER = "bg-sealedkid"
"""The key a message's personal part is sealed under, so a reader can fetch it first."""
CONTENT_TYPE = "application/json"


class DecodeError(ValueError):
    """A stored message cannot be turned into an event: the reason says why (poison message)."""


def without_values(exc: ValidationError) -> str:
    """Which fields failed and why, never the values: a rejected value may be personal data."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def encode(
    envelope: Envelope[Any], cipher: PersonalCipher | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a stored event. With ``cipher``, the personal part is sealed under
    its owner's key (see :mod:`events.personal`); without, it is stored as is (tests, legacy)."""
    headers = {
        "ce-specversion": SPEC_VERSION,
        "ce-id": envelope.id,
        "ce-source": envelope.source,
        "ce-type": envelope.type,
        "ce-subject": envelope.subject,
        "ce-time": envelope.occurred_at.isoformat(),
        "ce-recordedat": envelope.recorded_at.isoformat(),
        "ce-schemaversion": str(envelope.schema_version),
        "ce-actor": envelope.actor,
        "ce-correlationid": envelope.correlation_id,
        "content-type": CONTENT_TYPE,
    }
    if envelope.causation_id:
        headers["ce-causationid"] = envelope.causation_id
    if envelope.command_hash:
        headers["ce-commandhash"] = envelope.command_hash
    kid = kid_of(envelope.data)
    if cipher is None or kid is None:
        return headers, envelope.data.model_dump_json().encode()
    payload = envelope.data.model_dump(mode="json")
    payload["personal"] = seal_part(
        cipher, kid, payload["personal"], event_aad(envelope.type, envelope.id)
    )
    headers[SEALED_KID_HEADER] = kid
    return headers, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


_ENVELOPE = Envelope[Any]
"""Parametrized once: ``Envelope[Any]`` in the call looked the generic up again per event."""


def decode(
    headers: Mapping[str, str],
    body: bytes,
    position: int | None = None,
    cipher: PersonalCipher | None = None,
) -> Envelope[Any]:
    """The event of a stored message. A sealed personal part is opened with ``cipher`` (its key
    fetched before), or read as erased if its key was destroyed; ``KeyNotLoaded`` (a caller's
    bug, not a poison message) is raised as is."""
    try:
        type_name = headers["ce-type"]
        version = int(headers["ce-schemaversion"])
        model = registry.model_for(type_name)
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise DecodeError("event body is not a JSON object")
        payload = upcast(type_name, version, payload, model.VERSION)
        if "personal" in payload:
            aad = event_aad(type_name, headers["ce-id"])
            payload["personal"] = open_part(cipher, payload["personal"], aad)
        data: DomainEvent = model.model_validate(payload)
        return _ENVELOPE(
            id=headers["ce-id"],
            type=type_name,
            schema_version=model.VERSION,
            source=headers["ce-source"],
            aggregate=AggregateRef.parse(headers["ce-subject"]),
            occurred_at=datetime.fromisoformat(headers["ce-time"]),
            recorded_at=datetime.fromisoformat(headers["ce-recordedat"]),
            actor=headers["ce-actor"],
            correlation_id=headers["ce-correlationid"],
            causation_id=headers.get("ce-causationid"),
            command_hash=headers.get("ce-commandhash"),
            data=data,
            position=position,
        )
    except KeyError as missing:
        raise DecodeError(f"missing CloudEvents header {missing.args[0]}") from None
    except (UnknownEventType, SchemaVersionError) as exc:
        raise DecodeError(f"{type(exc).__name__}: {exc}") from exc
    except ValidationError as exc:
        raise DecodeError(f"invalid event: {without_values(exc)}") from None
    except ValueError as exc:
        raise DecodeError(f"invalid event: {exc}") from exc
