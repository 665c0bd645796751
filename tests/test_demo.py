"""The demo of the README's main command plays end to end against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.demo.story import play_demo
from services.settings import DEMO_POLICY, Settings
from tests.conftest import serve_in_background


async def test_demo_plays_one_escalation_end_to_end(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = tmp_path / "demo-policy.toml"
    fast.write_text(
        DEMO_POLICY.read_text(encoding="utf-8").replace("ack_timeout_s = 10", "ack_timeout_s = 1")
    )
    async with serve_in_background(settings.model_copy(update=dict(escalation_policy=fast))) as svc:
        await play_demo(svc)
        records = svc.read.escalations.state.escalations
    out = capsys.readouterr().out
    assert "Dekkingsgat: niemand op de lijst vertegenwoordigt Turkse gemeenschap." in out
    assert "Aan: Teamchef politie basisteam" in out  # the ladder climbed
    assert "nog niet voltallig" in out and "; voltallig" in out
    assert "afgesloten" in out and "dienstdoend politie" in out
    (record,) = records.values()
    assert record.status == "closed" and record.acknowledged_by == "police:teamchef-almere"
