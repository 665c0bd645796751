"""Schema evolution: old event versions are upcast on read, the log itself is never rewritten.

How to evolve an event schema:

1. Additive, optional field with a default: no new version needed; old payloads still validate.
2. Anything else (rename, split, new required field, changed meaning): bump the model's
   ``VERSION`` and register an upcaster from the previous version::

       @upcaster("nl.bondgenoten.signal.received", from_version=1)
       def _signal_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
           grade = data.pop("grade", "heard")
           return {**data, "evidence": grade}

   Upcasters chain (v1 -> v2 -> v3), are pure, and are covered by a test that decodes a stored
   payload of every old version.
3. Never reuse or rename a ``TYPE``: a different fact is a different type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_upcasters: dict[tuple[str, int], Upcaster] = {}


class SchemaVersionError(ValueError):
    """A payload cannot be brought to the current version (no upcaster, or from the future)."""


def upcaster(type_name: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        key = (type_name, from_version)
        if key in _upcasters:
            raise ValueError(f"upcaster for {type_name} v{from_version} registered twice")
        _upcasters[key] = fn
        return fn

    return register


def upcast(type_name: str, version: int, payload: Payload, target: int) -> Payload:
    if version > target:
        raise SchemaVersionError(
            f"{type_name} v{version} is newer than this code understands (v{target})"
        )
    while version < target:
        step = _upcasters.get((type_name, version))
        if step is None:
            raise SchemaVersionError(f"no upcaster for {type_name} from v{version}")
        payload = step(dict(payload))
        version += 1
    return payload
