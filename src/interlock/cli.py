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
from urllib.parse import urlsplit

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


def _shown(url: str) -> str:
    """A store URL fit for a terminal or a log: a password in it is masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}").geturl()


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
        raise click.ClickException(f"cannot open the store {_shown(settings.store.url)}: {exc}") from None


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
               f"store {_shown(settings.store.url)}, models: {', '.join(m.alias for m in settings.models) or 'none'})",
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
    click.echo(f"store: {_shown(settings.store.url)}")
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


@audit.command("search")
@config_option
@click.option("--since", type=float, default=None, help="Unix time, inclusive.")
@click.option("--until", type=float, default=None, help="Unix time, exclusive.")
@click.option("--principal", default=None)
@click.option("--tenant", default=None)
@click.option("--model", default=None)
@click.option("--refusal-code", default=None)
@click.option("--status", type=int, default=None)
@click.option("--request-id", default=None)
@click.option("--limit", type=int, default=100, show_default=True)
def audit_search(config: Path | None, since: float | None, until: float | None, principal: str | None,
                 tenant: str | None, model: str | None, refusal_code: str | None, status: int | None,
                 request_id: str | None, limit: int) -> None:
    """Records matching every filter given, newest first, one JSON object a line."""
    settings = _settings(config)
    query = RecordQuery(since=since, until=until, principal=principal, tenant=tenant, model=model,
                        refusal_code=refusal_code, status=status, request_id=request_id, limit=limit)
    _print_records(_with_store(settings, lambda s: s.query_records(query)))


def _audit_log(store: Store, settings: Settings) -> Any:
    from interlock.audit.log import AuditLog

    # Never a new signing key here: checkpoints signed by a key the deployment does not use fail every
    # later verification. Without the key, signing commands stop with the ConfigError saying where it is.
    return AuditLog(store, settings.audit, create_key=False)


@audit.command("checkpoint")
@config_option
def audit_checkpoint(config: Path | None) -> None:
    """Sign a checkpoint of the log as it stands now and print it."""
    settings = _settings(config)

    async def run(store: Store) -> str:
        try:
            cp = await _audit_log(store, settings).checkpoint()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        if cp is None:
            checkpoints = await store.checkpoints()
            if not checkpoints:
                raise click.ClickException("the log is empty; there is nothing to sign yet")
            cp = checkpoints[-1]
        note: str = cp.note()
        return note

    click.echo(_with_store(settings, run), nl=False)


@audit.command("verify")
@config_option
@click.option("--public-key", "public_key_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The checkpoint verifier key (PEM, base64 or verifier-key string). "
                   "Default: derived from this deployment's signing key.")
@click.option("--trusted", "trusted_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="State saved by an earlier --save-state: verify only what was appended since.")
@click.option("--save-state", "state_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the newest verified checkpoint and frontier here, for the next incremental run.")
def audit_verify(config: Path | None, public_key_file: Path | None, trusted_file: Path | None,
                 state_file: Path | None) -> None:
    """Recompute every leaf and check every signed checkpoint; exit 1 naming the first bad record."""
    import base64

    from interlock.audit.checkpoint import load_public_key, parse_note
    from interlock.audit.verify import TrustedState

    settings = _settings(config)
    trusted = None
    if trusted_file is not None:
        doc = msgspec.json.decode(trusted_file.read_bytes())
        trusted = TrustedState(parse_note(doc["checkpoint"]), base64.b64decode(doc["frontier"]))

    given_key = load_public_key(public_key_file.read_bytes()) if public_key_file else None

    async def run(store: Store) -> Any:
        log = _audit_log(store, settings)
        try:
            key = given_key or log.public_key
        except ConfigError as exc:
            raise click.ClickException(f"{exc}; or pass the verifier key with --public-key") from None
        return await log.verify(key, trusted)

    report = _with_store(settings, run)
    for problem in report.problems[1:10]:
        click.echo(f"  also: {problem.message}", err=True)
    if not report.ok:
        raise click.ClickException(report.summary())
    click.echo(report.summary())
    if state_file is not None and report.latest is not None:
        state_file.write_bytes(msgspec.json.encode({
            "checkpoint": report.latest.checkpoint.note(),
            "frontier": base64.b64encode(report.latest.frontier).decode()}))


@audit.command("prove")
@config_option
@click.argument("request_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the bundle here instead of standard output.")
def audit_prove(config: Path | None, request_id: str, out: Path | None) -> None:
    """A proof bundle for one call's record, verifiable by a third party without Interlock."""
    from interlock.audit.export import bundle_json

    settings = _settings(config)

    async def run(store: Store) -> bytes:
        try:
            bundle = await _audit_log(store, settings).prove(request_id)
        except (LookupError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        return bundle_json(bundle)

    data = _with_store(settings, run)
    if out is None:
        sys.stdout.buffer.write(data + b"\n")
    else:
        out.write_bytes(data + b"\n")
        click.echo(f"wrote {out}", err=True)


@audit.command("erase")
@config_option
@click.argument("request_id")
def audit_erase(config: Path | None, request_id: str) -> None:
    """Erase the stored payload of a call (a data-subject request). The record and its proofs stay valid."""
    settings = _settings(config)
    if not _with_store(settings, lambda s: _audit_log(s, settings).erase(request_id)):
        raise click.ClickException(f"no stored payload for request id {request_id!r}")
    click.echo(f"erased the payload of {request_id}")


@audit.command("keygen")
@click.option("--name", default="interlock", show_default=True, help="The log's name (audit.key_name).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the private key (PEM, mode 0600).")
def audit_keygen(name: str, out: Path) -> None:
    """Create a checkpoint signing key; print the public verifier key to give to auditors."""
    from interlock.audit.checkpoint import keygen

    material = keygen(name)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(material.private_pem)
    click.echo(material.verifier_key)
    click.echo(f"(private key written to {out}; public key in PEM follows)", err=True)
    click.echo(material.public_pem.decode(), err=True)


def _register() -> None:
    from interlock.cli_policy import policy, scan

    main.add_command(policy)
    main.add_command(scan)


_register()

if __name__ == "__main__":
    main()
