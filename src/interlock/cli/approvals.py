"""``interlock approvals list|show|approve|reject``: decide approval requests from a terminal.

The command runs the engine's approval service in-process against the deployment's store, as the
person whose API key it is given (``--key`` or ``INTERLOCK_API_KEY``): the same checks, audit records
and webhooks as the HTTP API. A gateway waiting on a request sees the decision on its next store poll.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import asyncpg
import click

from interlock.cli.common import config_option, echo_json, load_cli_settings, shown_url
from interlock.errors import Refusal
from interlock.identity.principal import Principal
from interlock.settings import ConfigError, Settings

if TYPE_CHECKING:  # for the annotations; loaded when a command runs, so `interlock --help` stays quick
    from interlock.approvals.actions import ApprovalActions

T = TypeVar("T")
KEY_ENV = "INTERLOCK_API_KEY"

key_option = click.option("--key", "key", envvar=KEY_ENV, default=None, show_envvar=True,
                          help="Your API key: decisions are yours, checked and recorded as you.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.group()
def approvals() -> None:
    """List, show, approve and reject approval requests."""


def _with_engine(settings: Settings, key: str | None,
                 fn: Callable[[ApprovalActions, Principal], Awaitable[T]]) -> T:
    """Run ``fn`` with the approval service started and the caller identified by their key; stop cleanly
    afterwards, so queued audit records are written and webhook deliveries finish."""
    if not key:
        raise click.ClickException(f"no API key: pass --key or set {KEY_ENV} to the key of the person deciding")
    from interlock.approvals.actions import ApprovalActions
    from interlock.approvals.texts import TextGuard
    from interlock.engine import Engine

    try:
        engine = Engine(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def run() -> T:
        await engine.store.open()
        try:
            await engine.writer.start()
            try:
                await engine.approvals.start()
                try:
                    token = key.strip()
                    if engine.jwt is not None and token.count(".") == 2:
                        await engine.jwt.refresh()
                    identity = await engine.authenticator.identify({"authorization": f"Bearer {token}"})
                    actions = ApprovalActions(engine.approvals, TextGuard(engine.guard.scan, engine.policy),
                                              max_wait_seconds=settings.approvals.max_wait_seconds)
                    return await fn(actions, identity.principal)
                finally:
                    await engine.approvals.stop()
            finally:
                await engine.writer.stop()
        finally:
            await engine.store.close()

    try:
        return asyncio.run(run())
    except Refusal as refusal:
        raise click.ClickException(f"{refusal.message} ({refusal.code})") from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, asyncpg.PostgresError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot use the store {shown_url(settings.store.url)}: "
                                   f"{type(exc).__name__}: {exc}") from None


# -- output ---------------------------------------------------------------------------------------


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _in(ts: float, now: float) -> str:
    left = ts - now
    if left <= 0:
        return "now"
    if left < 120:
        return f"{left:.0f}s"
    if left < 7200:
        return f"{left / 60:.0f}m"
    return f"{left / 3600:.1f}h"


def _who(roles: list[str], groups: list[str]) -> str:
    return " or ".join([f"role {r}" for r in roles] + [f"group {g}" for g in groups]) or "nobody"


def _what(view: dict[str, Any]) -> str:
    if view["kind"] == "tool_call":
        return f"tool {view.get('tool')}"
    return str(view.get("title", ""))


def _line(view: dict[str, Any], now: float) -> str:
    timing = f"expires in {_in(view['expires'], now)}" if view["state"] == "pending" else view["state"]
    return (f"{view['id']}  {view['state']:8}  {view['kind']:9}  route={view['route']}  "
            f"by {view['requester']}  {view['approvals']}/{view['quorum']}  {timing}  {_what(view)}")


def _details(view: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str]] = [("id", view["id"]), ("state", view["state"]), ("kind", view["kind"])]
    if view["kind"] == "tool_call":
        rows.append(("tool", str(view.get("tool"))))
        rows.append(("arguments", json.dumps(view.get("arguments"), sort_keys=True)))
        if view.get("editable_arguments"):
            rows.append(("editable", ", ".join(view["editable_arguments"])))
    else:
        rows += [("title", view.get("title", "")), ("details", view.get("details", ""))]
    requester = f"{view['requester']} ({view['requester_kind']})"
    if view.get("app"):
        requester += f" through {view['app']}"
    rows.append(("requester", requester))
    if view.get("reason"):
        rows.append(("reason", view["reason"]))
    approvers = view["approvers"]
    rows.append(("approvers", f"{_who(approvers['roles'], approvers['groups'])}; route {view['route']}"))
    rows.append(("quorum", f"{view['approvals']} of {view['quorum']} approvals"))
    rows.append(("created", _when(view["created"])))
    rows.append(("expires", _when(view["expires"])))
    if "escalate_to" in view:
        to = view["escalate_to"]
        state = "escalated" if view["escalated"] else f"at {_when(view.get('escalate_at'))}"
        rows.append(("escalation", f"to {_who(to['roles'], to['groups'])} ({state})"))
    if view.get("decided_at") is not None:
        rows.append(("decided", _when(view["decided_at"])))
    if view.get("outcome_reason"):
        rows.append(("outcome", view["outcome_reason"]))
    lines = [f"{name + ':':12}{value}" for name, value in rows]
    for vote in view.get("votes", []):
        edited = f" (edited {', '.join(vote['edited'])})" if vote.get("edited") else ""
        reason = f": {vote['reason']}" if vote.get("reason") else ""
        lines.append(f"  {vote['decision']:7} by {vote['by']} at {_when(vote['at'])}{edited}{reason}")
    return lines


# -- commands -------------------------------------------------------------------------------------

@approvals.command("list")
@config_option
@key_option
@click.option("--all", "everything", is_flag=True, help="Every request of your tenant, in any state (admins).")
@click.option("--state", type=click.Choice(["pending", "approved", "rejected", "expired", "used"]), default=None,
              help="Requests in this state (admins; default: the pending ones you may decide).")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@json_option
def approvals_list(config: Path | None, key: str | None, everything: bool, state: str | None, limit: int,
                   as_json: bool) -> None:
    """The pending requests you may decide (newest first)."""
    async def run(actions: ApprovalActions, me: Principal) -> list[dict[str, Any]]:
        return await actions.list_approvals(me, state=state, everything=everything, limit=limit)

    views = _with_engine(load_cli_settings(config), key, run)
    if as_json:
        echo_json(views)
        return
    if not views:
        click.echo("no approval requests" if everything or state else "nothing waiting for your decision")
        return
    now = time.time()
    for view in views:
        click.echo(_line(view, now))


@approvals.command("show")
@config_option
@key_option
@click.argument("approval_id")
@json_option
def approvals_show(config: Path | None, key: str | None, approval_id: str, as_json: bool) -> None:
    """One request: what, who asked, who may decide, the votes so far."""
    async def run(actions: ApprovalActions, me: Principal) -> dict[str, Any]:
        return await actions.show_approval(me, approval_id)

    view = _with_engine(load_cli_settings(config), key, run)
    if as_json:
        echo_json(view)
    else:
        click.echo("\n".join(_details(view)))


def _edits(values: tuple[str, ...]) -> dict[str, Any]:
    """``name=value`` pairs; a value is read as JSON when it is JSON (``5``, ``true``, ``["a"]``), else text."""
    edits: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: write name=value", param_hint="--set")
        if name in edits:
            raise click.BadParameter(f"{name!r} is given twice", param_hint="--set")
        try:
            edits[name] = json.loads(raw)
        except ValueError:
            edits[name] = raw
    return edits


def _decide(config: Path | None, key: str | None, approval_id: str, decision: Literal["approve", "reject"],
            reason: str, edits: dict[str, Any], as_json: bool) -> None:
    async def run(actions: ApprovalActions, me: Principal) -> dict[str, Any]:
        return await actions.decide_approval(me, None, approval_id, decision, reason, edits)

    view = _with_engine(load_cli_settings(config), key, run)
    if as_json:
        echo_json(view)
    elif view["state"] == "pending":
        click.echo(f"{view['id']}: your approval is recorded; {view['approvals']} of {view['quorum']} "
                   f"approvals so far, still pending")
    else:
        click.echo(f"{view['id']}: {view['state']}")


@approvals.command("approve")
@config_option
@key_option
@click.argument("approval_id")
@click.option("--reason", default="", help="Why (kept in the request and the audit log).")
@click.option("--set", "edits", multiple=True, metavar="NAME=VALUE",
              help="Change an editable argument of a held tool call (repeatable; JSON values are parsed).")
@json_option
def approvals_approve(config: Path | None, key: str | None, approval_id: str, reason: str, edits: tuple[str, ...],
                      as_json: bool) -> None:
    """Approve a request (one vote towards its quorum)."""
    _decide(config, key, approval_id, "approve", reason, _edits(edits), as_json)


@approvals.command("reject")
@config_option
@key_option
@click.argument("approval_id")
@click.option("--reason", required=True, help="Why (shown to the requester and kept in the audit log).")
@json_option
def approvals_reject(config: Path | None, key: str | None, approval_id: str, reason: str, as_json: bool) -> None:
    """Reject a request; a single rejection rejects it."""
    if not reason.strip():
        raise click.BadParameter("say why the request is rejected", param_hint="--reason")
    _decide(config, key, approval_id, "reject", reason, {}, as_json)
