"""``interlock tools list|approve``: the tool registry and the pinned MCP tool definitions.

Both talk to the MCP servers themselves (a stdio server is started for the occasion), so they work
without a running gateway; an approval is written to the store and the audit log, and every gateway
worker honours it on its next call.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Any

import click

from interlock.cli.common import config_option, echo_json, load_cli_settings, with_store
from interlock.errors import Refusal
from interlock.store import Store


@click.group()
def tools() -> None:
    """The tool registry and its MCP tools' pinned definitions."""



@tools.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the definitions of changed tools).")
@click.option("--definitions", is_flag=True, help="Include every tool's current and pinned definition (JSON).")
def tools_list(config: Path | None, as_json: bool, definitions: bool) -> None:
    """Every registry tool; for MCP tools, whether the server still describes them as approved."""
    from interlock.tools.mcp.catalog import offline_catalog  # the MCP SDK, loaded only when needed

    settings = load_cli_settings(config)

    async def run(store: Store) -> list[dict[str, Any]]:
        async with offline_catalog(settings, store) as catalog:
            return [c.view(definitions=definitions) for c in await catalog.checks(refresh=False, first_use=False)]

    views = with_store(settings, run)
    if as_json or definitions:
        echo_json({"object": "list", "data": views})
        return
    if not views:
        click.echo("The tool registry is empty (`tools:` in the settings).")
        return
    width = max(len(v["name"]) for v in views)
    for v in views:
        where = f"{v['server']}:{v['upstream_name']}" if v["server"] else "-"
        pin = v.get("pin", {})
        approved = f"{pin['approved_by']} {pin['digest'][:19]}" if pin else ""
        click.echo(f"{v['name']:<{width}}  {v['state']:<18}  {where:<30}  {approved}")
    changed = [v["name"] for v in views if v["state"] == "changed"]
    if changed:
        click.echo(f"\n{len(changed)} tool(s) changed since approval; review with `interlock tools list --json` "
                   f"and approve with `interlock tools approve NAME`.", err=True)


@tools.command("approve")
@config_option
@click.argument("name")
@click.option("--digest", default=None, help="Approve only if the definition still has this digest "
                                             "(the current_digest you reviewed).")
@click.option("--by", default=None, help="Who approves, for the audit log (default: cli:<your user name>).")
def tools_approve(config: Path | None, name: str, digest: str | None, by: str | None) -> None:
    """Accept the definition NAME's server gives now, so the tool is offered and callable again."""
    from interlock.tools.mcp.catalog import offline_catalog  # the MCP SDK, loaded only when needed

    settings = load_cli_settings(config)
    tool = settings.tool(name)
    if tool is None or tool.server is None:
        raise click.ClickException(f"there is no MCP tool {name!r} in the tool registry (a tool with a `server`)")
    who = by or f"cli:{getpass.getuser()}"

    async def run(store: Store) -> dict[str, Any]:
        async with offline_catalog(settings, store, {tool.server} if tool.server else None) as catalog:
            return await catalog.approve(name, who, expected_digest=digest)

    try:
        view = with_store(settings, run)
    except Refusal as refusal:
        raise click.ClickException(refusal.message) from None
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise click.Abort() from None
    previous = view.get("previous_digest")
    click.echo(f"approved {name}: {view['current_digest']}" + (f" (was {previous})" if previous else ""))
