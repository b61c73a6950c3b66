"""``interlock serve``, ``mock-llm`` and ``check-config``: run the gateway, run the mock model, check settings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from interlock.cli.common import config_option, shown_url, with_store
from interlock.cli.common import load_cli_settings as _settings
from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.settings import ConfigError, Settings
from interlock.store import Store


@click.command()
@config_option
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", type=int, default=None, help="Listen port (default: server.port).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: server.workers).")
def serve(config: Path | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the gateway. With no settings file: SQLite here, the built-in mock model, a demo key."""
    import uvicorn

    from interlock.server import ConnectionLimits, ensure_open_files, protocol_factory
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
    # Every connection is a file; so are the upstream and store connections, the logs and the store's files.
    needed = srv.max_connections + sum(p.max_connections for p in settings.providers.values()) + 256
    warning = ensure_open_files(needed)
    if warning is not None:
        click.echo(f"interlock: {warning}", err=True)
    limits = ConnectionLimits(header_timeout=srv.header_timeout_seconds, body_timeout=srv.body_timeout_seconds,
                              max_connections=srv.max_connections,
                              max_header_bytes=settings.limits.max_header_bytes)
    uvicorn.run("interlock.api.app:create_app", factory=True, host=srv.host, port=srv.port, workers=srv.workers,
                # uvicorn's httptools protocol with read deadlines and the connection cap (interlock.server).
                loop="uvloop", http=protocol_factory(limits), backlog=srv.backlog,
                # No surface speaks WebSocket: an upgrade request stays an HTTP request, under the deadlines.
                ws="none",
                log_level="warning", access_log=False,
                # Nothing reads the client's address, so no X-Forwarded-For rewriting per request.
                proxy_headers=False,
                timeout_graceful_shutdown=int(srv.shutdown_grace_seconds), lifespan="on")


def _check_startable(settings: Settings) -> None:
    """What every worker would build at start-up, built once here, so a broken policy set or detection
    setting stops the command with its message instead of workers failing (and restarting) one by one."""
    from interlock.engine import build_detector, load_use_cases
    from interlock.policy.setup import load_policies

    try:
        for provider in settings.providers.values():
            # Read here, as every worker will at start-up: a missing key stops the command, not the workers.
            provider.api_key()
        build_detector(settings.detection)
        load_policies(settings)
        load_policies(settings, shadow=True)
        load_use_cases(settings)
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


@click.command("mock-llm")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9100, show_default=True)
def mock_llm(host: str, port: int) -> None:
    """Run the built-in mock model: an OpenAI- and Anthropic-compatible server with scripted behaviours."""
    from interlock.providers.mock import serve as serve_mock

    serve_mock(host, port)


@click.command("check-config")
@config_option
def check_config(config: Path | None) -> None:
    """Validate the settings file and say what it configures."""
    settings = _settings(config)
    _check_startable(settings)
    for name, p in settings.providers.items():
        click.echo(f"provider {name}: {p.type} at {p.base_url}")
    for m in settings.models:
        fb = f" (fallbacks: {', '.join(m.fallbacks)})" if m.fallbacks else ""
        click.echo(f"model {m.alias}: {m.provider}/{m.upstream_model}{fb}")
    click.echo(f"store: {shown_url(settings.store.url)}")
    if settings.knowledge.sources:
        from interlock.engine import key_dir

        for source in settings.knowledge.sources:
            where = "pushed through the admin API"
            if source.path is not None:
                path = source.path if source.path.is_absolute() else key_dir(settings) / source.path
                if not path.is_dir():
                    raise click.ClickException(f"{settings.source}: knowledge source {source.name!r}: {path} is "
                                               f"not a directory")
                where = f"directory {path}"
            click.echo(f"knowledge source {source.name}: {where}, owner {source.owner}, tenant {source.tenant}")
        click.echo(f"knowledge index: {shown_url(settings.knowledge.index_url)}")
    click.echo(f"{settings.source}: OK")
