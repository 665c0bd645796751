"""Constituency questions (vragen uit de achterban): an ally raises a question on behalf of
their constituency, it is routed to the police or the municipality, answered, and the answer is
relayed back. Unanswered past the configured time it escalates to the next level of the
policy, once.

Privacy: the question as the ally put it is personal data (it can reveal who asks and what
they think): ``personal``, sealed under the ally's key. The answer is written by a
professional for the constituency and is not the ally's data.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from events.base import DomainEvent, event
from events.envelope import AreaCode, AwareDatetime, Token, deterministic_id
from events.escalation import EscalationId
from events.network import DutyRole
from events.personal import ErasedPersonal

QUESTION_KIND = "question"
RaisedVia = Literal["link", "call_taker"]


def question_timer_id(question_id: str) -> str:
    """The one escalation timer of a question: deterministic, so a replay schedules it again
    under the same id and the scheduler keeps one."""
    return deterministic_id("question-timer", question_id)


class QuestionPersonal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=1000)


@event
class QuestionRaised(DomainEvent):
    TYPE = "nl.bondgenoten.question.raised"
    PERSONAL_OWNER: ClassVar[tuple[str, str]] = ("ally", "ally_id")

    question_id: Token
    network_id: Token
    area: AreaCode
    ally_id: Token
    routed_to: DutyRole
    raised_via: RaisedVia
    escalation_id: EscalationId | None = None
    timer_id: str
    escalate_at: AwareDatetime
    personal: QuestionPersonal | ErasedPersonal


@event
class QuestionAnswered(DomainEvent):
    TYPE = "nl.bondgenoten.question.answered"

    question_id: Token
    answer: str = Field(min_length=1, max_length=2000)


@event
class AnswerRelayed(DomainEvent):
    """The answer was brought back: to whom (e.g. ``the ally``, ``the mosque board``: a
    description, never contact details), and when."""

    TYPE = "nl.bondgenoten.question.answer-relayed"

    question_id: Token
    to: str = Field(min_length=1, max_length=200)
    relayed_at: AwareDatetime


@event
class QuestionEscalated(DomainEvent):
    """Unanswered past its time: put to the policy's next level (by function, never a person)."""

    TYPE = "nl.bondgenoten.question.escalated"

    question_id: Token
    timer_id: str
    level: int = Field(ge=1)
    level_name: str = Field(min_length=1, max_length=120)
    recipients: tuple[Token, ...] = ()


QUESTION_EVENTS: tuple[type[DomainEvent], ...] = (
    QuestionRaised,
    QuestionAnswered,
    AnswerRelayed,
    QuestionEscalated,
)
