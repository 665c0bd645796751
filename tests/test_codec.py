"""CloudEvents binary-mode encoding and schema upcasting (pure, no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events.base import DomainEvent
from events.codec import DecodeError, decode, encode
from events.escalation import AckTimeoutElapsed, AckTimerSet, CrisisAlertIssued
from events.upcasting import SchemaVersionError, upcast, upcaster
from tests.factories import signal_envelope


def test_envelope_maps_onto_cloudevents_headers_and_round_trips() -> None:
    env = signal_envelope(signal_id="s1", minutes=3)
    headers, body = encode(env)
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == env.id
    assert headers["ce-type"] == "nl.bondgenoten.signal.received"
    assert headers["ce-subject"] == "signal/GM0034-haven/s1"
    assert headers["ce-time"] == env.occurred_at.isoformat()
    assert headers["ce-recordedat"] == env.recorded_at.isoformat()
    assert json.loads(body)["signal_id"] == "s1"
    back = decode(headers, body, position=7)
    assert back.data == env.data and back.position == 7 and back.actor == env.actor


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: (dict(h, **{"ce-type": "nl.bondgenoten.nope"}), b), "UnknownEventType"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "ce-id"}, b), "ce-id"),
        (lambda h, b: (h, b"{not json"), "invalid event"),
        (lambda h, b: (h, b"[1, 2]"), "not a JSON object"),
        (lambda h, b: (dict(h, **{"ce-schemaversion": "9"}), b), "newer than this code"),
        (lambda h, b: (h, json.dumps({**json.loads(b), "level": 9}).encode()), "level"),
    ],
)
def test_undecodable_messages_raise_decode_error_with_reason(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    headers, body = encode(signal_envelope())
    h, b = mutate(headers, body)
    with pytest.raises(DecodeError, match=reason):
        decode(h, b)


def test_upcasters_chain_old_versions_to_the_current_one() -> None:
    @upcaster("nl.bondgenoten.test.thing", from_version=1)
    def v1_to_v2(d):  # type: ignore[no-untyped-def]
        a = d.pop("a")
        return {**d, "b": a}

    @upcaster("nl.bondgenoten.test.thing", from_version=2)
    def v2_to_v3(d):  # type: ignore[no-untyped-def]
        return {**d, "c": d["b"] * 2}

    assert upcast("nl.bondgenoten.test.thing", 1, {"a": 2}, 3) == {"b": 2, "c": 4}
    with pytest.raises(SchemaVersionError):
        upcast("nl.bondgenoten.test.thing", 0, {}, 3)


def _stored_v1(type_name: str, payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """A message as the code before levels counted from 1 wrote it (schema version 1)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "0f6c1d2e3a4b5c6d7e8f901a2b3c4d5e",
        "ce-source": "/bondgenoten/workflow",
        "ce-type": type_name,
        "ce-subject": "escalation/GM0034-haven/GM0034-haven_demonstration",
        "ce-time": "2025-03-14T20:05:00+00:00",
        "ce-recordedat": "2025-03-14T20:05:00+00:00",
        "ce-schemaversion": "1",
        "ce-actor": "system:workflow",
        "ce-correlationid": "GM0034-haven_demonstration-1",
        "content-type": "application/json",
    }
    return headers, json.dumps(payload).encode()


EID = "GM0034-haven_demonstration-1"
V1_ALERT = {
    "escalation_id": EID,
    "level": 0,
    "round": 2,
    "alert_id": "5b1c0f7e9a2d4c3b8e6f1a0d9c8b7a65",
    "recipients": [
        {"name": "oov-piket", "label": "", "channels": ["webhook"],
         "addresses": {"webhook": "https://oov.example/hook"}},
    ],
    "situation": {
        "area": "GM0034-haven", "area_name": "Almere Haven", "themes": ["demonstration"],
        "band": "high", "trend": "rising", "score": 9.5, "as_of": "2025-03-14T20:05:00Z",
        "contributing": [], "call_list_summary": {"callable_allies": 3, "duty_contacts": {}},
        "coverage_gaps": [], "communities": [], "suggested_grip": 1, "escalation_id": EID,
    },
    "ack_timeout_s": 300.0,
}  # fmt: skip
V1_TIMER = {
    "escalation_id": EID,
    "timer_id": "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
    "level": 1,
    "round": 1,
    "due_at": "2025-03-14T20:10:00Z",
}
V1_ELAPSED = {
    "escalation_id": EID,
    "timer_id": "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
    "level": 2,
    "round": 1,
    "exhausted": True,
}


@pytest.mark.parametrize(
    ("model", "payload"),
    [(CrisisAlertIssued, V1_ALERT), (AckTimerSet, V1_TIMER), (AckTimeoutElapsed, V1_ELAPSED)],
)
def test_stored_v1_alert_ladder_events_decode_with_levels_counted_from_one(
    model: type[DomainEvent], payload: dict[str, Any]
) -> None:
    assert model.VERSION == 2
    decoded = decode(*_stored_v1(model.TYPE, payload))
    assert isinstance(decoded.data, model) and decoded.schema_version == 2
    data = decoded.data.model_dump(mode="json")
    assert data["level"] == payload["level"] + 1
    for kept in ("alert_id", "timer_id", "round"):  # ids stay as recorded
        if kept in payload:
            assert data[kept] == payload[kept]


def test_a_v1_alert_without_a_level_is_refused_naming_the_field() -> None:
    payload = {k: v for k, v in V1_ALERT.items() if k != "level"}
    with pytest.raises(DecodeError, match="level"):
        decode(*_stored_v1(CrisisAlertIssued.TYPE, payload))
