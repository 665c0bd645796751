"""What the notifier makes of an alert event: the message every channel sends (pure, no NATS)."""

from __future__ import annotations

from typing import Any

from domain.escalation import escalation_decider
from events.base import DomainEvent
from events.escalation import CrisisAlertIssued
from services.adapters.clock import FixedClock
from services.app.notifier import Notifier
from tests.factories import T0
from tests.test_escalation_domain import POLICY, declare, open_or_join, play, timer


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


def test_a_declared_escalations_alert_says_who_escalated_and_why() -> None:
    """Not "Spanning normaal …, signalen 0": a declaration is not a calm tension report."""
    log = play(declare(reason="Oproep tot rellen via sociale media"), timer(1, 1))
    for alert in alerts(log):
        message = notifier().message(alert)
        assert (message.trigger, message.reason) == ("declared", alert.reason)
        assert message.headline_nl == (
            "Opgeschaald door politie/gemeente in Almere Haven: demonstratie"
            " – Oproep tot rellen via sociale media"
        )
        assert "Aanleiding: opgeschaald door politie/gemeente.\n" in message.body_nl
        assert "Reden: Oproep tot rellen via sociale media\n" in message.body_nl
        assert message.headline_nl in message.console_nl
        assert message.payload()["reason"] == "Oproep tot rellen via sociale media"


def test_a_major_incident_is_not_announced_as_a_tension_report() -> None:
    [alert] = alerts(list(escalation_decider.run([], open_or_join(trigger="major_incident"))))
    message = notifier().message(alert)
    assert message.headline_nl == "Groot incident in Almere Haven: demonstratie"
    assert "Aanleiding: groot incident gemeld.\n" in message.body_nl
    assert "Reden:" not in message.body_nl  # the workflow's summary is not shown


def test_an_alert_recorded_before_it_carried_its_trigger_reads_as_before() -> None:
    [alert] = alerts(list(escalation_decider.run([], open_or_join())))
    old = alert.model_copy(update={"trigger": None, "reason": ""})
    message = notifier().message(old)
    assert message.headline_nl == "Spanning hoog in Almere Haven: demonstratie"
    assert "Aanleiding: spanningsdrempel overschreden.\n" in message.body_nl
