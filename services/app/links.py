"""Personal signed links: each answers for one person and one thing only, so nobody can act in
someone else's name by guessing ids.

* RSVP links (reageerlinks, ``/rsvp/<convening>.<ally>.<mac>``): an invited ally answers.
* Acknowledge links (``/bevestigen/<escalation>.<recipient>.<mac>``): the alerted function
  (piket) confirms it is on it; the link opens a Dutch confirmation page.

The ids are pseudonymous tokens; the MAC (HMAC-SHA256 keyed with a secret, compared in constant
time, domain-separated per purpose) proves we issued the link. The secret comes from
``BONDGENOTEN_RSVP_SECRET`` or, when unset, from the shared secrets bucket, so every instance and
restart accepts the links.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from domain.errors import NotFound

MAC_HEX = 32  # 128 bits
_PART = r"([A-Za-z0-9_-]{1,128})"


class SignedLinks:
    def __init__(self, secret: bytes, base_url: str, *, purpose: str, path: str) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes")
        self._secret = secret
        self._purpose = purpose
        self._path = path
        self.base_url = base_url.rstrip("/")
        self._token = re.compile(rf"^{_PART}\.{_PART}\.([0-9a-f]{{{MAC_HEX}}})$")

    def _mac(self, first: str, second: str) -> str:
        # RSVP links keep the message they were issued with before purposes existed.
        prefix = f"{self._purpose}:" if self._purpose != "rsvp" else ""
        message = f"{prefix}{first}:{second}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:MAC_HEX]

    def token(self, first: str, second: str) -> str:
        return f"{first}.{second}.{self._mac(first, second)}"

    def url(self, first: str, second: str) -> str:
        return f"{self.base_url}{self._path}/{self.token(first, second)}"

    def parse(self, token: str) -> tuple[str, str]:
        """The two ids of a link we issued; ``NotFound`` for anything else."""
        match = self._token.fullmatch(token)
        if match is not None:
            first, second, mac = match.groups()
            if hmac.compare_digest(mac.encode(), self._mac(first, second).encode()):
                return first, second
        raise NotFound("unknown or altered link", field="token")


def rsvp_links(secret: bytes, base_url: str) -> SignedLinks:
    """``url(convening_id, ally_id)``: the page where an invited ally answers."""
    return SignedLinks(secret, base_url, purpose="rsvp", path="/rsvp")


def ack_links(secret: bytes, base_url: str) -> SignedLinks:
    """``url(escalation_id, recipient)``: the page where an alerted function acknowledges."""
    return SignedLinks(secret, base_url, purpose="ack", path="/bevestigen")
