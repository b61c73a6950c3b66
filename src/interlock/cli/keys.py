"""``interlock keys create|list|revoke``: API keys, shown once and stored only as a hash."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import click

from interlock.cli.common import config_option, echo_json, with_store
from interlock.cli.common import load_cli_settings as _settings
from interlock.identity.keys import KeyRequestError, check_key_request, new_key
from interlock.identity.principal import Principal
from interlock.policy.setup import default_policy_dir, entity_config
from interlock.settings import ConfigError, Settings
from interlock.store import Store


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
@click.option("--may-act-for", is_flag=True, help="May act on behalf of end users of its tenant who hold no keys.")
@click.option("--act-for", "act_for_ids", multiple=True,
              help="An end user (id) it may act for, even one with keys of their own (repeatable; implies "
                   "--may-act-for and bounds it to those named).")
@click.option("--act-for-group", "act_for_groups", multiple=True,
              help="A group whose token-holding users it may act for (repeatable; implies --may-act-for).")
@click.option("--ttl", "ttl", type=float, default=None, help="Expire after this many seconds (positive).")
@click.option("--force", is_flag=True, help="Create it even though the principal already holds keys (rotation); "
                                            "recorded in the key.")
@click.option("--json", "as_json", is_flag=True, help="Print the key and its record as JSON.")
def keys_create(config: Path | None, name: str, principal_id: str | None, kind: str, tenant: str,
                roles: tuple[str, ...], groups: tuple[str, ...], may_act_for: bool, act_for_ids: tuple[str, ...],
                act_for_groups: tuple[str, ...], ttl: float | None, force: bool, as_json: bool) -> None:
    """Create a key. It is printed once and stored only as a hash."""
    settings = _settings(config)
    principal = Principal(id=principal_id or name, kind=kind, tenant=tenant,  # type: ignore[arg-type]
                          roles=frozenset(roles), groups=frozenset(groups),
                          may_act_for=may_act_for or bool(act_for_ids or act_for_groups), name=name,
                          act_for_ids=frozenset(act_for_ids), act_for_groups=frozenset(act_for_groups))
    known_roles = _known_roles(settings)

    async def create(store: Store) -> tuple[str, str]:
        check_key_request(principal, known_roles=known_roles, ttl_seconds=ttl, force=force,
                          holds_keys=await store.holds_key(principal.tenant, principal.id))
        key, record = new_key(name, principal, ttl_seconds=ttl, created_by=f"cli:{getpass.getuser()}", forced=force)
        await store.create_key(record)
        return key, record.id

    try:
        key, key_id = with_store(settings, create)
    except KeyRequestError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json({"key": key, "id": key_id, "principal": principal.id}, indent=False)
    else:
        click.echo(key)
        click.echo(f"(id {key_id}; shown once: store it now)", err=True)


def _known_roles(settings: Settings) -> frozenset[str]:
    """The roles the policy catalogue knows (entities.yaml beside the policies, or policy.roles). Read
    from the catalogue alone, so keys can be made while the policy set itself is being fixed."""
    try:
        return frozenset(entity_config(settings, settings.policy.dir or default_policy_dir()).roles)
    except ConfigError as exc:
        raise click.ClickException(f"{settings.source}: {exc}") from None


@keys.command("list")
@config_option
def keys_list(config: Path | None) -> None:
    """List keys (never the keys themselves)."""
    settings = _settings(config)
    records = with_store(settings, lambda s: s.list_keys())
    now = time.time()
    for r in records:
        p = r.principal
        made = f"  by={r.created_by}" + (" (forced)" if r.forced else "") if r.created_by else ""
        click.echo(f"{r.id}  {r.prefix}...  {r.state(now):8}  {p.kind:7} {p.id}  tenant={p.tenant}  "
                   f"roles={','.join(sorted(p.roles)) or '-'}{made}")


@keys.command("revoke")
@config_option
@click.argument("key_id")
def keys_revoke(config: Path | None, key_id: str) -> None:
    """Revoke a key; the next call with it is refused."""
    settings = _settings(config)
    if not with_store(settings, lambda s: s.revoke_key(key_id, time.time())):
        raise click.ClickException(f"no active key has the id {key_id!r} ('interlock keys list' shows them)")
    click.echo(f"revoked {key_id}")
