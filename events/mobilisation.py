"""Mobilisation requests (inzetverzoeken): the crisis organisation asks allies to start
de-escalating conversations in the street, or to relay an explanation of what police and the
municipality do; each ally accepts or declines and reports back briefly, like an RSVP.

Privacy: the report an ally writes is personal data, sealed under their key (``personal``).
The request itself is written by the crisis organisation and names no one.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from events.base import DomainEvent, event
from events.envelope import AreaCode, AwareDatetime, Token
from events.escalation import EscalationId
from events.personal import ErasedPersonal

MOBILISATION_KIND = "mobilisation"
MAX_MOBILISED = 60
MobilisationTask = Literal["street_conversations", "relay_explanation"]
MobilisationAnswer = Literal["accept", "decline"]


@event
class MobilisationRequested(DomainEvent):
    TYPE = "nl.bondgenoten.mobilisation.requested"

    request_id: Token
    area: AreaCode
    task: MobilisationTask
    message: str = Field(min_length=1, max_length=1000)
    escalation_id: EscalationId | None = None
    invited: tuple[Token, ...] = Field(min_length=1, max_length=MAX_MOBILISED)
    respond_by: AwareDatetime


@event
class MobilisationAnswered(DomainEvent):
    TYPE = "nl.bondgenoten.mobilisation.answered"

    request_id: Token
    ally_id: Token
    answer: MobilisationAnswer


class MobilisationReportPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    report: str = Field(min_length=1, max_length=1000)


@event
class MobilisationReported(DomainEvent):
    """The ally's short report back (terugmelding) after doing what was asked."""

    TYPE = "nl.bondgenoten.mobilisation.reported"
    PERSONAL_OWNER: ClassVar[tuple[str, str]] = ("ally", "ally_id")

    request_id: Token
    ally_id: Token
    personal: MobilisationReportPersonal | ErasedPersonal


MOBILISATION_EVENTS: tuple[type[DomainEvent], ...] = (
    MobilisationRequested,
    MobilisationAnswered,
    MobilisationReported,
)
