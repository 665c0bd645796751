"""Untrusted input (placeholder until the input-hardening branch lands)."""

from __future__ import annotations

import json
from typing import Any

from domain.intake import FieldError, InvalidInput


def load_json(body: bytes, content_type: str | None) -> Any:
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media != "application/json":
        raise InvalidInput(
            [FieldError("Content-Type", "send application/json", "unsupported_media_type")]
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput([FieldError("$", f"invalid JSON: {exc}", "invalid_json")]) from None
