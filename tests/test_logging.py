"""Logs of the running service: JSON lines off a TTY, events named by id, type and correlation,
and no personal data (names, contact details, community affiliations), even at DEBUG."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.intake import FieldError
from services.adapters.clock import FixedClock
from services.adapters.jetstream import rejected as rejected_module
from services.adapters.jetstream.embedded import free_port
from services.adapters.jetstream.rejected import JetStreamRejectedInputs
from services.adapters.jetstream.topology import Topology
from services.settings import Settings
from tests.api_helpers import signed_client
from tests.conftest import DATA, eventually
from tests.service_process import start_service

ACTOR = {"X-Actor": "municipality:oov-test"}
# The phone number as typed and its digits run together: a bare "5555" also occurs in
# timestamps (microseconds), which made this test fail now and then for no leak at all.
SECRETS = (
    "Fatima", "el Amrani", "+31 6 5555 1234", "5555 1234", "55551234", "fatima@example.nl",
    "moroccan",
    "stenen",
)  # fmt: skip


async def test_logs_are_json_name_events_and_hold_no_personal_data(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update=dict(http_port=free_port()))
    log = tmp_path / "service.log"
    proc = await start_service(
        settings, DATA / "policy-console.toml", log, BONDGENOTEN_LOG_LEVEL="DEBUG"
    )
    try:
        async with signed_client(settings, base_url=f"http://127.0.0.1:{settings.http_port}") as c:
            network = {
                "network_id": "nw",
                "name": "Netwerk",
                "area": "GM0034-stad",
                "areas": ["GM0034-stad"],
            }
            assert (await c.post("/api/v1/networks", json=network, headers=ACTOR)).is_success
            ally = {
                "ally_id": "a1",
                "areas": ["GM0034-stad"],
                "consent_to_be_called": True,
                "personal": {
                    "name": "Fatima el Amrani",
                    "phone": "+31 6 5555 1234",
                    "email": "fatima@example.nl",
                    "communities": ["moroccan"],
                },
            }
            r = await c.post("/api/v1/networks/nw/allies", json=ally, headers=ACTOR)
            assert r.is_success, r.text
            for role, reporter in [("ally", "a1"), ("police", "wijk"), ("municipality", "oov")]:
                body = {
                    "reporter": reporter,
                    "source_role": role,
                    "network_id": "nw",
                    "area": "GM0034-stad",
                    "themes": ["demonstration"],
                    "communities": ["moroccan"],
                    "level": 5,
                    "evidence": "observed",
                    "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                    "summary": "Jongeren willen stenen gooien",
                }
                assert (await c.post("/api/v1/signals", json=body)).is_success
            bad = await c.post("/api/v1/signals", json={**body, "level": 99})
            assert bad.status_code == 422

            async def all_signals_handled_and_timer_set() -> list[dict[str, Any]]:
                # The workflow opens on the second signal, joins the third, alerts, arms the timer.
                listed: list[dict[str, Any]] = (await c.get("/api/v1/escalations")).json()
                handled = sum(len(e["signal_ids"]) for e in listed)
                return listed if handled == 3 and all(e["ack_due_at"] for e in listed) else []

            assert len(await eventually(all_signals_handled_and_timer_set)) == 1

            def alert_delivery_logged() -> bool:
                return '"notification.done"' in log.read_text()  # the notifier sent the alert

            await eventually(alert_delivery_logged)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    lines = [line for line in (await asyncio.to_thread(log.read_text)).splitlines() if line]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert len(records) > 5
    for line in lines:
        assert not any(secret in line for secret in SECRETS), line
    named = [r for r in records if r.get("event_id") and r.get("correlation_id")]
    assert any(r.get("event_type", "").startswith("nl.bondgenoten.") for r in named), records


async def test_a_rejected_input_logs_only_field_names_of_the_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused key is whatever the client sent, e.g. an e-mail address: the log line names
    schema fields only. (The body and the full reason are kept in the rejected stream.)"""
    kept: list[dict[str, str]] = []
    logged: list[dict[str, Any]] = []

    class _Js:
        async def publish(self, subject: str, body: bytes, headers: dict[str, str]) -> None:
            kept.append(headers)

    class _Log:
        def info(self, event: str, **fields: Any) -> None:
            logged.append({"event": event, **fields})

    monkeypatch.setattr(rejected_module, "log", _Log())
    rejected = JetStreamRejectedInputs(_Js(), Topology(), FixedClock(datetime.now(UTC)))  # type: ignore[arg-type]
    errors = [
        FieldError("fatima@example.nl", "Extra inputs are not permitted", "extra_forbidden"),
        FieldError("themes.3", "String should match pattern", "string_pattern_mismatch"),
        FieldError("$", "invalid JSON", "invalid_json"),
    ]
    await rejected.keep(b"{}", "http.submit_signal", errors)
    assert [entry["fields"] for entry in logged] == [["<unknown>", "themes", "$"]]
    assert "fatima@example.nl" in kept[0]["Bg-Rejected-Reason"]  # kept, not logged
