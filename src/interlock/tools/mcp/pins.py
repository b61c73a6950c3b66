"""Pinned MCP tool definitions: trust on first use, refuse on change, re-approve by an administrator.

The first time the gateway sees a registry tool on its server, the tool's definition (what a model
reads: description, schemas, annotations) is pinned by digest in the store. From then on the tool
is offered and called only while the server describes it exactly so; a server that changes what it
says about a tool (a "rug pull") gets the tool hidden and its calls refused until an administrator
looks at the new definition and approves it (``interlock tools approve``, ``POST /admin/tools/{name}/approve``).

Pins are kept in memory and read again from the store at every listing; a definition that does not
match the kept pin is checked against the store again before it is refused, so an approval given
through another worker (or the command line) counts at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from interlock.errors import Refusal
from interlock.store.base import Store, ToolPin
from interlock.tools.mcp.upstream import UpstreamTool, definition_bytes
from interlock.tools.registry import RegisteredTool

FIRST_USE = "first-use"

PinState = Literal["pinned", "changed", "unpinned", "not_served", "server_unavailable", "not_proxied"]


class ToolChanged(Refusal):
    status = 403
    code = "tool_changed"
    type = "permission_error"


@dataclass(frozen=True, slots=True)
class PinCheck:
    """A registry tool, what its server says about it now, and what was approved."""

    tool: RegisteredTool
    state: PinState
    current: UpstreamTool | None = None
    pin: ToolPin | None = None

    @property
    def usable(self) -> bool:
        return self.state == "pinned"

    def refusal(self) -> ToolChanged:
        return ToolChanged(f"The MCP tool {self.tool.name!r} has changed since it was approved: its server now "
                           "describes it differently. An administrator must review and re-approve it "
                           f"(interlock tools approve {self.tool.name}) before it can be used again.")

    def view(self, *, definitions: bool = False) -> dict[str, Any]:
        s = self.tool.settings
        out: dict[str, Any] = {"name": s.name, "server": s.server, "upstream_name": s.upstream_name or s.name,
                               "risk": s.risk, "side_effects": s.side_effects, "owner": s.owner, "state": self.state}
        if self.current is not None:
            out["current_digest"] = self.current.digest
        if self.pin is not None:
            out["pin"] = {"digest": self.pin.digest, "approved_by": self.pin.approved_by,
                          "approved_at": self.pin.approved_at}
        if definitions or self.state == "changed":
            if self.current is not None:
                out["current_definition"] = self.current.definition
            if self.pin is not None:
                out["pinned_definition"] = json.loads(self.pin.definition)
        return out


class PinBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pins: dict[str, ToolPin] = {}

    async def check(self, tool: RegisteredTool, current: UpstreamTool | None, *, server_ready: bool,
                    first_use: bool = True) -> PinCheck:
        """The tool's state; with ``first_use``, a tool seen for the first time is pinned as it is now."""
        if tool.settings.server is None:
            return PinCheck(tool, "not_proxied")
        name = tool.name
        kept = self._pins.get(name)
        if current is None:
            pin = kept or await self._store.tool_pin_get(name)
            return PinCheck(tool, "not_served" if server_ready else "server_unavailable", None, pin)
        if kept is not None and kept.digest == current.digest:
            return PinCheck(tool, "pinned", current, kept)
        pin = await self._store.tool_pin_get(name)
        if pin is None:
            if not first_use:
                return PinCheck(tool, "unpinned", current, None)
            pin = await self._put(tool, current, FIRST_USE)
        if pin.digest == current.digest:
            self._pins[name] = pin
            return PinCheck(tool, "pinned", current, pin)
        return PinCheck(tool, "changed", current, pin)

    async def reload(self) -> None:
        """Read every pin again (one query): approvals given elsewhere count from the next listing on."""
        self._pins = {pin.name: pin for pin in await self._store.tool_pins()}

    async def approve(self, tool: RegisteredTool, current: UpstreamTool, by: str,
                      expected_digest: str | None = None) -> tuple[ToolPin, ToolPin | None]:
        """Pin the definition the server gives now; with ``expected_digest``, only if it is still that one."""
        if expected_digest is not None and expected_digest != current.digest:
            raise Refusal(f"The MCP tool {tool.name!r} is now described differently from the definition you "
                          f"reviewed ({expected_digest}); its current digest is {current.digest}. Review it again.",
                          code="tool_changed", status=409)
        previous = await self._store.tool_pin_get(tool.name)
        return await self._put(tool, current, by), previous

    async def _put(self, tool: RegisteredTool, current: UpstreamTool, by: str) -> ToolPin:
        assert tool.settings.server is not None
        pin = ToolPin(tool.name, tool.settings.server, current.digest, definition_bytes(current.definition), by,
                      time.time())
        await self._store.tool_pin_put(pin)
        self._pins[tool.name] = pin
        return pin
