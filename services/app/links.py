"""Personal signed links: each answers for one person and one thing only, until it expires, so
nobody can act in someone else's name by guessing ids, nor with an old link forever.

* RSVP links (reageerlinks, ``/rsvp/<convening>.<ally>.<expires>.<mac>``): an invited ally
  answers for one convening, as ``Principal(ALLY, ally)``; valid until some hours after the
  meeting starts (:data:`RSVP_VALID_AFTER_START`).
* Acknowledge links (``/bevestigen/<escalation>.<recipient>.<expires>.<mac>``): the alerted
  function (piket) confirms it is on it, as ``Principal(CRISIS, recipient)``; valid
  :data:`ACK_VALID` after the alert.

The ids are pseudonymous tokens; the second is the id of the principal the link acts as, so it
must be a :data:`domain.access.ID` (an event token may not be: ``A-17``): no such link is
issued, and one that names no principal is an unknown link. ``expires`` is a Unix time inside
the signed message; the MAC (HMAC-SHA256 keyed with a secret, compared in constant time,
domain-separated per purpose) proves we issued the link. The secret comes from
``BONDGENOTEN_RSVP_SECRET`` or, when unset, from the shared secrets bucket, so every instance
and restart accepts the links.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import structlog

from domain.access import Principal, Role
from domain.errors import DomainError, NotFound

log = structlog.get_logger(__name__)
MAC_HEX = 32  # 128 bits
_PART = r"([A-Za-z0-9_-]{1,128})"
RSVP_VALID_AFTER_START = timedelta(hours=6)
RSVP_VALID_UNKNOWN_START = timedelta(days=7)
ACK_VALID = timedelta(hours=24)


class LinkExpired(DomainError):
    """A link we issued, past its expiry: the page says so in Dutch."""

    code = "link_expired"


class SignedLinks:
    def __init__(
        self, secret: bytes, base_url: str, *, purpose: str, path: str, holder: Role
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes")
        self._secret = secret
        self.purpose = purpose
        self.holder = holder
        """The role the link's second id acts as."""
        self.path = path
        self.base_url = base_url.rstrip("/")
        self._token = re.compile(rf"^{_PART}\.{_PART}\.([0-9]{{1,12}})\.([0-9a-f]{{{MAC_HEX}}})$")

    def _mac(self, first: str, second: str, expires: int) -> str:
        message = f"{self.purpose}:{first}:{second}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:MAC_HEX]

    def token(self, first: str, second: str, expires: datetime) -> str:
        """Raises ``ValueError`` when ``second`` cannot be a principal id: the link could never
        be used."""
        Principal(self.holder, second)
        at = int(expires.timestamp())
        return f"{first}.{second}.{at}.{self._mac(first, second, at)}"

    def url(self, first: str, second: str, expires: datetime) -> str:
        return f"{self.base_url}{self.path}/{self.token(first, second, expires)}"

    def issue(self, first: str, second: str, expires: datetime) -> str | None:
        """:meth:`url`, or ``None`` (logged) when ``second`` cannot be a principal id: the
        message then goes without a link rather than with one that cannot work."""
        try:
            return self.url(first, second, expires)
        except ValueError:
            log.warning("link.not_issued", purpose=self.purpose, holder=self.holder.value)
            return None

    def parse(self, token: str, now: datetime) -> tuple[str, Principal]:
        """The first id and the principal of a link we issued and that is still valid at
        ``now``: ``NotFound`` for anything we did not issue or whose second id names no
        principal, :class:`LinkExpired` for one past its time."""
        match = self._token.fullmatch(token)
        if match is not None:
            first, second, at, mac = match.groups()
            expected = self._mac(first, second, int(at))
            if hmac.compare_digest(mac.encode(), expected.encode()):
                if now >= datetime.fromtimestamp(int(at), UTC):
                    raise LinkExpired("this link has expired", field="token")
                try:
                    return first, Principal(self.holder, second)
                except ValueError:
                    pass  # signed before links were refused for such ids: it acts as nobody
        raise NotFound("unknown or altered link", field="token")


def rsvp_links(secret: bytes, base_url: str) -> SignedLinks:
    """``url(convening_id, ally_id, expires)``: the page where an invited ally answers."""
    return SignedLinks(secret, base_url, purpose="rsvp", path="/rsvp", holder=Role.ALLY)


def ack_links(secret: bytes, base_url: str) -> SignedLinks:
    """``url(escalation_id, recipient, expires)``: the page where an alerted function
    acknowledges."""
    return SignedLinks(secret, base_url, purpose="ack", path="/bevestigen", holder=Role.CRISIS)


def rsvp_expiry(starts_at: datetime | None, now: datetime) -> datetime:
    """An answer link works until some hours after the meeting starts (latecomers may still
    say they come); unknown start: a week."""
    if starts_at is None:
        return now + RSVP_VALID_UNKNOWN_START
    return starts_at + RSVP_VALID_AFTER_START


PULSE_VALID_AFTER_DEADLINE = timedelta(days=2)
"""A pulse link still works two days after the deadline: a late answer is recorded as late."""


def pulse_links(secret: bytes, base_url: str) -> SignedLinks:
    """``url(pulse_id, ally_id, expires)``: the page where an asked ally answers a pulse."""
    return SignedLinks(secret, base_url, purpose="pulse", path="/peiling", holder=Role.ALLY)


def mobilisation_links(secret: bytes, base_url: str) -> SignedLinks:
    """``url(request_id, ally_id, expires)``: the page where an asked ally accepts or declines
    a mobilisation request and reports back."""
    return SignedLinks(secret, base_url, purpose="mobilisation", path="/inzet", holder=Role.ALLY)
