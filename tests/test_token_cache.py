"""A bearer token verified once is remembered for a short while, never past its own expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from domain.access import Principal, Role
from services.adapters.identity import oidc
from services.adapters.identity.local import LocalIssuer
from services.adapters.identity.oidc import OidcAuthenticator, StaticJwks
from services.app.ports import Unauthenticated


def authenticator(issuer: LocalIssuer) -> OidcAuthenticator:
    return OidcAuthenticator(
        StaticJwks(issuer.jwks()), issuer=issuer.issuer, audience=issuer.audience, leeway_s=0
    )


async def test_a_verified_token_is_not_verified_again_until_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = LocalIssuer(tmp_path, "https://bondgenoten.test")
    auth = authenticator(issuer)
    crisis = Principal(Role.CRISIS, "sgbo")
    now = datetime.now(UTC)
    token = issuer.mint(crisis, now, timedelta(hours=1))
    decoded: list[str] = []
    decode = jwt.decode

    def counting(*args: Any, **kw: Any) -> Any:
        decoded.append(args[0])
        return decode(*args, **kw)

    monkeypatch.setattr(oidc.jwt, "decode", counting)
    assert await auth.authenticate(token) == crisis
    assert await auth.authenticate(token) == crisis
    assert len(decoded) == 1
    # Remembered only while it is valid: past its expiry (by the cache's clock) it is checked
    # again, which an expired token does not pass.
    monkeypatch.setattr(oidc.time, "time", lambda: (now + timedelta(hours=2)).timestamp())
    assert await auth.authenticate(token) == crisis  # jwt's own clock: still valid
    assert len(decoded) == 2
    expired = issuer.mint(crisis, now - timedelta(hours=2), timedelta(hours=1))
    with pytest.raises(Unauthenticated):
        await auth.authenticate(expired)
