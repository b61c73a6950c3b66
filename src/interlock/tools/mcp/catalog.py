"""The MCP tools on offer: registry tools joined with what their servers say now and what was pinned.

Shared by the gateway (what to list, whether a call may proceed), the admin API and ``interlock
tools`` on the command line, which builds one from the settings without a running gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from interlock.audit.writer import AuditWriter
from interlock.errors import NotFound, Refusal
from interlock.ids import new_request_id
from interlock.settings import Settings
from interlock.store.base import Store
from interlock.tools.mcp.pins import PinBook, PinCheck
from interlock.tools.mcp.upstream import Upstream, UpstreamTool
from interlock.tools.registry import RegisteredTool, ToolRegistry

# How long start-up waits for a server's first connection before going on without it.
START_WAIT_SECONDS = 10.0


def upstream_name(tool: RegisteredTool) -> str:
    return tool.settings.upstream_name or tool.name


class McpCatalog:
    def __init__(self, registry: ToolRegistry, upstreams: dict[str, Upstream], pins: PinBook,
                 writer: AuditWriter) -> None:
        self.registry = registry
        self.upstreams = upstreams
        self.pins = pins
        self._writer = writer

    async def start(self) -> None:
        """Connect to every server, wait (boundedly) for the first attempts, and pin what is new."""
        for upstream in self.upstreams.values():
            await upstream.start()
        await asyncio.gather(*(u.wait_ready(min(u.settings.timeout_seconds, START_WAIT_SECONDS))
                               for u in self.upstreams.values()))
        await self.checks(refresh=False)

    async def stop(self) -> None:
        await asyncio.gather(*(u.stop() for u in self.upstreams.values()))

    def proxied(self) -> list[RegisteredTool]:
        return [t for t in self.registry if t.settings.server is not None]

    async def _refresh(self, servers: set[str]) -> None:
        async def one(upstream: Upstream) -> None:
            with contextlib.suppress(Refusal):  # a server that fails now simply offers nothing
                await upstream.list_tools()

        await asyncio.gather(*(one(self.upstreams[s]) for s in servers if self.upstreams[s].state == "ready"))

    def current(self, tool: RegisteredTool) -> UpstreamTool | None:
        assert tool.settings.server is not None
        return self.upstreams[tool.settings.server].tools.get(upstream_name(tool))

    async def checks(self, *, refresh: bool, tools: list[RegisteredTool] | None = None,
                     first_use: bool = True) -> list[PinCheck]:
        """Every tool's state; ``refresh`` asks the servers for their tools again first; ``first_use``
        pins a tool seen for the first time (the gateway does, a look from the command line does not)."""
        chosen = tools if tools is not None else list(self.registry)
        if refresh:
            await self._refresh({t.settings.server for t in chosen if t.settings.server is not None})
            await self.pins.reload()
        out = []
        for tool in chosen:
            server = tool.settings.server
            if server is None:
                out.append(await self.pins.check(tool, None, server_ready=False))
                continue
            ready = self.upstreams[server].state == "ready"
            out.append(await self.pins.check(tool, self.current(tool) if ready else None, server_ready=ready,
                                             first_use=first_use))
        return out

    async def check_call(self, tool: RegisteredTool) -> PinCheck:
        """The state a call sees: the definition as last listed (listed again if the server said it changed)."""
        assert tool.settings.server is not None
        upstream = self.upstreams[tool.settings.server]
        current = await upstream.current(upstream_name(tool))
        return await self.pins.check(tool, current, server_ready=True)

    def proxied_tool(self, name: str) -> RegisteredTool:
        tool = self.registry.get(name)
        if tool is None or tool.settings.server is None:
            raise NotFound(f"There is no MCP tool {name!r} in the tool registry (only tools with a `server` "
                           "are served through the MCP gateway).", code="tool_unknown")
        return tool

    async def approve(self, name: str, by: str, *, tenant: str | None = None,
                      expected_digest: str | None = None) -> dict[str, Any]:
        """Pin the definition the tool's server gives now, recorded in the audit log as who approved it."""
        tool = self.proxied_tool(name)
        assert tool.settings.server is not None
        upstream = self.upstreams[tool.settings.server]
        listed = await upstream.list_tools()
        current = listed.get(upstream_name(tool))
        if current is None:
            raise NotFound(f"The MCP server {upstream.name!r} does not offer a tool named {upstream_name(tool)!r} "
                           "now, so there is nothing to approve.", code="tool_not_served")
        pin, previous = await self.pins.approve(tool, current, by, expected_digest)
        record: dict[str, Any] = {
            "v": 1, "request_id": new_request_id(), "time": round(time.time(), 6),
            "endpoint": "mcp.tools/approve", "principal": by, "tenant": tenant, "tool": name,
            "server": upstream.name, "digest": pin.digest, "status": 200, "outcome": "ok",
        }
        if previous is not None:
            record["previous_digest"] = previous.digest
        await self._writer.append({k: v for k, v in record.items() if v is not None}, None)
        check = PinCheck(tool, "pinned", current, pin)
        view = check.view(definitions=True)
        view["previous_digest"] = previous.digest if previous is not None else None
        return view


@contextlib.asynccontextmanager
async def offline_catalog(settings: Settings, store: Store, servers: set[str] | None = None
                          ) -> AsyncIterator[McpCatalog]:
    """A catalogue for the command line: its own connections to the servers, its own audit writer."""
    s = settings.store
    writer = AuditWriter(store, window_ms=0, batch_max=s.commit_batch_max, timeout_seconds=s.commit_timeout_seconds)
    chosen = [m for m in settings.mcp.servers if servers is None or m.name in servers]
    catalog = McpCatalog(ToolRegistry(settings.tools), {m.name: Upstream(m) for m in settings.mcp.servers},
                         PinBook(store), writer)
    await writer.start()
    try:
        for m in chosen:
            await catalog.upstreams[m.name].start()
        await asyncio.gather(*(catalog.upstreams[m.name].wait_ready(m.timeout_seconds) for m in chosen))
        yield catalog
    finally:
        await catalog.stop()
        await writer.stop()
