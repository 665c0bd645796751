"""Who is asking: the bearer token of every API request becomes a :class:`Principal` (through
the :class:`services.app.ports.Authenticator`: OIDC, or the built-in issuer through the same
validation), and the route's action from :data:`domain.access.MATRIX` decides. 401 without or
with an invalid credential (``WWW-Authenticate: Bearer``), 403 for a role not allowed; every
denial is kept in the audit trail (ids only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.access import MATRIX, Forbidden, Principal, allowed
from services.app.audit import Recorder
from services.app.ports import Authenticator, Clock, Unauthenticated

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An OIDC access token (JWT) of the configured identity provider, or one of the "
    "built-in issuer (`bondgenoten token --role … --id …`).",
)
ANONYMOUS = "anonymous"


def origin_of(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def route_of(request: Request) -> str:
    """The route's template (``/api/v1/escalations/{escalation_id}``), never the path a client
    typed: audit entries and logs carry no client text."""
    return getattr(request.scope.get("route"), "path", None) or "unrouted"


@dataclass
class Auth:
    authenticator: Authenticator
    audit: Recorder
    clock: Clock

    async def record(
        self, actor: str, action: str, object_: str, result: str, request: Request, detail: str = ""
    ) -> None:
        """An entry from ``http`` and the client's address, on the recorder's failure policy:
        an audit outage never turns a 401 or 403 into a 503."""
        address = origin_of(request)
        await self.audit.record(
            actor, action, object_, result, channel="http", address=address, detail=detail
        )

    async def principal(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None, action: str
    ) -> Principal:
        try:
            if credentials is None or not credentials.credentials:
                raise Unauthenticated("a bearer token is required (Authorization: Bearer …)")
            principal = await self.authenticator.authenticate(credentials.credentials)
        except Unauthenticated as exc:
            await self.record(
                ANONYMOUS, action, route_of(request), "unauthenticated", request, str(exc)
            )
            raise
        except Forbidden as exc:
            await self.record(ANONYMOUS, action, route_of(request), "denied", request, str(exc))
            raise
        if not allowed(principal, action):
            await self.record(principal.actor, action, route_of(request), "denied", request)
            raise Forbidden(f"role {principal.role.value} may not {action}", field="Authorization")
        request.state.principal = principal
        return principal

    def require(self, action: str) -> Callable[..., Awaitable[Principal]]:
        """A FastAPI dependency: the principal, allowed to do ``action``."""
        if action not in MATRIX:
            raise ValueError(f"unknown action {action}")  # a route declared with a typo: at start

        async def dependency(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
        ) -> Principal:
            return await self.principal(request, credentials, action)

        return dependency


def authenticated(request: Request) -> Principal:
    """The principal the route's own :meth:`Auth.require` dependency authenticated and allowed
    (FastAPI runs a route's ``dependencies`` before its parameters' ones)."""
    principal: Principal = request.state.principal
    return principal


def action_extra(action: str) -> dict[str, Any]:
    """The OpenAPI extension naming a route's action in the role × action matrix."""
    return {"x-action": action, "x-roles": [r for r in sorted(r.value for r in MATRIX[action])]}
