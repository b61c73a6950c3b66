"""``interlock keys create|list|revoke``: API keys, shown once and stored only as a hash."""

from __future__ import annotations

import time
from pathlib import Path

import click

from interlock.cli.common import config_option, echo_json, with_store
from interlock.cli.common import load_cli_settings as _settings
from interlock.identity.keys import new_key
from interlock.identity.principal import Principal


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@config_option
@click.option("--name", required=True, help="A label for the key (and the principal id by default).")
@click.option("--principal", "principal_id", default=None, help="Principal id (default: the name).")
@click.option("--kind", type=click.Choice(["user", "app", "service"]), default="user", show_default=True)
@click.option("--tenant", default="default", show_default=True)
@click.option("--role", "roles", multiple=True, help="A role (repeatable).")
@click.option("--group", "groups", multiple=True, help="A group (repeatable).")
@click.option("--may-act-for", is_flag=True, help="May act on behalf of end users.")
@click.option("--ttl", "ttl", type=float, default=None, help="Expire after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the key and its record as JSON.")
def keys_create(config: Path | None, name: str, principal_id: str | None, kind: str, tenant: str,
                roles: tuple[str, ...], groups: tuple[str, ...], may_act_for: bool, ttl: float | None,
                as_json: bool) -> None:
    """Create a key. It is printed once and stored only as a hash."""
    settings = _settings(config)
    principal = Principal(id=principal_id or name, kind=kind, tenant=tenant,  # type: ignore[arg-type]
                          roles=frozenset(roles), groups=frozenset(groups), may_act_for=may_act_for, name=name)
    key, record = new_key(name, principal, ttl_seconds=ttl)
    with_store(settings, lambda s: s.create_key(record))
    if as_json:
        echo_json({"key": key, "id": record.id, "principal": principal.id}, indent=False)
    else:
        click.echo(key)
        click.echo(f"(id {record.id}; shown once: store it now)", err=True)


@keys.command("list")
@config_option
def keys_list(config: Path | None) -> None:
    """List keys (never the keys themselves)."""
    settings = _settings(config)
    records = with_store(settings, lambda s: s.list_keys())
    now = time.time()
    for r in records:
        p = r.principal
        click.echo(f"{r.id}  {r.prefix}...  {r.state(now):8}  {p.kind:7} {p.id}  tenant={p.tenant}  "
                   f"roles={','.join(sorted(p.roles)) or '-'}")


@keys.command("revoke")
@config_option
@click.argument("key_id")
def keys_revoke(config: Path | None, key_id: str) -> None:
    """Revoke a key; the next call with it is refused."""
    settings = _settings(config)
    if not with_store(settings, lambda s: s.revoke_key(key_id, time.time())):
        raise click.ClickException(f"no active key has the id {key_id!r} ('interlock keys list' shows them)")
    click.echo(f"revoked {key_id}")
