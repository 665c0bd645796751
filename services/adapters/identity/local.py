"""The built-in issuer for the embedded default and the demo: an ES256 key pair generated on
first start and kept in the data directory (mode 0600), its public JWKS served at
``/.well-known/jwks.json``. Tokens it mints are validated by
:class:`services.adapters.identity.oidc.OidcAuthenticator`, exactly like an external issuer's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from domain.access import Principal
from services.adapters.private_files import create_private

AUDIENCE = "bondgenoten"
KEY_FILE = "issuer-es256.pem"


def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key at ``path``; created first if absent (atomically: several processes may start
    at once, and none may read a half-written key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = create_private(
        path,
        lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return loaded


class LocalIssuer:
    def __init__(self, data_dir: Path, issuer: str, audience: str = AUDIENCE) -> None:
        self.key_path = data_dir / KEY_FILE
        self._key = _load_or_create(self.key_path)
        self.issuer = issuer
        self.audience = audience
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key()))
        self.kid = _thumbprint(public)
        self._public = {**public, "kid": self.kid, "use": "sig", "alg": "ES256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._public]}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        }

    def mint(self, principal: Principal, now: datetime, ttl: timedelta) -> str:
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": principal.id,
            "roles": [principal.role.value],
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint of an EC key: a stable ``kid``."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
