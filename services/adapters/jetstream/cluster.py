"""A three-node JetStream cluster on loopback, from the same ``nats-server`` binary as the
embedded server (``bondgenoten cluster``, and the cluster and fault tests).

Each node is an :class:`EmbeddedNats` with its own store directory (``sync_interval: always``),
its own client, route and monitoring port (free ports, loopback only), and the generated
authorization of the data directory (one file, copied into every node's store: ``include``
is relative to the node's configuration). Routes stay on loopback and carry no credentials.

A node can be killed, stopped and started again on the same store and ports, which is how the
fault suite takes a stream leader away or partitions one node off.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import structlog

from services.adapters.jetstream.embedded import (
    MONITOR_HOST,
    EmbeddedNats,
    EmbeddedNatsError,
    free_port,
)

log = structlog.get_logger(__name__)

CLUSTER_NAME = "bondgenoten"


@dataclass
class LoopbackCluster:
    """``size`` nats-server nodes forming one JetStream cluster under ``base_dir``."""

    base_dir: Path
    size: int = 3
    authorization: Path | None = None
    """A generated ``authorization.conf`` (``ensure_authorization``); ``None``: no
    authentication (tests of adapters that connect without credentials)."""
    name: str = CLUSTER_NAME
    ready_timeout_s: float = 60.0
    nodes: list[EmbeddedNats] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise EmbeddedNatsError("a cluster needs at least one node")
        route_ports = [free_port() for _ in range(self.size)]
        for i in range(self.size):
            store = self.base_dir / f"n{i + 1}"
            routes = ", ".join(
                f'"nats-route://127.0.0.1:{port}"' for j, port in enumerate(route_ports) if j != i
            )
            block = (
                "cluster {\n"
                f'  name: "{self.name}"\n'
                f'  listen: "127.0.0.1:{route_ports[i]}"\n'
                f"  routes: [{routes}]\n"
                "}\n"
            )
            auth = None
            if self.authorization is not None:
                auth = store / self.authorization.name
            self.nodes.append(
                EmbeddedNats(
                    store,
                    port=free_port(),
                    server_name=f"n{i + 1}",
                    cluster=block,
                    authorization=auth,
                )
            )

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (``NATS_URL``): clients fail over between them."""
        return ",".join(self.urls)

    def node(self, server_name: str) -> EmbeddedNats:
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise KeyError(server_name)

    def start(self) -> LoopbackCluster:
        for node in self.nodes:
            self._copy_authorization(node)
            node.start()
        self.wait_ready()
        log.info("nats.cluster.started", urls=self.urls)
        return self

    def start_node(self, node: EmbeddedNats) -> None:
        """Start one node again (after :meth:`EmbeddedNats.kill` or ``stop``) and wait until
        it has caught up with the cluster."""
        self._copy_authorization(node)
        node.start()
        self.wait_ready([node])

    def _copy_authorization(self, node: EmbeddedNats) -> None:
        if self.authorization is not None and node.authorization is not None:
            node.store_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.authorization, node.authorization)
            node.authorization.chmod(0o600)

    def wait_ready(self, nodes: list[EmbeddedNats] | None = None) -> None:
        """Until every (given) node says it is healthy: JetStream on, a meta leader known and
        its streams current (``/healthz`` without options checks all of that)."""
        deadline = time.monotonic() + self.ready_timeout_s
        waiting = list(nodes or self.nodes)
        while waiting:
            waiting = [node for node in waiting if not _healthy(node)]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(str(node.server_name) for node in waiting)
                raise EmbeddedNatsError(f"cluster nodes not healthy: {names}")
            if waiting:
                time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        log.info("nats.cluster.stopped")

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _healthy(node: EmbeddedNats) -> bool:
    if node.pid is None:
        return False
    url = f"http://{MONITOR_HOST}:{node.monitor_port}/healthz"
    with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=1) as resp:
        return bool(resp.status == 200 and json.loads(resp.read()).get("status") == "ok")
    return False
