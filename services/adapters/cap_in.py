"""CAP 1.2 in: parse an alert a police or municipal system posts, safely, into a
:class:`services.app.cap_intake.CapAlert`.

* **No XXE, no entity expansion, no network**: lxml with ``resolve_entities=False``,
  ``no_network=True``, ``load_dtd=False`` (the parser the CAP we send is checked with), and any
  document with a DOCTYPE is refused outright: CAP needs none, and a DTD is how entity attacks
  (external entities, "billion laughs") get in.
* **The schema**: the OASIS CAP 1.2 XSD this package already ships for the alerts it sends
  (:mod:`services.adapters.notify.cap`, one definition of the namespace and the schema).
* **Precise refusals**: every problem names the element as a path (``alert.info.severity``,
  ``alert.info.certainty`` for a missing one), with libxml2's reason.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from lxml import etree

from domain.input import MAX_BODY_BYTES, capped_errors
from domain.intake import FieldError, InvalidInput
from services.adapters.notify.cap import CAP_NAMESPACE, schema_problems, secure_parser
from services.app.cap_intake import CapAlert, CapArea, CapInfo

CAP_MEDIA_TYPES: Final = frozenset({"application/cap+xml", "application/xml", "text/xml"})
_NS: Final = {"cap": CAP_NAMESPACE}
_MISSING: Final = re.compile(r"Expected is .*?\{[^}]*\}(\w+)")


def _refuse(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput([FieldError(field, message, code)])


def _path(element: etree._Element) -> str:
    names = [etree.QName(e).localname for e in [*reversed(list(element.iterancestors())), element]]
    return ".".join(names)


def _schema_errors(document: etree._Element) -> list[FieldError]:
    entries = schema_problems(document)
    if not entries:
        return []
    tree = document.getroottree()
    errors = []
    for path, message in entries:
        found = tree.xpath(path) if path else []
        field = _path(found[0]) if found and isinstance(found[0], etree._Element) else "alert"
        # Name the element that is missing rather than where libxml2 noticed it: inside its
        # parent ("Missing child"), or at the sibling that came instead ("not expected").
        missing = _MISSING.search(message)
        if missing and "Missing child" in message:
            field = f"{field}.{missing.group(1)}"
        elif missing and "not expected" in message:
            field = f"{field.rpartition('.')[0] or field}.{missing.group(1)}"
        errors.append(FieldError(field, message, "cap_invalid"))
    return errors


def parse_cap(body: bytes, content_type: str | None) -> CapAlert:
    """The alert in ``body``, or :class:`InvalidInput`: 415 for another media type, 413 too
    large, 400 not well-formed or with a DTD, 422 not CAP 1.2 (the element named)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in CAP_MEDIA_TYPES:
        message = f"send CAP 1.2 as {', '.join(sorted(CAP_MEDIA_TYPES))}"
        raise _refuse("Content-Type", message, "unsupported_media_type")
    if len(body) > MAX_BODY_BYTES:
        raise _refuse("$", f"body is {len(body)} bytes, at most {MAX_BODY_BYTES}", "too_large")
    try:
        document: etree._Element = etree.fromstring(body, secure_parser())
    except etree.XMLSyntaxError as exc:
        raise _refuse("$", f"not well-formed XML: {exc.msg}"[:300], "invalid_xml") from None
    docinfo = document.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype:
        message = "a DOCTYPE is not accepted (CAP needs none; entities are never resolved)"
        raise _refuse("$", message, "dtd_forbidden")
    if etree.QName(document).namespace != CAP_NAMESPACE or etree.QName(document).localname != (
        "alert"
    ):
        raise _refuse("alert", f"the root must be <alert> in {CAP_NAMESPACE}", "cap_invalid")
    errors = _schema_errors(document)
    if errors:
        raise InvalidInput(capped_errors(errors))
    return CapAlert(
        identifier=_text(document, "cap:identifier"),
        sender=_text(document, "cap:sender"),
        sent=_time(document, "cap:sent", "alert.sent"),
        status=_text(document, "cap:status"),
        msg_type=_text(document, "cap:msgType"),
        infos=tuple(_info(i) for i in document.findall("cap:info", _NS)),
    )


def _text(element: etree._Element, path: str) -> str:
    return (element.findtext(path, default="", namespaces=_NS) or "").strip()


def _time(element: etree._Element, path: str, field: str) -> datetime:
    # The schema checked the shape (xs:dateTime with a zone); fromisoformat reads it exactly.
    value = _text(element, path).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse(field, "not a CAP date and time", "invalid_datetime") from None
    if parsed.tzinfo is None:
        raise _refuse(field, "a CAP time carries its UTC offset", "invalid_datetime")
    return parsed


def _pairs(element: etree._Element, path: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (_text(p, "cap:valueName"), _text(p, "cap:value")) for p in element.findall(path, _NS)
    )


def _info(info: etree._Element) -> CapInfo:
    onset = _text(info, "cap:onset")
    return CapInfo(
        language=_text(info, "cap:language") or "en-US",  # CAP 1.2's default
        categories=tuple((c.text or "").strip() for c in info.findall("cap:category", _NS)),
        event=_text(info, "cap:event"),
        urgency=_text(info, "cap:urgency"),
        severity=_text(info, "cap:severity"),
        certainty=_text(info, "cap:certainty"),
        event_codes=_pairs(info, "cap:eventCode"),
        onset=_time(info, "cap:onset", "alert.info.onset") if onset else None,
        headline=_text(info, "cap:headline"),
        description=_text(info, "cap:description"),
        areas=tuple(
            CapArea(
                area_desc=_text(a, "cap:areaDesc"),
                geocodes=_pairs(a, "cap:geocode"),
                circles=tuple((c.text or "").strip() for c in a.findall("cap:circle", _NS)),
            )
            for a in info.findall("cap:area", _NS)
        ),
    )
