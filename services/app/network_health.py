"""Network health as people see it: every flag with its Dutch reason, and the allies it names
as the reader's role may see them.

The flags themselves are judged by :func:`projections.network_health.network_health`; this
module adds the reason text (:mod:`services.texts_nl.network`) and applies need to know:
roles in :data:`domain.access.SEES_CONTACT_DETAILS` (those who call) see the allies' ids, so
they can find them on the call list; everyone else sees stable pseudonyms, and a list of
networks for all readers (``read.networks``) shows only how many.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.access import Principal
from projections.network_health import HealthFlag, NetworkHealth
from services.app.need_to_know import Pseudonyms, sees_contact_details
from services.texts_nl.network import flag_reason


class FlagView(BaseModel):
    """A health flag: ``code`` for machines, ``reason`` in Dutch for people."""

    model_config = ConfigDict(frozen=True)

    code: str
    reason: str
    params: dict[str, Any] = Field(default_factory=dict)
    allies: tuple[str, ...] = ()


class NetworkHealthView(NetworkHealth):
    flags: tuple[FlagView, ...] = ()  # type: ignore[assignment]


def flag_view(flag: HealthFlag, allies: tuple[str, ...]) -> FlagView:
    return FlagView(
        code=flag.code,
        reason=flag_reason(flag.code, flag.params),
        params=dict(flag.params),
        allies=allies,
    )


def health_view(
    health: NetworkHealth, principal: Principal | None, pseudonym: Pseudonyms | None
) -> NetworkHealthView:
    """``health`` for ``principal``: allies by id for those who call, by pseudonym for the
    other roles given ``pseudonym``, and not at all without one (counts only)."""
    reveal = principal is not None and sees_contact_details(principal)
    flags = []
    for flag in health.flags:
        if reveal:
            allies = flag.allies
        elif pseudonym is not None:
            allies = tuple(pseudonym(a) for a in flag.allies)
        else:
            allies = ()
        flags.append(flag_view(flag, allies))
    data = health.model_dump(exclude={"flags"})
    return NetworkHealthView(**data, flags=tuple(flags))
