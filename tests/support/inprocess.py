"""An ASGI app served inside the test process, reached through httpx's ASGI transport: no port, no child.

The app runs on an event loop of its own in a helper thread, started and stopped through its lifespan
(``asgi-lifespan``; httpx's ``ASGITransport`` sends no lifespan events), so a session-long app outlives
each test's own loop. Clients reach it through a transport that hands every request to that loop, from
sync code (``transport()``, for ``httpx.Client`` and the ``openai`` SDK's ``http_client=``) or async code
(``async_transport()``). httpx's ASGI transport reads the whole answer before returning it: a streamed
answer arrives complete, so what a client does while a stream is open needs a served process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager

T = TypeVar("T")
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class InProcessApp:
    """``start()`` runs the app's start-up on its loop; ``stop()`` its shutdown. ``log_path`` gets the
    ``interlock`` loggers' output meanwhile (as a served process's log file would)."""

    def __init__(self, app: ASGIApp, log_path: Path | None = None, *, timeout: float = 60.0) -> None:
        self.app = app
        self._log_path = log_path
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._started = concurrent.futures.Future[None]()
        self._handler: logging.Handler | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._log_path is not None:
            self._handler = logging.FileHandler(self._log_path, encoding="utf-8")
            self._handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logging.getLogger("interlock").addHandler(self._handler)
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), name="in-process-app",
                                        daemon=True)
        self._thread.start()
        try:
            self._started.result(timeout=self._timeout)
        except BaseException:
            self._thread.join(timeout=self._timeout)
            self._detach_log()
            raise

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            async with LifespanManager(self.app, startup_timeout=self._timeout,  # type: ignore[arg-type]
                                       shutdown_timeout=self._timeout):
                self._started.set_result(None)
                await self._stopping.wait()
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)
                return
            raise

    def stop(self) -> None:
        """Run the shutdown (the engine flushes and closes) and end the loop's thread."""
        if not self.running:
            return
        assert self._loop is not None
        assert self._stopping is not None
        assert self._thread is not None
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=self._timeout)
        self._detach_log()
        if self._thread.is_alive():
            raise RuntimeError(f"the in-process app did not shut down within {self._timeout} s")

    def _detach_log(self) -> None:
        if self._handler is not None:
            logging.getLogger("interlock").removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the app's loop (where its engine lives) and return its result."""
        assert self._loop is not None

        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout=self._timeout)

    async def _handle(self, request: httpx.Request, body: bytes) -> tuple[int, httpx.Headers, bytes]:
        transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=body,
                              extensions=request.extensions)
        response = await transport.handle_async_request(inner)
        # The raw bytes: the client decodes them by the response's own headers.
        raw = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
        return response.status_code, response.headers, raw

    def transport(self) -> httpx.BaseTransport:
        return _SyncBridge(self)

    def async_transport(self) -> httpx.AsyncBaseTransport:
        return _AsyncBridge(self)


class _SyncBridge(httpx.BaseTransport):
    def __init__(self, app: InProcessApp) -> None:
        self._app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, raw = self._app.run(self._app._handle(request, request.read()))
        return httpx.Response(status, headers=headers, content=raw, request=request)


class _AsyncBridge(httpx.AsyncBaseTransport):
    def __init__(self, app: InProcessApp) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        loop = self._app._loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(self._app._handle(request, body), loop)
        status, headers, raw = await asyncio.wrap_future(future)
        return httpx.Response(status, headers=headers, content=raw, request=request)
