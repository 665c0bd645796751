"""CAP 1.2 alerts for the crisis organisation (OASIS Common Alerting Protocol 1.2).

A pure builder: :func:`build_cap_alert` turns a validated :class:`CapAlertInput` into a
UTF-8 CAP 1.2 ``<alert>`` document with ``scope`` ``Restricted``; :func:`validate_cap`
checks a document against the official OASIS CAP 1.2 XML Schema vendored in
``schemas/CAP-v1.2.xsd`` (see ``schemas/README.md`` for its provenance).

The only I/O is reading that XSD, once, on first validation.

Time values follow CAP 1.2 (OASIS CAP-v1.2-os, section 3.3.2): ``YYYY-MM-DDThh:mm:ssXhh:mm``,
no fractional seconds, no alphabetic designator such as ``Z``, and "the timezone for UTC
MUST be represented as '-00:00'".
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Final, Literal

from lxml import etree
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

__all__ = [
    "CAP_NAMESPACE",
    "CAP_XSD_PATH",
    "SCOPE",
    "CapAlertInput",
    "CapValidationError",
    "build_cap_alert",
    "cap_reference",
    "format_cap_datetime",
    "schema_problems",
    "secure_parser",
    "validate_cap",
]

CAP_NAMESPACE: Final = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_XSD_PATH: Final = Path(__file__).resolve().parent / "schemas" / "CAP-v1.2.xsd"
SCOPE: Final = "Restricted"

Status = Literal["Actual", "Exercise", "Test"]
MsgType = Literal["Alert", "Update", "Cancel"]
Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
Category = Literal[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
]

# Characters that XML 1.0 cannot carry at all (lxml would refuse them at build time).
_XML_INVALID_CHARS: Final = re.compile(
    "[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# CAP 1.2 3.2.1: identifier and sender "MUST NOT include spaces, commas or restricted
# characters (< and &)".
_CAP_TOKEN: Final = re.compile(r"[^\s,<&]+")
_CAP_DATETIME: Final = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d"
_CAP_REFERENCE: Final = re.compile(rf"[^\s,<&]+,[^\s,<&]+,{_CAP_DATETIME}")
_XS_LANGUAGE: Final = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")
_HTTP_URI: Final = re.compile(r"https?://[^\s<>\"]+")


def _xml_text(value: str) -> str:
    bad = _XML_INVALID_CHARS.search(value)
    if bad is not None:
        raise ValueError(f"character U+{ord(bad.group()):04X} cannot be represented in XML 1.0")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or whitespace only")
    return _xml_text(value)


def _cap_token(value: str) -> str:
    if _CAP_TOKEN.fullmatch(value) is None:
        raise ValueError("must be non-empty without spaces, commas, '<' or '&' (CAP 1.2 3.2.1)")
    return value


def _cap_reference_entry(value: str) -> str:
    if _CAP_REFERENCE.fullmatch(value) is None:
        raise ValueError(
            "a CAP reference must be 'sender,identifier,sent' with sent as "
            "YYYY-MM-DDThh:mm:ss+hh:mm (use cap_reference())"
        )
    return value


def _xs_language(value: str) -> str:
    if _XS_LANGUAGE.fullmatch(value) is None:
        raise ValueError("must be an RFC 3066 language tag such as 'nl-NL'")
    return value


def _http_uri(value: str) -> str:
    if _HTTP_URI.fullmatch(value) is None:
        raise ValueError("must be an absolute http(s) URI without spaces")
    return value


Text = Annotated[str, AfterValidator(_xml_text)]
NonBlankText = Annotated[str, AfterValidator(_non_blank)]
CapToken = Annotated[str, AfterValidator(_cap_token)]
CapReference = Annotated[str, AfterValidator(_cap_reference_entry)]
Language = Annotated[str, AfterValidator(_xs_language)]
HttpUri = Annotated[str, AfterValidator(_http_uri)]
ValuePair = tuple[NonBlankText, NonBlankText]


class CapAlertInput(BaseModel):
    """Everything needed for one Restricted CAP 1.2 alert with a single ``<info>`` block.

    Sequences are stored as tuples so that the model is immutable all the way down;
    lists are accepted on input.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifier: CapToken
    sender: CapToken
    sent: AwareDatetime
    status: Status = "Actual"
    msg_type: MsgType = "Alert"
    restriction: NonBlankText = Field(
        description="Who may see this alert; required because scope is Restricted."
    )
    references: tuple[CapReference, ...] = Field(
        default=(),
        description="Earlier messages as 'sender,identifier,sent'; required for Update/Cancel.",
    )
    event: NonBlankText = Field(description="Short Dutch description of the event.")
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    headline: NonBlankText
    description: NonBlankText
    instruction: NonBlankText | None = None
    area_desc: NonBlankText
    geocodes: tuple[ValuePair, ...] = Field(
        default=(), description="(valueName, value), e.g. ('CBS-gemeentecode', 'GM0034')."
    )
    web: HttpUri | None = None
    parameters: tuple[ValuePair, ...] = ()
    language: Language = "nl-NL"
    category: Category = "Safety"
    sender_name: NonBlankText | None = None
    expires: AwareDatetime | None = None

    @model_validator(mode="after")
    def _check_cap_rules(self) -> CapAlertInput:
        if self.msg_type in ("Update", "Cancel") and not self.references:
            raise ValueError(f"msgType {self.msg_type} requires at least one reference")
        if self.expires is not None and self.expires <= self.sent:
            raise ValueError("expires must be later than sent")
        # Fail here rather than at build time on offsets CAP cannot express.
        format_cap_datetime(self.sent)
        if self.expires is not None:
            format_cap_datetime(self.expires)
        return self


class CapValidationError(ValueError):
    """A document is not a valid CAP 1.2 alert; ``errors`` holds one message per problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        super().__init__("invalid CAP 1.2 alert: " + "; ".join(self.errors))


def format_cap_datetime(value: datetime) -> str:
    """Format an aware datetime as CAP 1.2 requires: ``YYYY-MM-DDThh:mm:ss+hh:mm``.

    Fractional seconds are truncated. The original UTC offset is kept; a zero offset is
    written ``-00:00`` as CAP 1.2 3.3.2 mandates.
    """
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("CAP times must be timezone-aware")
    if offset % timedelta(minutes=1):
        raise ValueError(f"UTC offset {offset} has seconds, which CAP cannot express")
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    local = value.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")
    return f"{local}{sign}{hours:02d}:{mins:02d}"


def cap_reference(sender: str, identifier: str, sent: datetime) -> str:
    """One ``references`` entry for an earlier message: ``sender,identifier,sent``."""
    return _cap_reference_entry(
        f"{_cap_token(sender)},{_cap_token(identifier)},{format_cap_datetime(sent)}"
    )


def _q(tag: str) -> str:
    return f"{{{CAP_NAMESPACE}}}{tag}"


def _add(parent: etree._Element, tag: str, text: str) -> etree._Element:
    child: etree._Element = etree.SubElement(parent, _q(tag))
    child.text = text
    return child


def _add_pair(parent: etree._Element, tag: str, pair: tuple[str, str]) -> None:
    element: etree._Element = etree.SubElement(parent, _q(tag))
    _add(element, "valueName", pair[0])
    _add(element, "value", pair[1])


def build_cap_alert(alert: CapAlertInput) -> bytes:
    """Render ``alert`` as a CAP 1.2 document (UTF-8, with XML declaration).

    Element order follows the ``xs:sequence`` of the OASIS schema.
    """
    root: etree._Element = etree.Element(_q("alert"), nsmap={None: CAP_NAMESPACE})
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", format_cap_datetime(alert.sent))
    _add(root, "status", alert.status)
    _add(root, "msgType", alert.msg_type)
    _add(root, "scope", SCOPE)
    _add(root, "restriction", alert.restriction)
    if alert.references:
        _add(root, "references", " ".join(alert.references))

    info: etree._Element = etree.SubElement(root, _q("info"))
    _add(info, "language", alert.language)
    _add(info, "category", alert.category)
    _add(info, "event", alert.event)
    _add(info, "urgency", alert.urgency)
    _add(info, "severity", alert.severity)
    _add(info, "certainty", alert.certainty)
    if alert.expires is not None:
        _add(info, "expires", format_cap_datetime(alert.expires))
    if alert.sender_name is not None:
        _add(info, "senderName", alert.sender_name)
    _add(info, "headline", alert.headline)
    _add(info, "description", alert.description)
    if alert.instruction is not None:
        _add(info, "instruction", alert.instruction)
    if alert.web is not None:
        _add(info, "web", alert.web)
    for parameter in alert.parameters:
        _add_pair(info, "parameter", parameter)

    area: etree._Element = etree.SubElement(info, _q("area"))
    _add(area, "areaDesc", alert.area_desc)
    for geocode in alert.geocodes:
        _add_pair(area, "geocode", geocode)

    document: bytes = etree.tostring(
        root, xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
    return document


def _secure_parser() -> etree.XMLParser:
    parser: etree.XMLParser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    return parser


_SCHEMA_LOCK: Final = threading.Lock()


@cache
def _schema() -> etree.XMLSchema:
    source = CAP_XSD_PATH.read_bytes()
    schema_doc: etree._Element = etree.fromstring(
        source, _secure_parser(), base_url=CAP_XSD_PATH.as_uri()
    )
    schema: etree.XMLSchema = etree.XMLSchema(schema_doc)
    return schema


def secure_parser() -> etree.XMLParser:
    """The parser for XML from outside: no entity resolution, no network, no DTD loading."""
    return _secure_parser()


def schema_problems(document: etree._Element) -> list[tuple[str, str]]:
    """(XPath of the element, libxml2's message) for each way ``document`` breaks the CAP 1.2
    schema; empty when it is valid. Used for the CAP we receive (``services.adapters.cap_in``)."""
    schema = _schema()
    with _SCHEMA_LOCK:  # error_log belongs to the shared schema object
        if schema.validate(document):
            return []
        return [(entry.path or "", entry.message) for entry in schema.error_log] or [
            ("", "document does not match the CAP 1.2 schema")
        ]


def validate_cap(xml: bytes) -> None:
    """Validate ``xml`` against the OASIS CAP 1.2 schema.

    Also enforces one CAP 1.2 rule the XSD cannot express: ``scope`` ``Restricted``
    needs a ``restriction``.

    Raises:
        CapValidationError: with libxml2's schema messages (prefixed with line numbers)
            when the document is not well-formed or not valid.
    """
    try:
        document: etree._Element = etree.fromstring(xml, _secure_parser())
    except etree.XMLSyntaxError as exc:
        raise CapValidationError([f"not well-formed XML: {exc}"]) from exc

    schema = _schema()
    with _SCHEMA_LOCK:  # error_log belongs to the shared schema object
        valid: bool = schema.validate(document)
        errors = [f"line {entry.line}: {entry.message}" for entry in schema.error_log]
    if not valid:
        raise CapValidationError(errors or ["document does not match the CAP 1.2 schema"])

    scope = document.findtext(_q("scope"))
    restriction = document.findtext(_q("restriction"))
    if scope == "Restricted" and not (restriction or "").strip():
        raise CapValidationError(
            ["scope is Restricted but <restriction> is missing or empty (CAP 1.2 3.2.1)"]
        )
