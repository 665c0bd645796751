"""Seeding a service through its public HTTP API, as a client would."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from domain.access import Principal, Role
from services.adapters.identity.local import LocalIssuer
from services.bootstrap import Service
from services.settings import Settings

ACTOR = {"X-Actor": "municipality:oov-test"}
NETWORK = "nw-stad"
AREA = "GM0034-stad"


async def seed_network(client: httpx.AsyncClient, service: Service | None = None) -> int:
    """Form the test network with two allies through the public API; returns the position
    that reflects it, and waits (``min_position``) until the read models do."""
    r = await client.post(
        "/api/v1/networks",
        json={"network_id": NETWORK, "name": "Netwerk Stad", "area": AREA, "areas": [AREA]},
        headers=ACTOR,
    )
    assert r.status_code == 201, r.text
    for ally_id, communities in [("a1", ["moroccan", "youth"]), ("a2", ["surinamese"])]:
        r = await client.post(
            f"/api/v1/networks/{NETWORK}/allies",
            json={
                "ally_id": ally_id,
                "areas": [AREA],
                "themes": ["demonstration"],
                "consent_to_be_called": True,
                "personal": {
                    "name": f"Bondgenoot {ally_id}",
                    "phone": "+31 6 1234 5678",
                    "communities": communities,
                },
            },
            headers=ACTOR,
        )
        assert r.status_code == 201, r.text
    position = int(r.json()["position"])
    caught_up = await client.get(f"/api/v1/networks?min_position={position}")
    assert caught_up.status_code == 200, caught_up.text
    return position


def signal_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reporter": "a1",
        "source_role": "ally",
        "network_id": NETWORK,
        "area": AREA,
        "themes": ["demonstration"],
        "communities": ["youth"],
        "level": 4,
        "evidence": "observed",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "summary": "Jongeren op scooters onderweg naar de demonstratie",
    }
    body.update(overrides)
    return body


READER = "crisis:test-reader"
"""Who reads when a test names nobody: the crisis organisation (sees the call list whole)."""


SIGNAL_DESK = "coordinator:test-desk"


Target = Service | Settings | LocalIssuer
"""A service in this process, or the settings of one in its own process (same data dir and
URL: the same built-in issuer)."""


def issuer_of(target: Target) -> LocalIssuer:
    if isinstance(target, LocalIssuer):
        return target
    if isinstance(target, Settings):
        return LocalIssuer(target.data_dir, target.local_issuer, target.oidc_audience)
    assert target.issuer is not None
    return target.issuer


def token_for(target: Target, actor: str, ttl: timedelta = timedelta(hours=1)) -> str:
    """A bearer token of the service's built-in issuer for ``actor`` (``role:id``)."""
    role, _, id_ = actor.partition(":")
    return issuer_of(target).mint(Principal(Role(role), id_), datetime.now(UTC), ttl)


def bearer(target: Target, actor: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(target, actor)}"}


def signed_client(target: Target, **kw: Any) -> httpx.AsyncClient:
    """An HTTP client whose requests are signed as :func:`acting` says."""
    return httpx.AsyncClient(event_hooks={"request": [acting(target)]}, **kw)


def acting(target: Target) -> Callable[[httpx.Request], Awaitable[None]]:
    """A request hook that signs each request as a principal, as an identity provider would:
    the ``X-Actor: role:id`` the tests used to send becomes a bearer token of that principal
    (and is removed); a signal without one acts as its reporter; anything else as
    :data:`READER`. An explicit ``Authorization`` header is left alone."""

    issuer = issuer_of(target)

    async def sign(request: httpx.Request) -> None:
        if "authorization" in request.headers:
            return
        actor = request.headers.pop("x-actor", None)
        if actor is None and request.url.path.endswith("/signals") and request.method == "POST":
            actor = SIGNAL_DESK  # may enter any signal; its reporter, if the body names one
            with contextlib.suppress(ValueError, TypeError, KeyError, RecursionError):
                body = json.loads(request.content)
                actor = f"{body['source_role']}:{body['reporter']}"
        with contextlib.suppress(ValueError):
            request.headers["Authorization"] = f"Bearer {token_for(issuer, actor or READER)}"

    return sign


def client_for(service: Service) -> httpx.AsyncClient:
    """A client that reads its own writes, as the API documents: every write answers a
    ``position``, and each later read passes the highest one seen as ``min_position``. It
    signs every request (:func:`acting`)."""
    seen = {"position": 0}

    async def remember(response: httpx.Response) -> None:
        if response.request.method != "GET" and response.is_success:
            await response.aread()
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                seen["position"] = max(seen["position"], int(response.json()["position"]))

    async def wait_for_own_writes(request: httpx.Request) -> None:
        if request.method == "GET" and "min_position" not in request.url.params:
            request.url = request.url.copy_merge_params({"min_position": seen["position"]})

    return httpx.AsyncClient(
        base_url=service.http_url,
        timeout=10,
        event_hooks={"request": [acting(service), wait_for_own_writes], "response": [remember]},
    )
