"""What the notifier makes of an alert event: the message every channel sends (pure, no NATS)."""

from __future__ import annotations

from typing import Any

from domain.escalation import escalation_decider
from events.base import DomainEvent
from events.escalation import CrisisAlertIssued
from services.adapters.clock import FixedClock
from services.app.notifier import Notifier
from tests.factories import T0
from tests.test_escalation_domain import POLICY, open_or_join, play, timer


def notifier(**kw: Any) -> Notifier:
    """A notifier for building messages only: nothing is loaded or sent."""
    store: Any = None
    return Notifier(store, FixedClock(T0), {}, {"default": POLICY}, **kw)


def alerts(log: list[DomainEvent]) -> list[CrisisAlertIssued]:
    return [e for e in log if isinstance(e, CrisisAlertIssued)]


def test_each_alert_names_the_policy_level_it_reached() -> None:
    log = play(open_or_join(), timer(1, 1), timer(1, 2), timer(2, 1))
    names = [notifier().message(a).level_name for a in alerts(log)]
    assert names == ["OOV", "OOV", "Teamchef", "Burgemeester"]


def test_a_level_the_policy_no_longer_has_is_named_by_its_number() -> None:
    [alert] = alerts(list(escalation_decider.run([], open_or_join())))
    beyond = alert.model_copy(update={"level": len(POLICY.levels) + 1})
    assert notifier().message(beyond).level_name == "4"
