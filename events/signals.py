"""Signals (signalen): what allies, police and the municipality notice in their constituency."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from events.base import DomainEvent, event
from events.envelope import AreaCode, Token

MAX_SUMMARY_CHARS = 2000

SIGNAL_KIND = "signal"
URGENT_KIND = "urgent"
SIGNAL_KINDS = (SIGNAL_KIND, URGENT_KIND)
"""The two lanes of signals in the log: a major-incident signal (melding van een groot
incident) is stored under ``ev.urgent.…`` instead of ``ev.signal.…``, so the workflow reads it
on a consumer of its own and never behind a backlog of routine signals. Everything that folds
signals reads both."""


class SourceRole(StrEnum):
    """Who reports: an ally (bondgenoot), the police (politie) or the municipality (gemeente)."""

    ALLY = "ally"
    POLICE = "police"
    MUNICIPALITY = "municipality"


class Evidence(StrEnum):
    """How the reporter knows: seen themselves, heard from others, or expected (verwachting)."""

    OBSERVED = "observed"
    HEARD = "heard"
    EXPECTED = "expected"


class TensionLevel:
    """The reporter's judgement of tension, 1..5 (the 'thermometer', thermometeren).

    1 calm (rustig), 2 unrest (onrust), 3 tension (spanning: could escalate),
    4 high (hoog: confrontation likely), 5 acute (acuut: escalation imminent or under way).
    """

    MIN = 1
    MAX = 5


THEME_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
Theme = Annotated[str, StringConstraints(pattern=THEME_CODE.pattern)]

DEFAULT_THEMES: tuple[str, ...] = (
    "youth_nuisance",
    "discrimination",
    "polarisation",
    "radicalisation",
    "demonstration",
    "asylum_reception",
    "attack",
    "violent_incident",
    "accident",
    "public_order",
    "undermining",
    "lgbti",
    "unrest",
)
"""The default theme vocabulary (codes, from the domain's practice); a deployment may extend it.
Every code has a Dutch label in ``services.texts_nl.labels``."""
Community = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float | None = Field(default=None, ge=50.5, le=53.8)
    lon: float | None = Field(default=None, ge=3.2, le=7.3)
    description: str | None = Field(default=None, max_length=200)


class Reporter(BaseModel):
    """An ally id, or a police/municipality role (e.g. ``wijkagent``, ``oov-adviseur``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: SourceRole
    id: Token


@event
class SignalReceived(DomainEvent):
    TYPE = "nl.bondgenoten.signal.received"
    VERSION = 1

    signal_id: Token
    reporter: Reporter
    network_id: Token
    area: AreaCode
    themes: tuple[Theme, ...] = Field(min_length=1, max_length=5)
    communities: tuple[Community, ...] = Field(default=(), max_length=10)
    level: int = Field(ge=TensionLevel.MIN, le=TensionLevel.MAX)
    evidence: Evidence
    # Lenient text on purpose: signals in the log must stay readable. What is new is checked
    # strictly first (domain.intake.SignalSubmission: VisibleText).
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY_CHARS)
    location: Location | None = None
    major_incident: bool = False
    idempotency_key: str | None = Field(default=None, max_length=128)

    @property
    def source_role(self) -> SourceRole:
        return self.reporter.role

    @property
    def lane(self) -> str:
        """The aggregate kind it is stored under: its lane in the log (see :data:`SIGNAL_KINDS`)."""
        return URGENT_KIND if self.major_incident else SIGNAL_KIND
