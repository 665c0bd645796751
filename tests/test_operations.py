"""What operators scrape: /metrics in the Prometheus text format, moving with the traffic, and
/readyz saying what is wrong when something is."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.adapters.metrics import ServerFacts
from services.bootstrap import Service
from tests.api_helpers import client_for, seed_network, signal_body
from tests.conftest import eventually


async def scrape(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(base_url=service.http_url) as client:
        r = await client.get("/metrics")  # no token: counts only
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


async def test_metrics_parse_and_move_when_signals_arrive(service: Service) -> None:
    submitted = ("bondgenoten_commands_total", (("command", "signal.submit"), ("result", "ok")))
    tension = ("bondgenoten_projection_position", (("projection", "tension_map"),))
    before = await scrape(service)
    assert before[("bondgenoten_nats_up", ())] == 1
    assert submitted not in before
    async with client_for(service) as client:
        await seed_network(client, service)
        for i in range(3):
            r = await client.post("/api/v1/signals", json=signal_body(level=1 + i))
            assert r.status_code == 201, r.text
        r = await client.post("/api/v1/signals", json={"level": "hoog"})
        assert r.status_code == 422

    async def moved() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        now = await scrape(service)
        return now if now.get(tension, 0) > before.get(tension, 0) else None

    after = await eventually(moved)
    assert after[submitted] == 3
    kept = [v for (name, labels), v in after.items() if name == "bondgenoten_rejected_inputs_total"]
    assert kept == [1]
    assert after[("bondgenoten_log_position", ())] > before[("bondgenoten_log_position", ())]
    lag = ("bondgenoten_projection_lag_events", (("projection", "tension_map"),))
    assert lag in after
    assert ("bondgenoten_reactor_handled_total", (("reactor", "workflow_signals"),)) in after


async def test_ready_when_caught_up_and_says_what_is_wrong_otherwise(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.http_url) as client:

        async def ready() -> httpx.Response | None:
            r = await client.get("/readyz")
            return r if r.status_code == 200 else None

        answer = (await eventually(ready)).json()
    assert answer == {"status": "ready", "problems": []}
    metrics = service.operations
    assert metrics is not None
    stopped = ServerFacts(reachable=False, projection_lag={"tension_map": 50_000})
    assert metrics.problems(stopped) == [
        "nats: not connected or JetStream not answering",
        "projection tension_map: 50000 events behind",
    ]
