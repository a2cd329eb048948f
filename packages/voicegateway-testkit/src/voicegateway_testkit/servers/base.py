"""FakeServer: a provider's HTTP/WebSocket API on 127.0.0.1, for the real LiveKit plugins to call.

Each server runs an aiohttp app in a background thread with its own event loop, so a test's
event loop and synchronous code can both use it, and a blocked test loop cannot stall it. It
records every request for assertions and misbehaves on request (:meth:`FakeServer.fault`), so
retry, fallback and error paths are tested against the same client code that runs in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import WSCloseCode, web
from multidict import CIMultiDict, MultiDict

_SHUTDOWN_TIMEOUT = 1.0
"""Seconds stop() lets in-flight requests finish before cancelling them."""


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """Split a body into the pieces a streamed response writes one at a time."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


@dataclass
class RecordedRequest:
    """One request as the server saw it.

    ``json`` is the parsed body of a JSON request; ``form`` the text fields of a form or
    multipart upload; ``body_size`` the bytes of the body (of the uploaded files, for a form; of
    the binary frames, for a websocket). ``messages`` holds the text messages a websocket client
    sent, parsed as JSON, in order. ``open_seconds`` is how long a websocket stayed open as
    the server saw it, from the handshake to the close (None until it closes, and for plain
    requests): what a provider that bills connections counts.
    """

    method: str
    path: str
    query: MultiDict[str]
    headers: CIMultiDict[str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    body_size: int = 0
    messages: list[Any] = field(default_factory=list)
    open_seconds: float | None = None


@dataclass
class Fault:
    """What goes wrong on one route.

    - ``status``: answer with this HTTP status and the provider's error body instead of serving
      (for a websocket route, the handshake is refused).
    - ``delay``: seconds to wait before the first byte, e.g. to trip a client timeout.
    - ``drop_after``: cut the connection without a proper end after this many body chunks (SSE
      events, audio chunks, websocket messages); ``0`` cuts it before any body.
    - ``times``: how many requests it affects; ``None`` until cleared.
    """

    status: int | None = None
    delay: float = 0.0
    drop_after: int | None = None
    times: int | None = None


@dataclass
class _Exchange:
    """Per-request state, shared by the middleware and the handler through :data:`_EXCHANGE`."""

    record: RecordedRequest
    fault: Fault | None
    chunks: int = 0


_EXCHANGE: contextvars.ContextVar[_Exchange] = contextvars.ContextVar("fake_server_exchange")
"""aiohttp runs a request's middleware and handler in one task, so a context variable carries
the request's state without keys on the request object."""


class _HungUp(Exception):
    """Raised by the write helpers when the connection is gone (a fault cut it, or the client
    left) to end the handler quietly with the response it had started."""

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response


class FakeServer:
    """Base class: lifecycle, request recording, auth and fault injection.

    Subclasses list their routes in :meth:`_routes`, decide what counts as authenticated in
    :meth:`_authenticate`, render errors the way their provider does in :meth:`_error`, and
    write streamed bodies through :meth:`_write` / :meth:`_send_ws` so faults can cut them.

    ``api_key=None`` accepts any non-empty key; a string requires exactly that key.
    """

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._faults: dict[str, Fault] = {}
        self._faults_lock = threading.Lock()
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._websockets: set[web.WebSocketResponse] = set()

    # -- what subclasses provide ------------------------------------------------------------

    def _routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def _authenticate(self, request: web.Request) -> str | None:
        """Return why the request is not authenticated, or None when it is."""
        raise NotImplementedError

    def _error(self, status: int, message: str) -> web.Response:
        raise NotImplementedError

    # -- public API ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a path: append the provider's (``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to one path, oldest first."""
        return [r for r in self.requests if r.path == path]

    def fault(
        self,
        path: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        drop_after: int | None = None,
        times: int | None = None,
    ) -> Fault:
        """Make requests to ``path`` fail (see :class:`Fault`); replaces that path's fault."""
        injected = Fault(status=status, delay=delay, drop_after=drop_after, times=times)
        with self._faults_lock:
            self._faults[path] = injected
        return injected

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve from a background thread."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(ready),), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        return self

    def stop(self) -> None:
        """Close every connection and the port, and join the thread. Safe to call twice."""
        if self._thread is None:
            return
        assert self._loop is not None and self._stop_event is not None
        self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join()
        self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for handlers -----------------------------------------------------------------

    @staticmethod
    def _recorded() -> RecordedRequest:
        """The record of the request being handled, for handlers to read and add to."""
        return _EXCHANGE.get().record

    async def _write(self, request: web.Request, resp: web.StreamResponse, data: bytes) -> None:
        """Write one body chunk of a streamed response, unless a fault cuts the connection."""
        self._count_chunk(request, resp)
        try:
            await resp.write(data)
        except ConnectionResetError:
            raise _HungUp(resp) from None

    async def _send_ws(self, request: web.Request, ws: web.WebSocketResponse, data: Any) -> None:
        """Send one websocket message: bytes as binary, anything else as JSON text."""
        self._count_chunk(request, ws)
        try:
            if isinstance(data, bytes):
                await ws.send_bytes(data)
            else:
                await ws.send_str(json.dumps(data))
        except ConnectionResetError:
            raise _HungUp(ws) from None

    @contextlib.asynccontextmanager
    async def _websocket(self, request: web.Request) -> AsyncIterator[web.WebSocketResponse]:
        """Accept a websocket; stop() closes it if neither side has by then."""
        ws = web.WebSocketResponse(timeout=_SHUTDOWN_TIMEOUT)
        await ws.prepare(request)
        opened = time.monotonic()
        self._websockets.add(ws)
        try:
            yield ws
        finally:
            self._websockets.discard(ws)
            if request.transport is not None and not request.transport.is_closing():
                await ws.close()
            self._recorded().open_seconds = time.monotonic() - opened

    # -- internals ----------------------------------------------------------------------------

    def _count_chunk(self, request: web.Request, resp: web.StreamResponse) -> None:
        exchange = _EXCHANGE.get()
        drop_after = exchange.fault.drop_after if exchange.fault is not None else None
        if drop_after is not None and exchange.chunks >= drop_after:
            self._drop(request, resp)
        exchange.chunks += 1

    @staticmethod
    def _drop(request: web.Request, resp: web.StreamResponse) -> None:
        if request.transport is not None:
            request.transport.abort()
        raise _HungUp(resp)

    def _take_fault(self, path: str) -> Fault | None:
        with self._faults_lock:
            fault = self._faults.get(path)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[path]
            return fault

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        record = await self._record(request)
        self.requests.append(record)
        fault = self._take_fault(request.path)
        _EXCHANGE.set(_Exchange(record=record, fault=fault))
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if (denied := self._authenticate(request)) is not None:
            return self._error(401, denied)
        if fault is not None and fault.status is not None:
            return self._error(fault.status, f"fault injected by {type(self).__name__}")
        try:
            resp: web.StreamResponse = await handler(request)
            if fault is not None and fault.drop_after == 0 and not resp.prepared:
                await resp.prepare(request)
                self._drop(request, resp)
            return resp
        except _HungUp as hung_up:
            return hung_up.response

    @staticmethod
    async def _record(request: web.Request) -> RecordedRequest:
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=MultiDict(request.query),
            headers=CIMultiDict(request.headers),
        )
        if not request.body_exists:
            return record
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            for name, value in (await request.post()).items():
                if isinstance(value, str):
                    record.form[name] = value
                else:
                    record.body_size += len(value.file.read())
                    value.file.seek(0)
            return record
        body = await request.read()
        record.body_size = len(body)
        if request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                record.json = json.loads(body)
        return record

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        runner: web.AppRunner | None = None
        try:
            app = web.Application(middlewares=[self._middleware])
            app.add_routes(self._routes())
            app.on_shutdown.append(self._close_websockets)
            # handler_cancellation: stop serving a client that hung up (a timed-out client must
            # not keep stop() waiting on an injected delay)
            runner = web.AppRunner(
                app,
                access_log=None,
                shutdown_timeout=_SHUTDOWN_TIMEOUT,
                handler_cancellation=True,
            )
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self._port = runner.addresses[0][1]
        except BaseException as exc:
            self._startup_error = exc
            if runner is not None:
                await runner.cleanup()
            return
        finally:
            ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    async def _close_websockets(self, app: web.Application) -> None:
        for ws in list(self._websockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
