"""The ``interlock`` command: serve, mock-llm, keys, check-config, audit."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import click
import msgspec

from interlock.cli_common import config_option, shown_url, with_store
from interlock.cli_common import load_cli_settings as _settings
from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.settings import ConfigError, Settings
from interlock.store import Store


@click.group()
@click.version_option(package_name="interlock")
def main() -> None:
    """Interlock: identity, policy, redaction and audit in front of every model call."""


@main.command()
@config_option
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", type=int, default=None, help="Listen port (default: server.port).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: server.workers).")
def serve(config: Path | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway. With no settings file: SQLite here, the built-in mock model, a demo key."""
    import uvicorn

    from interlock.telemetry.metrics import METRICS_DIR_ENV, clear_snapshots, metrics_dir

    if host is not None:
        os.environ["INTERLOCK_SERVER__HOST"] = host
    if port is not None:
        os.environ["INTERLOCK_SERVER__PORT"] = str(port)
    if workers is not None:
        os.environ["INTERLOCK_SERVER__WORKERS"] = str(workers)
    settings = _settings(config)
    if config is not None:
        os.environ["INTERLOCK_CONFIG"] = str(config.resolve())
    else:
        os.environ.pop("INTERLOCK_CONFIG", None)
        _demo_key(settings)
    _check_startable(settings)
    srv = settings.server
    shared = metrics_dir()
    if shared is not None:
        # Snapshots of an earlier run's workers: their calls are not this run's.
        if clear_snapshots(shared):
            click.echo(f"interlock: cleared the metrics an earlier run left in {shared}", err=True)
    elif srv.workers > 1:
        # Where each worker publishes its metrics for the others' /metrics (telemetry/metrics.py).
        os.environ[METRICS_DIR_ENV] = tempfile.mkdtemp(prefix="interlock-metrics-")
    click.echo(f"interlock: serving on http://{srv.host}:{srv.port} ({srv.workers} worker(s), "
               f"store {shown_url(settings.store.url)}, models: {', '.join(m.alias for m in settings.models) or 'none'})",
               err=True)
    uvicorn.run("interlock.api.app:create_app", factory=True, host=srv.host, port=srv.port, workers=srv.workers,
                loop="uvloop", http="httptools", log_level="warning", access_log=False,
                # Nothing reads the client's address, so no X-Forwarded-For rewriting per request.
                proxy_headers=False,
                timeout_graceful_shutdown=int(srv.shutdown_grace_seconds), lifespan="on")


def _check_startable(settings: Settings) -> None:
    """What every worker would build at start-up, built once here, so a broken policy set or detection
    setting stops the command with its message instead of workers failing (and restarting) one by one."""
    from interlock.engine import build_detector
    from interlock.policy.setup import load_policies

    try:
        build_detector(settings.detection)
        load_policies(settings)
        load_policies(settings, shadow=True)
    except ConfigError as exc:
        raise click.ClickException(f"{settings.source}: {exc}") from None


def _demo_key(settings: Settings) -> None:
    async def make(store: Store) -> str | None:
        if await store.list_keys():
            return None
        key, record = new_key("demo", Principal(id="demo", kind="user", roles=frozenset({"admin"}),
                                                 name="demo"))
        await store.create_key(record)
        return key

    key = with_store(settings, make)
    if key is None:
        click.echo("interlock: keys already exist in this store; create another with "
                   "'interlock keys create --name NAME'.", err=True)
    else:
        click.echo(f"interlock: demo API key (admin; shown once, store it now): {key}", err=True)


@main.command("mock-llm")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9100, show_default=True)
def mock_llm(host: str, port: int) -> None:
    """Run the built-in mock model: an OpenAI- and Anthropic-compatible server with scripted behaviours."""
    from interlock.providers.mock import serve as serve_mock

    serve_mock(host, port)


@main.command("check-config")
@config_option
def check_config(config: Path | None) -> None:
    """Validate the settings file and say what it configures."""
    settings = _settings(config)
    for name, p in settings.providers.items():
        try:
            p.api_key()
        except ConfigError as exc:
            raise click.ClickException(f"{settings.source}: {exc}") from None
        click.echo(f"provider {name}: {p.type} at {p.base_url}")
    for m in settings.models:
        fb = f" (fallbacks: {', '.join(m.fallbacks)})" if m.fallbacks else ""
        click.echo(f"model {m.alias}: {m.provider}/{m.upstream_model}{fb}")
    _check_startable(settings)
    click.echo(f"store: {shown_url(settings.store.url)}")
    click.echo(f"{settings.source}: OK")


@main.group()
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
        click.echo(msgspec.json.encode({"key": key, "id": record.id, "principal": principal.id}).decode())
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


def _register() -> None:
    from interlock.cli_approvals import approvals
    from interlock.cli_audit import audit
    from interlock.cli_policy import policy, scan
    from interlock.cli_tools import tools

    main.add_command(approvals)
    main.add_command(audit)
    main.add_command(policy)
    main.add_command(scan)
    main.add_command(tools)


_register()

if __name__ == "__main__":
    main()
