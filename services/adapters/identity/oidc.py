"""OIDC bearer tokens (JWT) validated with PyJWT against the issuer's JWKS: signature, ``iss``,
``aud``, ``exp`` and ``nbf`` (with a small leeway), the role from a configurable claim (a nested
path such as ``realm_access.roles`` for Keycloak) and the principal's id from another.

The built-in issuer (:mod:`services.adapters.identity.local`) is validated through this very
class: only the source of the keys differs (its own JWKS instead of a JWKS URL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import structlog
from cachetools import TTLCache

from domain.access import ID, OUTSIDE_ROLES, Forbidden, Principal, Role
from services.app.ports import Unauthenticated

log = structlog.get_logger(__name__)

ALGORITHMS = ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA")
"""Asymmetric algorithms only: ``none`` and shared-secret HMAC are never accepted."""


VERIFIED_FOR_S = 60.0
VERIFIED_KEPT = 10_000


class KeySource(Protocol):
    """Where the issuer's public keys come from: a JWKS URL, or the local issuer's own set."""

    async def key_for(self, token: str) -> jwt.PyJWK: ...


class JwksUrl:
    """The issuer's JWKS URL (cached by PyJWT's client; fetched off the event loop)."""

    def __init__(self, url: str, *, lifespan_s: int = 300) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=lifespan_s, timeout=5)

    async def key_for(self, token: str) -> jwt.PyJWK:
        return await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)


class StaticJwks:
    """A JWK set held in memory (the built-in issuer's public keys)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._set = jwt.PyJWKSet.from_dict(jwks)

    async def key_for(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._set.keys:
            if key.key_id == kid:
                return key
        raise jwt.InvalidTokenError("unknown signing key")


@dataclass(frozen=True)
class ClaimMapping:
    roles_claim: str = "roles"
    """A claim holding a role or a list of roles; dots descend (``realm_access.roles``)."""
    id_claim: str = "sub"
    """The claim naming who acts; it must be one id token (a-z, 0-9, ``-``, ``_``)."""


def claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def principal_from(claims: dict[str, Any], mapping: ClaimMapping) -> Principal:
    subject = claim(claims, mapping.id_claim)
    if not isinstance(subject, str) or not ID.match(subject):
        raise Unauthenticated(f"claim {mapping.id_claim} is not a valid principal id")
    found = claim(claims, mapping.roles_claim)
    names: Sequence[Any] = [found] if isinstance(found, str) else found or []
    roles = [Role(n) for n in names if isinstance(n, str) and n in OUTSIDE_ROLES]
    if not roles:
        raise Forbidden(
            f"the credential grants no role of this service ({mapping.roles_claim})",
            field="Authorization",
        )
    return Principal(roles[0], subject)


class OidcAuthenticator:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        mapping: ClaimMapping | None = None,
        leeway_s: float = 30.0,
    ) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.mapping = mapping or ClaimMapping()
        self._leeway = leeway_s
        # A token verified once stands for a minute (never past its own expiry): checking an
        # ES256 signature on every request cost a seventh of the service's CPU under load.
        self._verified: TTLCache[str, tuple[Principal, float]] = TTLCache(
            maxsize=VERIFIED_KEPT, ttl=VERIFIED_FOR_S
        )

    async def authenticate(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1] + self._leeway:
            return known[0]
        principal, expires = await self._verify(token)
        self._verified[token] = (principal, expires)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            key = await self._keys.key_for(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("oidc.jwks_unreachable", error=type(exc).__name__)
            raise Unauthenticated("the identity provider's keys could not be fetched") from None
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except (jwt.PyJWTError, ValueError):
            raise Unauthenticated("invalid token") from None
        return principal_from(claims, self.mapping), float(claims["exp"])
