"""Personal answer links for invitations (reageerlinks): each invited ally gets a link that
answers for them only, so an answer cannot be given in someone else's name by guessing ids.

The token is ``<convening id>.<ally id>.<HMAC-SHA256>``: the ids are pseudonymous tokens, the
MAC (keyed with a secret, compared in constant time) proves the link was issued by us. The
secret comes from ``BONDGENOTEN_RSVP_SECRET`` or, when unset, from the shared secrets bucket
(:mod:`services.adapters.jetstream.secrets`), so every instance and restart accepts the links.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from domain.errors import NotFound

MAC_HEX = 32  # 128 bits
_TOKEN = re.compile(rf"^([A-Za-z0-9_-]{{1,64}})\.([A-Za-z0-9_-]{{1,64}})\.([0-9a-f]{{{MAC_HEX}}})$")


class RsvpLinks:
    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < 16:
            raise ValueError("the RSVP secret must be at least 16 bytes")
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _mac(self, convening_id: str, ally_id: str) -> str:
        message = f"{convening_id}:{ally_id}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:MAC_HEX]

    def token(self, convening_id: str, ally_id: str) -> str:
        return f"{convening_id}.{ally_id}.{self._mac(convening_id, ally_id)}"

    def url(self, convening_id: str, ally_id: str) -> str:
        return f"{self.base_url}/rsvp/{self.token(convening_id, ally_id)}"

    def parse(self, token: str) -> tuple[str, str]:
        """``(convening id, ally id)`` of a link we issued; ``NotFound`` for anything else."""
        match = _TOKEN.match(token)
        if match is not None:
            convening_id, ally_id, mac = match.groups()
            expected = self._mac(convening_id, ally_id).encode()
            if hmac.compare_digest(mac.encode(), expected):
                return convening_id, ally_id
        raise NotFound("unknown or altered link", field="token")
