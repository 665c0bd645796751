"""CAP 1.2 in: a CAP alert from a police or municipal system becomes one signal.

The XML is parsed (safely, against the OASIS schema) by an adapter into a :class:`CapAlert`;
this module maps it onto :class:`services.app.commands.SubmitSignal`, which then takes the one
command path like every other signal. Every refusal names the CAP element (``alert.info.area``,
``alert.info.category``) so the sending system's operator knows what to fix.

Mapping (also in ``docs/integrations.md``):

* **who reports**: the authenticated principal (``police:<id>``, ``municipality:<id>``),
  never ``<sender>``: anyone can write any sender into a document.
* **idempotency key**: ``cap-`` + a hash of ``<sender>`` and ``<identifier>`` (CAP 1.2: the pair
  identifies an alert), so the same alert posted twice is one signal.
* **area**: the first ``<area>`` with a ``<geocode>`` of ``valueName`` ``bondgenoten-gebied``
  (an area code such as ``GM0034-haven``) or ``CBS-gemeentecode`` (``GM0034`` or ``0034``);
  without one, an ``<areaDesc>`` equal to a network's name or one of its area codes. A network
  must serve it (the first such network by id; one that lists the exact area before one that
  serves the whole municipality).
* **theme**: an ``<eventCode>`` with ``valueName`` ``bondgenoten-thema``; else ``<event>`` when
  it is a theme code or a known (Dutch or English) event term; else ``<category>``
  (``Security``, ``Safety``: public_order; ``Rescue``, ``Transport``: accident). Nothing
  mapped: refused (``alert.info.event``).
* **level** (1-5) from ``<severity>``: Extreme 5 (4 unless urgency is Immediate or Expected),
  Severe 4, Moderate 3, Minor and Unknown 2; one lower (at least 1) when ``<certainty>`` is
  Unlikely or ``<urgency>`` is Past.
* **major incident**: ``<severity>`` Extreme *and* ``<urgency>`` Immediate. Such a signal opens
  an escalation at once (see the README, "Opening").
* **evidence**: ``<certainty>`` Observed: observed; ``<urgency>`` Expected or Future: expected;
  else heard.
* **occurred_at**: ``<onset>`` if given and not after ``<sent>``, else ``<sent>``.
* **summary**: ``<headline>``, else ``<event>``, then ``<description>``, cut to the signal's
  maximum length. **location**: the centre of the first ``<circle>``, if in the Netherlands.
* Only ``<status>`` Actual and ``<msgType>`` Alert or Update become signals (an Update is a new
  observation); a Cancel, a Test or an Exercise is refused with the element named. With several
  ``<info>`` blocks the first Dutch one (``nl``, ``nl-NL``) is used, else the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from domain.access import Principal
from domain.intake import FieldError, InvalidInput, pydantic_errors
from events.envelope import municipality_of
from events.signals import MAX_SUMMARY_CHARS, Location
from services.app.commands import SubmitSignal

AREA_GEOCODE = "bondgenoten-gebied"
"""The geocode ``valueName`` of an area code; the CAP the notifier sends uses the same."""
MUNICIPALITY_GEOCODE = "CBS-gemeentecode"
"""The geocode ``valueName`` of a CBS municipality code (``GM0034``)."""
THEME_EVENT_CODE = "bondgenoten-thema"
"""The ``<eventCode>`` ``valueName`` naming a theme code directly."""

CATEGORY_THEMES: Mapping[str, str] = {
    "Security": "public_order",
    "Safety": "public_order",
    "Rescue": "accident",
    "Transport": "accident",
}
"""A CAP category -> theme, when neither eventCode nor event say more."""

EVENT_THEMES: Mapping[str, str] = {
    "demonstratie": "demonstration",
    "demonstration": "demonstration",
    "betoging": "demonstration",
    "protest": "demonstration",
    "openbare orde": "public_order",
    "ordeverstoring": "public_order",
    "public order": "public_order",
    "rellen": "unrest",
    "onrust": "unrest",
    "riot": "unrest",
    "unrest": "unrest",
    "vechtpartij": "violent_incident",
    "geweld": "violent_incident",
    "geweldsincident": "violent_incident",
    "steekpartij": "violent_incident",
    "schietincident": "violent_incident",
    "aanslag": "attack",
    "attack": "attack",
    "ongeval": "accident",
    "ongeluk": "accident",
    "accident": "accident",
    "jeugdoverlast": "youth_nuisance",
    "overlast jongeren": "youth_nuisance",
    "discriminatie": "discrimination",
    "polarisatie": "polarisation",
    "radicalisering": "radicalisation",
    "azc": "asylum_reception",
    "asielopvang": "asylum_reception",
    "ondermijning": "undermining",
}
"""Known ``<event>`` terms (lower case, whole text) -> theme."""

SEVERITY_LEVEL: Mapping[str, int] = {
    "Extreme": 5,
    "Severe": 4,
    "Moderate": 3,
    "Minor": 2,
    "Unknown": 2,
}


@dataclass(frozen=True)
class CapArea:
    area_desc: str
    geocodes: tuple[tuple[str, str], ...] = ()
    circles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CapInfo:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    event_codes: tuple[tuple[str, str], ...] = ()
    onset: datetime | None = None
    headline: str = ""
    description: str = ""
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True)
class CapAlert:
    """The elements of a CAP 1.2 alert this service reads (the parser checked the schema)."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    infos: tuple[CapInfo, ...] = field(default=())


CapParser = Callable[[bytes, str | None], CapAlert]
"""Parses a posted body (with its Content-Type) into an alert, or raises ``InvalidInput``
naming the element (the adapter: ``services.adapters.cap_in.parse_cap``)."""


@dataclass(frozen=True)
class ServedArea:
    """A network and the areas it serves, to place an alert (from the live read models)."""

    network_id: str
    name: str
    area: str
    areas: frozenset[str]

    def serves(self, area: str) -> bool:
        """The call list's rule (``projections.call_lists.NetworkState.serves``)."""
        municipality = municipality_of(area)
        return area in self.areas or municipality == self.area or municipality in self.areas


def cap_key(alert: CapAlert) -> str:
    """The idempotency key of an alert: CAP 1.2 identifies one by sender and identifier."""
    digest = hashlib.sha256(f"{alert.sender}\n{alert.identifier}".encode()).hexdigest()
    return f"cap-{digest[:40]}"


def _refuse(element: str, message: str, code: str) -> InvalidInput:
    return InvalidInput([FieldError(element, message, code)])


def chosen_info(alert: CapAlert) -> CapInfo:
    if not alert.infos:
        raise _refuse("alert.info", "an alert without <info> says nothing to map", "missing")
    dutch = [i for i in alert.infos if i.language.lower().split("-")[0] == "nl"]
    return (dutch or list(alert.infos))[0]


def _municipality(code: str) -> str | None:
    code = code.strip()
    if code.isdigit() and len(code) == 4:
        return f"GM{code}"
    if len(code) == 6 and code.startswith("GM") and code[2:].isdigit():
        return code
    return None


def _network_for(area: str, networks: Sequence[ServedArea]) -> ServedArea | None:
    exact = sorted((n for n in networks if area in n.areas or n.area == area), key=_by_id)
    if exact:
        return exact[0]
    wider = sorted((n for n in networks if n.serves(area)), key=_by_id)
    return wider[0] if wider else None


def _by_id(n: ServedArea) -> str:
    return n.network_id


def place(info: CapInfo, networks: Sequence[ServedArea]) -> tuple[str, ServedArea]:
    """The area code and the network serving it, or a refusal naming ``alert.info.area``."""
    if not info.areas:
        raise _refuse("alert.info.area", "no <area>: where did it happen?", "missing")
    candidates: list[str] = []
    for area in info.areas:
        for name, value in area.geocodes:
            if name == AREA_GEOCODE:
                candidates.append(value.strip())
            elif name == MUNICIPALITY_GEOCODE and (code := _municipality(value)):
                candidates.append(code)
        desc = area.area_desc.strip().casefold()
        for n in sorted(networks, key=_by_id):
            if desc and desc in {n.name.casefold(), n.area.casefold()}:
                candidates.append(n.area)
            candidates.extend(a for a in sorted(n.areas) if a.casefold() == desc)
    for code in candidates:
        network = _network_for(code, networks)
        if network is not None:
            return code, network
    if not candidates:
        message = (
            f"no <geocode> with valueName {AREA_GEOCODE} or {MUNICIPALITY_GEOCODE}, and no "
            "<areaDesc> naming a known network or area"
        )
        raise _refuse("alert.info.area.geocode", message, "unknown_area")
    message = f"no network serves {', '.join(dict.fromkeys(candidates))[:120]}"
    raise _refuse("alert.info.area.geocode", message, "unknown_area")


def theme_of(info: CapInfo, themes: frozenset[str]) -> str:
    for name, value in info.event_codes:
        if name == THEME_EVENT_CODE:
            if value.strip() in themes:
                return value.strip()
            raise _refuse(
                "alert.info.eventCode",
                f"{THEME_EVENT_CODE} is not a theme code; see GET /api/v1/themes",
                "unknown_theme",
            )
    event = " ".join(info.event.split()).casefold()
    if event in themes:
        return event
    mapped = EVENT_THEMES.get(event)
    if mapped in themes:
        return str(mapped)
    for category in info.categories:
        mapped = CATEGORY_THEMES.get(category)
        if mapped in themes:
            return str(mapped)
    message = (
        f"neither <eventCode> {THEME_EVENT_CODE}, nor <event>, nor <category> "
        f"({', '.join(info.categories)}) maps to a theme"
    )
    raise _refuse("alert.info.event", message, "unmappable_theme")


def level_of(info: CapInfo) -> int:
    level = SEVERITY_LEVEL.get(info.severity, 2)
    if info.severity == "Extreme" and info.urgency not in ("Immediate", "Expected"):
        level = 4
    if info.certainty == "Unlikely" or info.urgency == "Past":
        level -= 1
    return max(1, level)


def is_major_incident(info: CapInfo) -> bool:
    return info.severity == "Extreme" and info.urgency == "Immediate"


def evidence_of(info: CapInfo) -> str:
    if info.certainty == "Observed":
        return "observed"
    if info.urgency in ("Expected", "Future"):
        return "expected"
    return "heard"


def _location(info: CapInfo) -> Location | None:
    for area in info.areas:
        for circle in area.circles:
            try:
                centre, _radius = circle.split()
                lat, lon = (float(x) for x in centre.split(","))
                return Location(lat=lat, lon=lon)
            except (ValueError, ValidationError):
                continue  # outside the Netherlands or not a point: the area still places it
    return None


_FIELD_ELEMENT = {
    "summary": "alert.info.headline",
    "occurred_at": "alert.sent",
    "area": "alert.info.area.geocode",
    "themes": "alert.info.event",
    "reporter": "Authorization",
}


def signal_from_cap(
    alert: CapAlert,
    principal: Principal,
    *,
    networks: Iterable[ServedArea],
    themes: frozenset[str],
) -> SubmitSignal:
    """The signal a CAP alert reports, in the principal's name; raises :class:`InvalidInput`
    naming the element that cannot be mapped."""
    if alert.status != "Actual":
        message = f"only Actual alerts become signals, not {alert.status}"
        raise _refuse("alert.status", message, "not_actual")
    if alert.msg_type not in ("Alert", "Update"):
        message = f"a {alert.msg_type} cannot become a signal (signals are not withdrawn)"
        raise _refuse("alert.msgType", message, "unsupported_msg_type")
    info = chosen_info(alert)
    area, network = place(info, list(networks))
    theme = theme_of(info, themes)
    occurred = info.onset if info.onset is not None and info.onset <= alert.sent else alert.sent
    text = "\n".join(t for t in (info.headline or info.event, info.description) if t.strip())
    try:
        return SubmitSignal.model_validate(
            {
                "reporter": principal.id,
                "source_role": principal.role.value,
                "network_id": network.network_id,
                "area": area,
                "themes": [theme],
                "level": level_of(info),
                "evidence": evidence_of(info),
                "occurred_at": occurred,
                "summary": text.strip()[:MAX_SUMMARY_CHARS],
                "location": location.model_dump() if (location := _location(info)) else None,
                "major_incident": is_major_incident(info),
                "idempotency_key": cap_key(alert),
            }
        )
    except ValidationError as exc:
        raise InvalidInput(
            [
                FieldError(_FIELD_ELEMENT.get(e.field, f"alert.{e.field}"), e.message, e.code)
                for e in pydantic_errors(exc)
            ]
        ) from None
