"""Pulse checks (thermometeren) and the framework for action (handelingskader) built from them.

Police or the municipality ask a selected set of allies one question with a deadline. The
selection (by community, area, theme or by name) is resolved from the networks when the pulse is
started and recorded as the list of invited allies, so who was asked never changes afterwards.

Privacy: an ally's answer carries a tension level (1..5, like a signal's) in the clear, because
the tension map folds it, and the free text they wrote (note, advice) in ``personal``, sealed
under the ally's key like an enrolment's personal data; once the ally is erased it reads as
:class:`events.personal.ErasedPersonal`. The question and the framework are written by
professionals and name no ally: the framework refers to adopted advice by ally id only.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from events.base import DomainEvent, event
from events.envelope import AreaCode, AwareDatetime, Token
from events.escalation import EscalationId
from events.network import DutyRole
from events.personal import ErasedPersonal
from events.signals import Community, TensionLevel, Theme

PULSE_KIND = "pulse"
MAX_PULSE_INVITED = 60
"""Four networks' worth: a pulse check sounds out allies, it is not a mass mailing."""

# Free text is a plain ``str`` with a length limit: these models decode the log, where text must
# stay readable; the commands check new text strictly (``domain.input.VisibleText``).


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PulseSelection(_Frozen):
    """How the invited allies were chosen (what the asker asked for), next to whom it found."""

    communities: tuple[Community, ...] = ()
    themes: tuple[Theme, ...] = ()
    areas: tuple[AreaCode, ...] = ()
    allies: tuple[Token, ...] = ()


@event
class PulseCheckStarted(DomainEvent):
    TYPE = "nl.bondgenoten.pulse.started"

    pulse_id: Token
    area: AreaCode
    theme: Theme
    question: str = Field(min_length=1, max_length=500)
    deadline: AwareDatetime
    asked_by: DutyRole
    escalation_id: EscalationId | None = None
    selection: PulseSelection
    invited: tuple[Token, ...] = Field(min_length=1, max_length=MAX_PULSE_INVITED)


class PulseAnswerPersonal(_Frozen):
    """What the ally wrote: personal data (it may say who they spoke to, or reveal views)."""

    note: str = Field(default="", max_length=1000)
    advice: str = Field(default="", max_length=1000)


@event
class PulseAnswerRecorded(DomainEvent):
    """One ally's answer. ``area`` and ``theme`` are the pulse's, so the tension map folds the
    answer without looking the pulse up. ``late``: recorded after the deadline."""

    TYPE = "nl.bondgenoten.pulse.answer-recorded"
    PERSONAL_OWNER: ClassVar[tuple[str, str]] = ("ally", "ally_id")

    pulse_id: Token
    ally_id: Token
    area: AreaCode
    theme: Theme
    level: int = Field(ge=TensionLevel.MIN, le=TensionLevel.MAX)
    late: bool = False
    has_advice: bool = False
    """Whether ``personal.advice`` was filled in (readable without opening the sealed part)."""
    personal: PulseAnswerPersonal | ErasedPersonal


@event
class FrameworkCompiled(DomainEvent):
    """A framework for action (handelingskader) drawn up from a pulse's advice: which allies'
    advice was adopted, and the measures the professionals wrote. Compiling again replaces it."""

    TYPE = "nl.bondgenoten.pulse.framework-compiled"

    pulse_id: Token
    area: AreaCode
    escalation_id: EscalationId | None = None
    title: str = Field(min_length=1, max_length=200)
    adopted: tuple[Token, ...] = ()
    """The allies whose advice was adopted (their advice text stays in their sealed answer)."""
    measures: tuple[str, ...] = Field(default=(), max_length=20)


PULSE_EVENTS: tuple[type[DomainEvent], ...] = (
    PulseCheckStarted,
    PulseAnswerRecorded,
    FrameworkCompiled,
)
