"""Upstream MCP servers: one long-lived client session per server, reconnected when it fails.

Each server gets a task that owns its connection (a stdio process or a streamable-HTTP session): the
task connects, lists the server's tools, then waits, pinging now and then; when the connection is lost
(a failed call, a failed ping, the process exiting) it reconnects with a growing back-off. A server
that cannot be reached leaves the gateway running: its tools are unavailable, calls to them are
refused with ``upstream_unavailable``, and ``state``/``last_error`` say why (``/readyz`` shows them).

A tool's *definition* is what a model reads about it: title, description, input and output schemas,
annotations. Its digest (SHA-256 over the canonical JSON) is what an administrator pins.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

from interlock.errors import Refusal, UpstreamTimeout, UpstreamUnavailable
from interlock.settings import McpServerSettings
from interlock.tasks import cancel_and_wait

log = logging.getLogger("interlock.mcp")

State = Literal["connecting", "ready", "down", "stopped"]

_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 30.0
_RELIST_INTERVAL = 15.0
_LIST_PAGES_MAX = 100


@dataclass(frozen=True, slots=True)
class UpstreamTool:
    """One tool as its server describes it now."""

    server: str
    name: str
    definition: dict[str, Any]
    digest: str
    tool: types.Tool


def tool_definition(tool: types.Tool) -> dict[str, Any]:
    """The parts of a tool a model reads, in wire form: what a pin covers."""
    wire = tool.model_dump(by_alias=True, mode="json", exclude_none=True)
    return {k: wire[k] for k in ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
            if k in wire}


def definition_bytes(definition: dict[str, Any]) -> bytes:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def definition_digest(definition: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(definition_bytes(definition)).hexdigest()


class Upstream:
    """One upstream MCP server and the session to it."""

    def __init__(self, settings: McpServerSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.state: State = "connecting"
        self.last_error = ""
        self.connected_at: float | None = None
        self.tools: dict[str, UpstreamTool] = {}
        self._client: Client | None = None
        self._lost = asyncio.Event()
        self._ready = asyncio.Event()
        self._stale = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._list_lock = asyncio.Lock()
        self._generation = 0

    # -- lifetime -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"interlock-mcp-upstream-{self.name}")

    async def wait_ready(self, seconds: float) -> bool:
        """Whether the first connection attempt succeeded, waiting at most ``seconds`` for it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), seconds)
        return self.state == "ready"

    async def stop(self) -> None:
        self._stopping = True
        self._lost.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.settings.timeout_seconds + 5)
            except (TimeoutError, Exception):
                await cancel_and_wait(self._task)
            self._task = None
        self.state = "stopped"

    async def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stopping:
            self.state = "connecting"
            self._lost.clear()
            try:
                async with contextlib.AsyncExitStack() as stack:
                    # Entering needs no deadline of its own: the handshake is a request, bounded by the
                    # client's read timeout (a deadline scope around it could not nest with the client's).
                    client = await stack.enter_async_context(self._new_client())
                    with anyio.fail_after(self.settings.timeout_seconds):
                        await self._list(client)
                    self._client = client
                    self.state, self.last_error, self.connected_at = "ready", "", time.time()
                    self._ready.set()
                    backoff = _BACKOFF_FIRST
                    log.info("MCP server %s connected (%d tools)", self.name, len(self.tools))
                    await self._watch(client)
            except Exception as exc:
                error = describe(exc)
                if not self._stopping and error != self.last_error:
                    # Said once per kind of failure, not on every retry.
                    log.warning("MCP server %s is unavailable: %s", self.name, error)
                self.last_error = error
            finally:
                self._client = None
                self.tools = {}
            if self._stopping:
                break
            self.state = "down"
            self._ready.set()  # whoever waits for the first attempt learns it failed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _watch(self, client: Client) -> None:
        """Wait until the connection is lost or the gateway stops. Now and then the tools are listed
        again: a listing that fails loses the connection (ping is gone from the 2026 protocol), and one
        that succeeds keeps the definitions calls are checked against current."""
        while not self._stopping:
            with anyio.move_on_after(_RELIST_INTERVAL):
                await self._lost.wait()
            if self._lost.is_set():
                return
            with anyio.fail_after(self.settings.timeout_seconds):
                await self._list(client)

    def _new_client(self) -> Client:
        s = self.settings
        common: dict[str, Any] = {"read_timeout_seconds": s.timeout_seconds, "cache": None,
                                  "message_handler": self._on_message}
        if s.command is not None:
            params = StdioServerParameters(command=s.command[0], args=list(s.command[1:]), env=dict(s.env),
                                           cwd=s.cwd)
            # The server's stderr goes to the process's own (the server log), even when sys.stderr is a
            # captured stream without a file descriptor.
            return Client(stdio_client(params, errlog=sys.__stderr__ or sys.stderr), **common)
        assert s.url is not None
        headers = dict(s.headers)
        for header, variable in s.headers_env.items():
            value = os.environ.get(variable)
            if value is None:
                raise UpstreamUnavailable(f"MCP server {self.name!r}: the environment variable {variable} "
                                          f"(for the {header} header) is not set.")
            headers[header] = value
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(s.timeout_seconds,
                                                                          read=max(s.timeout_seconds, 300.0)))
        return Client(_OwningTransport(s.url, http), **common)

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            # The next call lists again first, so it is checked against what the server says now.
            self._stale = True
        elif isinstance(message, Exception):
            log.warning("MCP server %s: %s", self.name, describe(message))
        await anyio.lowlevel.checkpoint()

    # -- requests -------------------------------------------------------------------------------

    def _connected(self) -> Client:
        client = self._client
        if client is None or self.state != "ready":
            why = f": {self.last_error}" if self.last_error else ""
            raise UpstreamUnavailable(f"The MCP server {self.name!r} is not connected{why}. Its tools are "
                                      "unavailable until it is reachable again.")
        return client

    async def list_tools(self) -> dict[str, UpstreamTool]:
        """The server's tools as it describes them now (listed again; callers arriving while a listing
        is under way share it)."""
        client = self._connected()
        generation = self._generation
        try:
            with anyio.fail_after(self.settings.timeout_seconds):
                await self._list(client, generation)
        except Exception as exc:
            raise self._failed(exc, "listing its tools") from None
        return self.tools

    async def _list(self, client: Client, generation: int | None = None) -> None:
        async with self._list_lock:
            if generation is not None and generation != self._generation:
                return  # listed while this caller waited for the lock: that listing is fresh enough
            self._stale = False
            found: dict[str, UpstreamTool] = {}
            cursor: str | None = None
            for _ in range(_LIST_PAGES_MAX):
                page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                for tool in page.tools:
                    definition = tool_definition(tool)
                    found[tool.name] = UpstreamTool(self.name, tool.name, definition, definition_digest(definition),
                                                    tool)
                cursor = page.next_cursor
                if cursor is None:
                    break
            self.tools = found
            self._generation += 1

    async def current(self, name: str) -> UpstreamTool | None:
        """The tool's definition as last listed, listed again first if the server said it changed."""
        if self._stale:
            await self.list_tools()
        else:
            self._connected()
        return self.tools.get(name)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        client = self._connected()
        try:
            return await client.call_tool(name, arguments, read_timeout_seconds=self.settings.timeout_seconds)
        except Exception as exc:
            raise self._failed(exc, f"calling {name!r}") from None

    def _failed(self, exc: Exception, doing: str) -> Refusal:
        if (isinstance(exc, MCPError) and exc.code == REQUEST_TIMEOUT) or isinstance(exc, TimeoutError):
            return UpstreamTimeout(f"The MCP server {self.name!r} did not answer within "
                                   f"{self.settings.timeout_seconds:g} s while {doing}.")
        if isinstance(exc, MCPError) and exc.code != CONNECTION_CLOSED:
            # The server answered with an error: the connection is fine.
            return UpstreamUnavailable(f"The MCP server {self.name!r} failed while {doing}: {exc.message}",
                                       code="upstream_error", status=502)
        self.last_error = describe(exc)
        self._lost.set()
        return UpstreamUnavailable(f"The MCP server {self.name!r} is unreachable ({self.last_error}); "
                                   "reconnecting.")

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "transport": "stdio" if self.settings.command else "http",
                               "tools": len(self.tools)}
        if self.last_error:
            out["last_error"] = self.last_error
        return out


class _OwningTransport:
    """``streamable_http_client`` over an HTTP client it closes when the session ends."""

    def __init__(self, url: str, http: httpx2.AsyncClient) -> None:
        self._url = url
        self._http = http
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Any:
        await self._stack.enter_async_context(self._http)
        return await self._stack.enter_async_context(streamable_http_client(self._url, http_client=self._http))

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


def describe(exc: BaseException) -> str:
    """One line about a failure, from inside exception groups (transports raise them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    if isinstance(exc, Refusal):
        return exc.message
    return f"{type(exc).__name__}: {text}"[:300]
