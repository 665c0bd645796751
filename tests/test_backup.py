"""Backup and restore: what a running service kept, backed up with the CLI and restored into a
fresh server, rebuilds into the same read models; personal data still opens (with the same
master key, which the backup does not hold); timers still to go off are there; a restore into
a log that is not empty is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient

from projections.base import fold
from services.adapters.jetstream.embedded import EmbeddedNats, free_port
from services.adapters.jetstream.eventstore import JetStreamEventStore
from services.adapters.jetstream.keystore import NatsKeyStore, master_key
from services.adapters.jetstream.topology import Topology
from services.app.personal import Keyring
from services.app.readmodels import projections
from services.settings import Settings
from tests.api_helpers import client_for, seed_network, signal_body
from tests.conftest import MASTER_KEY, connect, serve_in_background, settled, subject_counts
from tests.service_process import run_cli, service_env
from tests.test_workflow_live import DECLARE, POLICE


def cli_env(settings: Settings, url: str, data: Path) -> dict[str, str]:
    env = service_env(settings.model_copy(update=dict(nats_url=url)))
    return {**env, "BONDGENOTEN_MASTER_KEY": MASTER_KEY, "BONDGENOTEN_DATA_DIR": str(data)}


async def states(nc: NatsClient, topology: Topology, settings: Settings) -> list[Any]:

    keys = Keyring(
        NatsKeyStore(nc.jetstream(), topology.keys_bucket, master_key(MASTER_KEY, Path(".")))
    )
    store = JetStreamEventStore(nc, topology, keys=keys)
    events = [e async for e in store.read()]
    return [fold(p, events) for p in projections(keys)]


async def test_a_backup_restored_into_a_fresh_server_rebuilds_the_same(
    settings: Settings, tmp_path: Path, nc: NatsClient
) -> None:
    topology = Topology(settings.stream_prefix, settings.subject_prefix)
    async with serve_in_background(settings) as service:
        async with client_for(service) as client:
            await seed_network(client, service)
            for i in range(5):
                r = await client.post("/api/v1/signals", json=signal_body(level=1 + i % 4))
                assert r.status_code == 201, r.text
            r = await client.post("/api/v1/escalations", json=DECLARE, headers=POLICE)
            assert r.status_code == 201, r.text
        await settled(service)
    backup = tmp_path / "backup.jsonl"
    code, _, err = await run_cli(
        cli_env(settings, settings.nats_url or "", tmp_path), "backup", str(backup)
    )
    assert code == 0, err
    lines = backup.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "bondgenoten-backup/1"
    assert MASTER_KEY not in backup.read_text()

    fresh = EmbeddedNats(tmp_path / "fresh", port=free_port()).start()
    try:
        env = cli_env(settings, fresh.url, tmp_path)
        code, _, err = await run_cli(env, "restore", str(backup))
        assert code == 0, err
        again, _, refused = await run_cli(env, "restore", str(backup))
        assert again == 1 and "niet leeg" in refused
        restored = await connect(fresh.url)
        try:
            assert await states(restored, topology, settings) == await states(
                nc, topology, settings
            )
            # The acknowledgement timer of the declared escalation is still to go off there.
            pending = await subject_counts(
                restored.jetstream(), topology.timers_stream, topology.timer_at_subject(">")
            )
            assert sum(pending.values()) >= 1
        finally:
            await restored.close()
    finally:
        fresh.stop()
