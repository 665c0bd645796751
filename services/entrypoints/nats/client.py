"""A small NATS client for integrations (and the tests): one identity, its own command subjects,
its own inbox, and permission denials surfaced instead of lost.

nats-py never raises a permission denial: the server answers a forbidden publish or subscribe
with ``-ERR 'Permissions Violation …'``, which nats-py hands only to ``error_cb``. A denied
request therefore looks like silence. :class:`IntegrationClient` collects every denial and ends
a request as soon as its subject is denied (:class:`PermissionDenied`), or after ``timeout``
with a message that says what may be wrong (:class:`NoReply`); it never just hangs.

    async with await IntegrationClient.connect(
        "nats://host:4222", role="police", id="meldkamer-oost",
        seed_file="police.meldkamer-oost.nk",
    ) as client:
        reply = await client.request("escalation.declare", {...}, command_id="mk-2026-0042")
        picture = await client.query("tension-map", {"area": "GM0034", "as_of": "…"})
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from types import TracebackType
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient

from domain.access import Principal, Role, inbox_prefix
from services.entrypoints.nats.api import QUERY_TOKEN, command_subject

_DENIED = re.compile(r'permissions violation for (publish|subscription) to "?([^"\s]+)"?', re.I)


class PermissionDenied(Exception):
    """The server refused this identity a publish or a subscription."""

    def __init__(self, operation: str, subject: str) -> None:
        super().__init__(f"NATS permission denied: {operation} to {subject}")
        self.operation = operation
        self.subject = subject


class NoReply(TimeoutError):
    """No answer within the timeout (the service is down or slow, or the request was lost)."""


class IntegrationClient:
    def __init__(self, nc: NatsClient, principal: Principal, subject_prefix: str) -> None:
        self.nc = nc
        self.principal = principal
        self.subject_prefix = subject_prefix
        self.denials: list[PermissionDenied] = []
        """Every denial the server reported on this connection, in order."""
        self.errors: list[Exception] = []
        """Every other asynchronous error nats-py reported."""
        self._waiting: dict[str, set[asyncio.Future[PermissionDenied]]] = {}

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        role: str,
        id: str,
        seed_file: str | Path | None = None,
        creds: str | Path | None = None,
        subject_prefix: str = "bg",
        **options: Any,
    ) -> IntegrationClient:
        principal = Principal(Role(role), id)
        holder: list[IntegrationClient] = []
        early: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            if holder:
                holder[0]._on_error(exc)
            else:
                early.append(exc)

        credential: dict[str, Any] = {}
        if seed_file is not None:
            credential["nkeys_seed"] = str(seed_file)
        if creds is not None:
            credential["user_credentials"] = str(creds)
        nc = await nats.connect(
            servers=url.split(","),
            name=principal.actor,
            inbox_prefix=inbox_prefix(principal.role.value, principal.id),
            error_cb=on_error,
            **credential,
            **options,
        )
        client = cls(nc, principal, subject_prefix)
        holder.append(client)
        for exc in early:
            client._on_error(exc)
        return client

    def _on_error(self, exc: Exception) -> None:
        found = _DENIED.search(str(exc))
        if found is None:
            self.errors.append(exc)
            return
        denied = PermissionDenied(found.group(1).lower(), found.group(2))
        self.denials.append(denied)
        # nats-py lower-cases the server's message: compare subjects case-insensitively.
        # A denial names a subject, not a request: every request waiting on it is denied.
        for future in self._waiting.pop(denied.subject.lower(), set()):
            if not future.done():
                future.set_result(denied)

    def subject(self, command: str) -> str:
        return command_subject(self.subject_prefix, command, self.principal)

    async def request(
        self,
        command: str,
        body: dict[str, Any] | bytes,
        *,
        command_id: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - nats-py's own request timeout
        subject: str | None = None,
    ) -> dict[str, Any]:
        """Send a command as this identity and return the reply (``ok`` and the result, or the
        errors). ``subject`` overrides the command's subject (to show what is denied)."""
        subject = subject or self.subject(command)
        if isinstance(body, bytes):
            data = body
        else:
            extra = {"command_id": command_id} if command_id else {}
            data = json.dumps({**body, **extra}).encode()
        return json.loads(await self.request_raw(subject, data, timeout=timeout))  # type: ignore[no-any-return]

    async def query(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - nats-py's own request timeout
    ) -> dict[str, Any]:
        """Ask a query (``services.app.queries``, e.g. ``tension-map`` with ``as_of``) as this
        identity and return the reply (``ok`` and the ``result``, or the errors)."""
        subject = command_subject(self.subject_prefix, name, self.principal, QUERY_TOKEN)
        data = json.dumps(params or {}).encode()
        return json.loads(await self.request_raw(subject, data, timeout=timeout))  # type: ignore[no-any-return]

    async def request_raw(
        self,
        subject: str,
        data: bytes,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """A request on any subject: the reply's data, or :class:`PermissionDenied` as soon as
        the server refuses it, or :class:`NoReply`."""
        loop = asyncio.get_running_loop()
        denied: asyncio.Future[PermissionDenied] = loop.create_future()
        self._wait(subject, denied)
        ask: asyncio.Future[Any] = asyncio.ensure_future(
            self.nc.request(subject, data, timeout, headers=headers)
        )
        try:
            pending: set[asyncio.Future[Any]] = {ask, denied}
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if denied.done():
                ask.cancel()
                with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
                    await ask
                raise denied.result()
            try:
                return bytes(ask.result().data)
            except nats.errors.NoRespondersError:
                raise NoReply(f"no responder on {subject}: is the service running?") from None
            except nats.errors.TimeoutError:
                raise NoReply(
                    f"no reply on {subject} within {timeout} s: the service may be down or busy"
                    " (retry with the same command_id), or the request was not delivered"
                ) from None
        finally:
            self._unwait(subject, denied)
            if not denied.done():
                denied.cancel()

    async def denial(self, subject: str, timeout: float = 5.0) -> PermissionDenied:  # noqa: ASYNC109
        """Wait for the server's denial of ``subject`` (after a publish or subscribe)."""
        for seen in self.denials:
            if seen.subject.lower() == subject.lower():
                return seen
        future: asyncio.Future[PermissionDenied] = asyncio.get_running_loop().create_future()
        self._wait(subject, future)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._unwait(subject, future)

    def _wait(self, subject: str, future: asyncio.Future[PermissionDenied]) -> None:
        self._waiting.setdefault(subject.lower(), set()).add(future)

    def _unwait(self, subject: str, future: asyncio.Future[PermissionDenied]) -> None:
        waiting = self._waiting.get(subject.lower())
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._waiting[subject.lower()]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.close()

    async def __aenter__(self) -> IntegrationClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
