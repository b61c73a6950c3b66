"""The ``interlock`` command: serve, mock-llm, keys, check-config, audit."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec

from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.settings import ConfigError, Settings, load_settings
from interlock.store import RecordQuery, Store, open_store

T = TypeVar("T")

config_option = click.option("--config", "-c", "config", type=click.Path(dir_okay=False, path_type=Path),
                             envvar="INTERLOCK_CONFIG", default=None,
                             help="Settings file (interlock.yaml). Default: the embedded defaults.")


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _with_store(settings: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(settings.store)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except OSError as exc:
        raise click.ClickException(f"cannot open the store {settings.store.url}: {exc}") from None


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
    srv = settings.server
    if srv.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="interlock-metrics-")
    click.echo(f"interlock: serving on http://{srv.host}:{srv.port} ({srv.workers} worker(s), "
               f"store {settings.store.url}, models: {', '.join(m.alias for m in settings.models) or 'none'})",
               err=True)
    uvicorn.run("interlock.app:create_app", factory=True, host=srv.host, port=srv.port, workers=srv.workers,
                loop="uvloop", http="httptools", log_level="warning", access_log=False,
                timeout_graceful_shutdown=int(srv.shutdown_grace_seconds), lifespan="on")


def _demo_key(settings: Settings) -> None:
    async def make(store: Store) -> str | None:
        if await store.list_keys():
            return None
        key, record = new_key("demo", Principal(id="demo", kind="user", roles=frozenset({"admin"}),
                                                 name="demo"))
        await store.create_key(record)
        return key

    key = _with_store(settings, make)
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
    click.echo(f"store: {settings.store.url}")
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
    _with_store(settings, lambda s: s.create_key(record))
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
    records = _with_store(settings, lambda s: s.list_keys())
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
    if not _with_store(settings, lambda s: s.revoke_key(key_id, time.time())):
        raise click.ClickException(f"no active key has the id {key_id!r} ('interlock keys list' shows them)")
    click.echo(f"revoked {key_id}")


@main.group()
def audit() -> None:
    """Read the audit log."""


def _print_records(rows: list[tuple[int, dict[str, Any]]]) -> None:
    enc = msgspec.json.Encoder(order="sorted")
    out = sys.stdout.buffer
    for seq, rec in rows:
        out.write(enc.encode({"seq": seq, **rec}) + b"\n")
    out.flush()


@audit.command("tail")
@config_option
@click.option("-n", "count", type=int, default=20, show_default=True)
def audit_tail(config: Path | None, count: int) -> None:
    """The newest records, oldest first, one JSON object a line."""
    settings = _settings(config)
    rows = _with_store(settings, lambda s: s.query_records(RecordQuery(limit=count)))
    _print_records(list(reversed(rows)))


@audit.command("export")
@config_option
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--since", type=float, default=None, help="Unix time, inclusive.")
@click.option("--until", type=float, default=None, help="Unix time, exclusive.")
@click.option("--tenant", default=None)
def audit_export(config: Path | None, fmt: str, since: float | None, until: float | None,
                 tenant: str | None) -> None:
    """Stream every matching record in log order as JSON Lines."""
    settings = _settings(config)

    async def run(store: Store) -> None:
        after: int | None = None
        while True:
            rows = await store.query_records(RecordQuery(since=since, until=until, tenant=tenant, after_seq=after,
                                                         limit=5000, newest_first=False))
            if not rows:
                return
            _print_records(rows)
            after = rows[-1][0]

    _with_store(settings, run)


if __name__ == "__main__":
    main()
