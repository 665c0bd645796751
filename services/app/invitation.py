"""Invitations to a convening, reminders to answer, and word that it is off (uitnodiging,
herinnering, afgelast), sent to allies.

Like an alert it carries codes and times, no personal data: the ally is addressed by the
recipient (their own contact details), not named in the payload a gateway receives.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import AreaCode, AwareDatetime, Token
from events.escalation import ConveningMode, EscalationId
from services.app.messages import Deployment, external_id
from services.texts_nl import alerts

InvitationKind = Literal["invitation", "reminder", "cancellation"]


class InvitationMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: Token
    """The notice's id in this service's log (receipts use it, as for alerts)."""
    deployment: Deployment | None = None
    """Which deployment sends it: scopes :attr:`external_id`, as for alerts."""
    kind: InvitationKind
    ally_id: Token
    """A pseudonymous id, for a messaging gateway that knows the allies; never a name."""
    escalation_id: EscalationId
    convening_id: Token
    area: AreaCode
    area_name: str = Field(min_length=1, max_length=120)
    theme: str
    mode: ConveningMode
    place: str = Field(default="", max_length=200)
    starts_at: AwareDatetime
    rsvp_deadline: AwareDatetime
    sent_at: AwareDatetime
    rsvp_url: str | None = Field(default=None, max_length=300)

    @property
    def external_id(self) -> str:
        return external_id(self.deployment, self.alert_id)

    def _fields_nl(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "ally_id": self.ally_id,
            "label": alerts.INVITATION_LABEL[self.kind],
            "mode_nl": alerts.mode_nl(self.mode),
            "place_nl": f" ({self.place})" if self.place else "",
            "theme_nl": alerts.theme_nl(self.theme),
            "area_name": self.area_name,
            "starts_nl": alerts.when_nl(self.starts_at),
            "deadline_nl": alerts.when_nl(self.rsvp_deadline, "%H:%M"),
            "rsvp_nl": self.rsvp_url or alerts.DEFAULT_RSVP,
        }

    @property
    def headline_nl(self) -> str:
        return alerts.INVITATION_HEADLINES[self.kind].format(**self._fields_nl())

    @property
    def body_nl(self) -> str:
        body = alerts.CANCELLATION_BODY if self.kind == "cancellation" else alerts.INVITATION_BODY
        return body.format(**self._fields_nl())

    @property
    def console_nl(self) -> str:
        fields = self._fields_nl()
        tail = "" if self.kind == "cancellation" else alerts.INVITATION_TAIL.format(**fields)
        return alerts.INVITATION_CONSOLE.format(headline=self.headline_nl, tail=tail, **fields)

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["headline_nl"] = self.headline_nl
        data["body_nl"] = self.body_nl
        return data
