"""What the demo needs to talk to the service: its public HTTP API (a base URL, nothing else)
and a story printed in Dutch. A refused request is told in the story, never raised: the demo
plays on data that clients may have changed since it last ran (an ally removed, an escalation
closed), and the service must not stop because of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TextIO, TypeVar

import httpx

from projections.escalations import ConveningStatus, EscalationRecord
from projections.tension_map import TensionMapView
from services.texts_nl.alerts import when_nl
from services.texts_nl.console import (
    DEMO_ACTIONS,
    REFUSAL_FIELD,
    REFUSAL_OTHER,
    REFUSAL_REASONS,
    REFUSAL_STATUS,
    SENTENCES,
)

T = TypeVar("T")
Tokens = Callable[[str], Awaitable[str]]
"""A bearer token for an actor (``role:id``): the demo's credentials, obtained by whoever
composes it (the CLI mints them with the service's built-in issuer)."""
API = "/api/v1"
POLL_S = 0.2
KEY_REUSED = "idempotency_key_reused"


def when(value: datetime, fmt: str = "%d-%m-%Y %H:%M") -> str:
    """A time as people read it: Dutch local time, and saying so."""
    return when_nl(value, fmt)


class Story:
    """The demo's narrative: Dutch sentences (services.texts_nl.console) to a text stream."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def say(self, key: str, **values: Any) -> None:
        print(SENTENCES[key].format(**values), file=self.out, flush=True)

    def step(self, key: str, **values: Any) -> None:
        self.say("demo_step", text=SENTENCES[key].format(**values))

    def refused(self, action: str, subject: str, status: int, errors: list[Any]) -> None:
        """``status`` 0: no answer at all."""
        reason = REFUSAL_REASONS.get(status) or REFUSAL_OTHER.format(status=status)
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        field = first.get("field")
        if status and field and field != "$":
            reason = REFUSAL_FIELD.format(status=status, field=field, reason=reason)
        elif status:
            reason = REFUSAL_STATUS.format(status=status, reason=reason)
        what = DEMO_ACTIONS[action].format(subject=subject)
        self.say("refused", what=what, reason=reason)


class DemoApi:
    """The service's public HTTP API as the demo uses it. Every read passes the position the
    demo's last write answered (``min_position``), so it sees its own writes."""

    def __init__(
        self, client: httpx.AsyncClient, story: Story, tokens: Tokens, reader: str
    ) -> None:
        self.client = client
        self.story = story
        self.position = 0
        self._tokens = tokens
        self._held: dict[str, str] = {}
        self.reader = reader
        """Who reads when a step names nobody."""

    async def _authorization(self, actor: str) -> dict[str, str]:
        if actor not in self._held:
            self._held[actor] = await self._tokens(actor)
        return {"Authorization": f"Bearer {self._held[actor]}"}

    def _reading(self, params: dict[str, str] | None) -> dict[str, str]:
        return {**(params or {}), "min_position": str(self.position)}

    async def send(
        self,
        method: str,
        path: str,
        action: str,
        subject: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        actor: str | None = None,
        key: str | None = None,
    ) -> Any | None:
        """The JSON answer, or None when the service refused (told in the story). ``actor``
        acts with its own token (the demo's :attr:`reader` when None)."""
        headers = await self._authorization(actor or self.reader)
        if key is not None:
            headers["Idempotency-Key"] = key
        if method == "GET":
            params = self._reading(params)
        try:
            response = await self.client.request(
                method, API + path, json=body, params=params, headers=headers
            )
        except httpx.HTTPError:
            self.story.refused(action, subject, 0, [])
            return None
        errors = _errors(response)
        if response.status_code == 409 and errors and errors[0].get("code") == KEY_REUSED:
            # Sent before under this key with other details (a signal replayed with new
            # times): the service keeps the first and counts it once.
            return {"duplicate": True}
        if response.status_code >= 300:
            self.story.refused(action, subject, response.status_code, errors)
            return None
        answer = _json(response)
        if method != "GET" and isinstance(answer, dict):
            self.position = max(self.position, int(answer.get("position") or 0))
        return answer

    async def peek(self, path: str, params: dict[str, str] | None = None) -> Any | None:
        """A read whose failure is not worth telling (polling); None if it failed."""
        headers = await self._authorization(self.reader)
        try:
            response = await self.client.get(
                API + path, params=self._reading(params), headers=headers
            )
        except httpx.HTTPError:
            return None
        return _json(response) if response.status_code == 200 else None

    async def escalation(self, escalation_id: str) -> EscalationRecord | None:
        found = await self.send("GET", f"/escalations/{escalation_id}", "read", escalation_id)
        return _model(EscalationRecord, found)

    async def convening(self, convening_id: str) -> ConveningStatus | None:
        found = await self.send("GET", f"/convenings/{convening_id}", "read", convening_id)
        return _model(ConveningStatus, found)

    async def tension_map(self, area: str, at: datetime | None = None) -> TensionMapView | None:
        params = {"area": area} if at is None else {"area": area, "at": at.isoformat()}
        found = await self.send("GET", "/tension-map", "read", "/tension-map", params=params)
        return _model(TensionMapView, found)


async def until(
    fetch: Callable[[], Awaitable[T | None]], ready: Callable[[T], bool], seconds: float
) -> T | None:
    """Poll until ``ready`` or the deadline; the last answer either way (None if none)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        found = await fetch()
        if (found is not None and ready(found)) or loop.time() >= deadline:
            return found
        await asyncio.sleep(POLL_S)


def _json(response: httpx.Response) -> Any | None:
    try:
        return response.json()
    except ValueError:
        return None


def _errors(response: httpx.Response) -> list[Any]:
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) else []


M = TypeVar("M", EscalationRecord, ConveningStatus, TensionMapView)


def _model(model: type[M], found: Any) -> M | None:
    # An answer of another shape is a bug in the demo or the API, not a refusal: it raises.
    return None if found is None else model.model_validate(found)
