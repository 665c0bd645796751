"""What the notifier sends (an :class:`AlertMessage`) and to whom (a :class:`Recipient`).

The message carries codes and numbers, and the reason police or municipality gave when they
declared the escalation; :attr:`AlertMessage.headline_nl` and :attr:`AlertMessage.body_nl`
render the Dutch text through :mod:`services.texts_nl.alerts`. It holds no personal data: no
names, phone numbers or signal texts, only counts, roles and the community keys of coverage
gaps (areas where no ally represents a community).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from events.envelope import AreaCode, AwareDatetime, Token
from events.escalation import EscalationId, Recipient, Trigger
from services.texts_nl import alerts

BandCode = Literal["normal", "elevated", "high", "critical"]
"""The tension band codes of ``projections.tension_map.Band`` (its members are accepted)."""
TrendCode = Literal["rising", "steady", "falling"]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
RoleCode = Literal["ally", "police", "municipality"]

DEPLOYMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Deployment = Annotated[str, StringConstraints(pattern=DEPLOYMENT_PATTERN)]
"""An opaque id of one deployment (one event store): letters, digits, ``_`` and ``-``, so
``<deployment>-<alert id>`` is a CAP token, an HTTP header value and an e-mail local part."""


def external_id(deployment: str | None, alert_id: str) -> str:
    """The id a notice has outside this service: ``<deployment>-<alert id>``. Alert ids are
    derived from escalation ids such as ``GM0599-zuid_demonstration-1``, which every fresh
    store (a reset, an exercise sharing a sender) hands out again; a receiver deduplicating on
    the plain id would drop a real alert as a repeat."""
    return f"{deployment}-{alert_id}" if deployment else alert_id


class Notice(Protocol):
    """What every channel can send: an id for receipts (``alert_id``) and one for receivers
    (``external_id``: CAP identifier, ``Idempotency-Key``, ``Message-ID``), and Dutch text."""

    @property
    def alert_id(self) -> str: ...
    @property
    def external_id(self) -> str: ...
    @property
    def sent_at(self) -> datetime: ...
    @property
    def headline_nl(self) -> str: ...
    @property
    def body_nl(self) -> str: ...
    @property
    def console_nl(self) -> str: ...
    def payload(self) -> dict[str, Any]: ...


class CallListSummary(BaseModel):
    """Numbers from the call list (belijst) for this escalation; never who is on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allies: int = Field(default=0, ge=0, description="allies to call")
    unreachable: int = Field(default=0, ge=0, description="allies that cannot be called")
    duty_contacts: int = Field(default=0, ge=0, description="on-duty police/municipality")


class AlertMessage(BaseModel):
    """One alert about one escalation round, as sent to every recipient."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: Token
    """The alert's id in this service's log (receipts use it)."""
    deployment: Deployment | None = None
    """Which deployment sends it: scopes :attr:`external_id` (``None``: unscoped)."""
    escalation_id: EscalationId
    level_name: str = Field(min_length=1, max_length=80)
    round: int = Field(ge=1)
    area: AreaCode
    area_name: str = Field(min_length=1, max_length=120)
    themes: tuple[Key, ...] = Field(default=(), max_length=10)
    band: BandCode
    trend: TrendCode
    score: float = Field(ge=0)
    suggested_grip: int | None = Field(default=None, ge=0, le=5)
    signal_count: int = Field(ge=0)
    signal_roles: tuple[RoleCode, ...] = ()
    call_list: CallListSummary = CallListSummary()
    coverage_gaps: tuple[Key, ...] = Field(default=(), max_length=20)
    sent_at: AwareDatetime
    ack_url: str | None = Field(default=None, max_length=300)
    trigger: Trigger = "band_crossed"
    """What opened the escalation: the headline says it first."""
    reason: str = Field(default="", max_length=500)
    """Why it was opened; shown when police or municipality declared it (a band crossing's
    reason is the workflow's summary of the numbers the alert shows anyway)."""

    @field_validator("band", "trend", mode="before")
    @classmethod
    def _enum_value(cls, value: Any) -> Any:
        # Accept the StrEnum members of projections.tension_map; store the plain code.
        return str(value) if isinstance(value, str) else value

    @property
    def external_id(self) -> str:
        return external_id(self.deployment, self.alert_id)

    def _fields_nl(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "escalation_id": self.escalation_id,
            "level_name": self.level_name,
            "round": self.round,
            "area": self.area,
            "area_name": self.area_name,
            "band_nl": alerts.band_nl(self.band),
            "trend_nl": alerts.trend_nl(self.trend),
            "themes_nl": alerts.themes_nl(self.themes),
            "score": alerts.score_nl(self.score),
            "signal_count": self.signal_count,
            "roles_nl": alerts.roles_nl(self.signal_roles),
            "grip_nl": alerts.grip_nl(self.suggested_grip),
            "allies": self.call_list.allies,
            "unreachable": self.call_list.unreachable,
            "duty_contacts": self.call_list.duty_contacts,
            "gaps_nl": alerts.gaps_nl(self.coverage_gaps),
            "sent_nl": alerts.when_nl(self.sent_at),
            "ack_nl": alerts.ack_nl(self.ack_url),
            "trigger_nl": alerts.trigger_nl(self.trigger),
            **alerts.reason_fields(self.trigger, self.reason),
        }

    @property
    def headline_nl(self) -> str:
        return alerts.HEADLINES[self.trigger].format(**self._fields_nl())

    @property
    def body_nl(self) -> str:
        return alerts.BODY.format(**self._fields_nl())

    @property
    def console_nl(self) -> str:
        fields = self._fields_nl()
        return alerts.CONSOLE.format(
            headline=alerts.HEADLINES[self.trigger].format(**fields), **fields
        )

    @property
    def cap_instruction_nl(self) -> str:
        return alerts.CAP_INSTRUCTION.format(**self._fields_nl())

    def payload(self) -> dict[str, Any]:
        """JSON body for webhooks: the message's fields plus the Dutch headline and body."""
        data = self.model_dump(mode="json")
        data["headline_nl"] = self.headline_nl
        data["body_nl"] = self.body_nl
        return data


__all__ = ["AlertMessage", "CallListSummary", "Deployment", "Notice", "Recipient", "external_id"]
