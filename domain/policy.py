"""Escalation policy per municipality (opschalingsbeleid): when to open, whom to alert, how long
to wait for an acknowledgement before moving up a level.

Loaded from TOML (see ``services/config/escalation-policy.toml``)::

    [default]                      # required: the fallback for every municipality
    open_band = "high"
    [[default.levels]]
    name = "Officier van dienst gemeente (OOV)"
    ack_timeout_s = 300
    repeat = 2
    [[default.levels.recipients]]
    name = "OOV piket"
    channels = ["webhook", "email"]
    addresses = { webhook = "https://…", email = "oov@…" }

    [GM0034]                       # Almere: keys it omits are taken from [default]

Everything here is pure: parsing takes the text, the caller reads the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from events.envelope import AreaCode, municipality_of
from events.escalation import Band, ConveningMode, Grip, Recipient, band_rank

DEFAULT_KEY = "default"
KNOWN_CHANNELS = frozenset({"webhook", "cap", "email", "console"})
_MUNICIPALITY_KEY = re.compile(r"GM[0-9]{4}")  # fullmatch: ASCII digits, no trailing newline


class Level(BaseModel):
    """One rung of the alert ladder; alerted ``repeat`` times before moving to the next.
    Alerts count the rungs from 1: level 1 is ``EscalationPolicy.levels[0]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    ack_timeout_s: float = Field(gt=0, le=24 * 3600)
    repeat: int = Field(default=1, ge=1, le=10)

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        for r in self.recipients:
            unknown = [c for c in r.channels if c not in KNOWN_CHANNELS]
            if unknown:
                raise ValueError(
                    f"recipient {r.name!r}: unknown channel(s) {unknown}; "
                    f"known: {sorted(KNOWN_CHANNELS)}"
                )
            missing = [c for c in r.channels if not r.address(c)]
            if missing:
                raise ValueError(f"recipient {r.name!r} has no address for channel(s) {missing}")
        return self


Place = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ConveningDefaults(BaseModel):
    """How the workflow proposes a convening (bijeenkomst) in this municipality: the crisis
    organisation may change any of it when it calls the meeting."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: ConveningMode = "call"
    place: str = Field(default="", max_length=200)
    """Where: an address, a dial-in, or the name of the app group."""
    places: dict[AreaCode, Place] = Field(default_factory=dict)
    """Where, per area (``GM0034-poort``): each network meets on its own ground. An area
    without an entry meets at ``place``. TOML: ``[<key>.convening.places]``."""
    lead_min: int = Field(default=30, ge=5, le=24 * 60)
    """The meeting starts this many minutes after the proposal."""
    rsvp_min: int = Field(default=15, ge=1)
    """Answers are due this many minutes after the proposal (before the meeting starts)."""
    quorum: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _deadline_before_start(self) -> Self:
        if self.rsvp_min >= self.lead_min:
            raise ValueError("rsvp_min must be less than lead_min: answers before the meeting")
        return self

    def place_for(self, area: str) -> str:
        """The area's own place, else the municipality's ``place``."""
        return self.places.get(area, self.place)


class InvitationPolicy(BaseModel):
    """How allies are invited to a convening and reminded to answer: channels in order. For
    ``email`` each ally's own address is used; other channels (a messaging gateway's webhook,
    the console) take the address given here. CAP is for the crisis organisation only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[str, ...] = ("email",)
    addresses: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> Self:
        allowed = KNOWN_CHANNELS - {"cap"}
        unknown = [c for c in self.channels if c not in allowed]
        if unknown:
            raise ValueError(f"unknown invitation channel(s) {unknown}; known: {sorted(allowed)}")
        missing = [c for c in self.channels if c != "email" and not self.addresses.get(c)]
        if missing:
            raise ValueError(f"invitation channel(s) {missing} need an address")
        return self


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    open_band: Band = "high"
    min_independent_reporters: int = Field(default=2, ge=1)
    min_roles: int = Field(default=2, ge=1)
    levels: tuple[Level, ...] = Field(min_length=1)
    convening: ConveningDefaults = ConveningDefaults()
    invitations: InvitationPolicy = InvitationPolicy()
    open_on_watch: bool = False
    """Open an escalation (trigger ``slow_burn``) when a cell goes on watch, a slow burn on
    the tension map's slow scale, whatever its band (``projections.tension_map``)."""
    network_digest: tuple[Recipient, ...] = ()
    """Who gets the weekly digest of this municipality's networks (the network coordinators,
    as a function); none: no digest. TOML: ``[[<key>.network_digest]]``."""

    @model_validator(mode="after")
    def _digest_reachable(self) -> Self:
        for r in self.network_digest:
            unknown = [c for c in r.channels if c not in KNOWN_CHANNELS - {"cap"}]
            missing = [c for c in r.channels if not r.address(c)]
            if unknown or missing:
                raise ValueError(
                    f"network_digest recipient {r.name!r}: unknown channel(s) {unknown} or "
                    f"no address for {missing}"
                )
        return self


class PolicyError(ValueError):
    """The policy file is wrong; the message names the municipality, level and field."""


def parse_policies(toml_text: str) -> dict[str, EscalationPolicy]:
    """Parse and validate all policies. A municipality table inherits the keys it omits from
    ``[default]`` (a shallow merge: a municipality's ``levels`` replaces the default's whole)."""
    try:
        raw = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"escalation policy is not valid TOML: {exc}") from None
    if DEFAULT_KEY not in raw:
        raise PolicyError(f"escalation policy needs a [{DEFAULT_KEY}] table (the fallback)")
    default_raw = raw[DEFAULT_KEY]
    policies: dict[str, EscalationPolicy] = {}
    for key, table in raw.items():
        if key != DEFAULT_KEY and not _MUNICIPALITY_KEY.fullmatch(key):
            raise PolicyError(
                f"escalation policy [{key}]: key must be 'default' or a CBS municipality code "
                "such as 'GM0034'"
            )
        if not isinstance(table, dict):
            raise PolicyError(f"escalation policy [{key}]: must be a table, not a value")
        merged = table if key == DEFAULT_KEY else {**default_raw, **table}
        policies[key] = _validate(key, merged)
    return policies


def _validate(key: str, table: Mapping[str, Any]) -> EscalationPolicy:
    try:
        return EscalationPolicy.model_validate(table)
    except ValidationError as exc:
        errors = exc.errors()
        # pydantic also reports "too short" for a tuple whose items failed; that is noise.
        failed = [err["loc"] for err in errors if err["type"] != "too_short"]
        relevant = [
            err
            for err in errors
            if err["type"] != "too_short"
            or not any(loc[: len(err["loc"])] == err["loc"] for loc in failed)
        ]
        problems = "; ".join(_describe(err["loc"], err["msg"], table) for err in relevant)
        raise PolicyError(f"escalation policy [{key}]: {problems}") from None


def _describe(loc: Iterable[int | str], msg: str, table: Mapping[str, Any]) -> str:
    """``levels.1.ack_timeout_s`` becomes ``level 2 ('Teamchef…') ack_timeout_s``: levels are
    counted from 1, as in alerts and timelines."""
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "levels" and isinstance(parts[1], int):
        index = parts[1]
        levels = table.get("levels")
        name = ""
        if isinstance(levels, list) and index < len(levels) and isinstance(levels[index], dict):
            name = f" ({levels[index].get('name', '?')!r})"
        rest = ".".join(str(p) for p in parts[2:]) or "level"
        return f"level {index + 1}{name} {rest}: {msg}"
    where = ".".join(str(p) for p in parts) or "table"
    return f"{where}: {msg}"


def policy_for(policies: Mapping[str, EscalationPolicy], area: str) -> EscalationPolicy:
    """The policy of the area's municipality (first 6 characters), else the default."""
    found = policies.get(municipality_of(area)) or policies.get(DEFAULT_KEY)
    if found is None:
        raise PolicyError(f"no escalation policy for {area} and no [{DEFAULT_KEY}] policy")
    return found


def should_open(
    policy: EscalationPolicy,
    band: Band,
    distinct_reporters: int,
    distinct_roles: int,
    major_incident: bool,
) -> bool:
    """Open an escalation when the band reaches ``open_band`` with enough corroboration:
    distinct reporters ≥ ``min_independent_reporters`` OR distinct roles ≥ ``min_roles``
    (one ally repeating himself is not corroboration; an ally plus the police is).

    A major incident (groot incident, e.g. an attack) opens at once: waiting for a second
    reporter would cost the minutes that matter."""
    if major_incident:
        return True
    if band_rank(band) < band_rank(policy.open_band):
        return False
    return (
        distinct_reporters >= policy.min_independent_reporters or distinct_roles >= policy.min_roles
    )


VIOLENT_THEMES = frozenset({"attack", "violent_incident"})


def suggest_grip(band: Band, themes: Iterable[str], major_incident: bool) -> Grip:
    """A *suggestion* of the GRIP level for the crisis organisation, never a decision.

    * critical + a violent theme (attack, violent_incident) → GRIP 2; critical otherwise → 1
    * high → 1 only for a major incident (2 if also violent), else 0 (routine: the base team)
    * elevated / normal → 0, or 1 for a major incident

    Never above 2: GRIP 3-5 concern municipality- or region-wide effects that a tension
    picture of one area cannot judge; the mayor decides those.
    """
    violent = not VIOLENT_THEMES.isdisjoint(themes)
    if band == "critical":
        return 2 if violent else 1
    if major_incident:
        return 2 if violent and band == "high" else 1
    return 0
