"""Helpers for the MCP gateway tests. A gateway in front of two real MCP servers: one over stdio, one over streamable HTTP.

Both run ``upstream_server.py``. The registry names five of their tools (under other names), one tool
no server serves, and one tool that is not proxied; the servers also serve a tool the registry does
not know. Policies: analysts may search, support agents may refund (small amounts at once, larger
ones after an admin approves), everybody may look customers up and fetch pages.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from support.gateways import ApiKey, Gateway, KeySpec
from support.settings import MODELS_POLICY

SERVER_SCRIPT = Path(__file__).with_name("upstream_server.py")

TOOLS_POLICY = """\
@id("t.lookup")
permit (principal, action == Action::"call_tool", resource == Tool::"crm_lookup");

@id("t.fetch")
permit (principal, action == Action::"call_tool", resource == Tool::"fetch_page");

@id("t.search-analysts")
permit (principal in Role::"analyst", action == Action::"call_tool", resource == Tool::"kb_search");

@id("t.refund-small")
permit (principal in Role::"support_agent", action == Action::"call_tool", resource == Tool::"refund")
when { context.arguments has amount && context.arguments.amount < 100 };

@id("t.refund-approval")
permit (principal in Role::"support_agent", action == Action::"call_tool_with_approval", resource == Tool::"refund")
when { context.arguments has amount && context.arguments.amount <= 1000 };

@id("t.refund-limit")
forbid (principal, action in Action::"use_tool", resource == Tool::"refund")
when { context.arguments has amount && context.arguments.amount > 1000 };

@id("t.crash-admins")
permit (principal in Role::"admin", action == Action::"call_tool", resource == Tool::"crash");

@id("t.data")
permit (principal, action == Action::"send_data_to_tool", resource);

@id("t.analysts-no-secrets")
forbid (principal in Role::"analyst", action == Action::"send_data_to_tool", resource in DataClass::"secret");
"""

RESTORE_POLICY = """\
@id("t.restore-personal")
permit (principal, action == Action::"restore_data", resource)
when { resource in DataClass::"pii" || resource in DataClass::"fin" };
"""

DATA_POLICY = """\
@id("t.data-redacted")
permit (principal, action == Action::"send_data_redacted", resource);
"""

POLICIES = {"models.cedar": MODELS_POLICY, "tools.cedar": TOOLS_POLICY, "restore.cedar": RESTORE_POLICY,
            "data.cedar": DATA_POLICY}

KEYS = (
    KeySpec("ana", ("analyst",)),
    KeySpec("sam", ("support_agent",)),
    KeySpec("root", ("admin",)),
    KeySpec("nobody"),
)


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def registry() -> list[dict[str, Any]]:
    return [
        {"name": "crm_lookup", "server": "crm", "upstream_name": "lookup_customer", "risk": "low",
         "parameters": _object({"customer_id": {"type": "string", "maxLength": 40}}, ["customer_id"])},
        {"name": "refund", "server": "crm", "risk": "high", "side_effects": "write",
         "parameters": _object({"payment_id": {"type": "string", "pattern": "^pay_[A-Za-z0-9]+$"},
                                "amount": {"type": "integer", "exclusiveMinimum": 0},
                                "currency": {"type": "string", "enum": ["EUR", "USD"]}},
                               ["payment_id", "amount", "currency"])},
        {"name": "kb_search", "server": "kb", "upstream_name": "search", "risk": "low", "description":
            "Search the support knowledge base."},
        {"name": "fetch_page", "server": "kb", "risk": "low"},
        {"name": "ghost", "server": "crm", "upstream_name": "not_there", "risk": "low"},
        {"name": "crash", "server": "crm", "risk": "low"},
        {"name": "calculator", "risk": "low", "side_effects": "none"},
    ]


@dataclass
class Upstreams:
    """What the upstream servers share with the test: their call log and the description file."""

    directory: Path
    http_port: int

    @property
    def call_log(self) -> Path:
        return self.directory / "calls.jsonl"

    @property
    def description_file(self) -> Path:
        return self.directory / "lookup_description.txt"

    @property
    def env(self) -> dict[str, str]:
        return {"UPSTREAM_CALL_LOG": str(self.call_log), "UPSTREAM_DESCRIPTION_FILE": str(self.description_file)}

    def calls(self) -> list[dict[str, Any]]:
        if not self.call_log.exists():
            return []
        return [json.loads(line) for line in self.call_log.read_text(encoding="utf-8").splitlines() if line]

    def clear(self) -> None:
        self.call_log.unlink(missing_ok=True)
        self.description_file.unlink(missing_ok=True)


def mcp_settings(ups: Upstreams, *, approval_wait: float, crm_env: dict[str, str] | None,
                 kb_url: str | None) -> dict[str, Any]:
    return {
        "servers": [
            {"name": "crm", "command": [sys.executable, str(SERVER_SCRIPT), "stdio"], "env": crm_env or ups.env,
             "timeout_seconds": 10},
            {"name": "kb", "url": kb_url or f"http://127.0.0.1:{ups.http_port}/mcp", "timeout_seconds": 5},
        ],
        "approval_wait_seconds": approval_wait,
    }


def adjust_for_mcp(ups: Upstreams, *, approval_wait: float = 5.0, crm_env: dict[str, str] | None = None,
                   kb_url: str | None = None) -> Callable[[dict[str, Any]], None]:
    """Settings for a gateway in front of the test servers (``crm_env`` for a stdio server of its own)."""

    def adjust(tree: dict[str, Any]) -> None:
        tree["policy"]["roles"] = ["admin", "analyst", "support_agent"]
        tree["tools"] = registry()
        tree["approvals"] = {"routes": {"default": {"approvers": {"roles": ["admin"]}, "quorum": 1,
                                                    "expires_after_seconds": 60,
                                                    "editable_arguments": ["amount"]}},
                             "sweep_interval_seconds": 0.2}
        tree["mcp"] = mcp_settings(ups, approval_wait=approval_wait, crm_env=crm_env, kb_url=kb_url)

    return adjust


def secret_of(key: ApiKey | str) -> str:
    return key.key if isinstance(key, ApiKey) else key


@contextlib.asynccontextmanager
async def mcp_client(gw: Gateway, key: ApiKey | str | None, *, mode: str = "auto",
                     path: str = "/mcp", headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """The MCP SDK's client, over streamable HTTP, authenticated with a gateway key."""
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {secret_of(key)}"
    http = httpx2.AsyncClient(headers=sent, timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(gw.url + path, http_client=http), mode=mode,
                            cache=None) as client:
        yield client


def mcp_records(gw: Gateway) -> list[dict[str, Any]]:
    return [r for r in gw.records() if r.get("endpoint") == "mcp.tools/call"]


def admin_http(gw: Gateway, key: ApiKey) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {key.key}"}, timeout=30)


async def refusal_of(client: Client, tool: str, arguments: dict[str, Any]) -> MCPError:
    """The JSON-RPC error a refused call answers with (failing the test if the call went through)."""
    try:
        result = await client.call_tool(tool, arguments)
    except MCPError as exc:
        return exc
    raise AssertionError(f"the call to {tool} was not refused: {result}")


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)
