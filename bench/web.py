"""A light HTTP/1.1 client and a webhook receiver for the benchmark, on asyncio streams + h11.

httpx tops out near 250 requests/s on this machine (its per-request machinery costs more
than the service's handling), which would make the load generator the bottleneck. h11 is
already installed (httpx and uvicorn use it); one keep-alive connection per simulated client.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

import h11


class HttpConnection:
    """One keep-alive connection; requests on it are sequential (as one client would)."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port, self.token = host, port, token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn = h11.Connection(h11.CLIENT)

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._conn = h11.Connection(h11.CLIENT)

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        reused = self._writer is not None
        try:
            return await self._request(method, path, body, token)
        except ConnectionError:
            if not reused:
                raise
            # The server closed an idle keep-alive connection (uvicorn after 5 s) before
            # reading this request: open a new one and send it again.
            await self.close()
            return await self._request(method, path, body, token)

    async def _request(
        self, method: str, path: str, body: Any, token: str | None
    ) -> tuple[int, Any]:
        if self._writer is None or self._conn.our_state is not h11.IDLE:
            await self.close()
            await self._connect()
        assert self._reader is not None and self._writer is not None
        data = b"" if body is None else json.dumps(body).encode()
        headers = [("host", f"{self.host}:{self.port}"), ("content-length", str(len(data)))]
        if body is not None:
            headers.append(("content-type", "application/json"))
        if token or self.token:
            headers.append(("authorization", f"Bearer {token or self.token}"))
        out = self._conn.send(h11.Request(method=method, target=path, headers=headers))
        out += self._conn.send(h11.Data(data=data)) + self._conn.send(h11.EndOfMessage())
        self._writer.write(out)
        status, chunks = 0, []
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                received = await self._reader.read(65536)
                if not received:
                    raise ConnectionError("server closed the connection")
                self._conn.receive_data(received)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        else:  # the server closes this connection: open another next time
            await self.close()
        raw = b"".join(chunks)
        return status, json.loads(raw) if raw else None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


async def _serve_webhooks(port: int, pipe: Connection) -> None:
    """Answer every POST with 204 and note (arrival time, JSON body's area)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        body: list[bytes] = []
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Data):
                    body.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    arrived = time.monotonic()
                    try:
                        area = json.loads(b"".join(body)).get("area")
                    except ValueError:
                        area = None
                    pipe.send((arrived, area))
                    body.clear()
                    response = h11.Response(status_code=204, headers=[("content-length", "0")])
                    writer.write(conn.send(response) + conn.send(h11.EndOfMessage()))
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (h11.RemoteProtocolError, ConnectionError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _receiver_main(port: int, pipe: Connection) -> None:
    asyncio.run(_serve_webhooks(port, pipe))


class WebhookReceiver:
    """A local webhook endpoint in its own process, so the load generator's busy event loop
    does not delay the arrival time. Times are ``time.monotonic()`` (one clock machine-wide)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._ours, theirs = multiprocessing.Pipe()
        self._proc = multiprocessing.Process(
            target=_receiver_main, args=(port, theirs), daemon=True
        )
        self.arrivals: dict[str, float] = {}  # area -> first arrival
        self.count = 0

    def start(self) -> None:
        self._proc.start()

    def poll(self) -> None:
        while self._ours.poll():
            arrived, area = self._ours.recv()
            self.count += 1
            if area is not None:
                self.arrivals.setdefault(area, arrived)

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(5)
