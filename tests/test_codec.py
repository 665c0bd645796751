"""CloudEvents binary-mode encoding and schema upcasting (pure, no server)."""

from __future__ import annotations

import json

import pytest

from events.codec import DecodeError, decode, encode
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
