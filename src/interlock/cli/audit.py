"""``interlock audit``: read, search, export, checkpoint, verify, prove and erase the audit log."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from interlock.cli.common import config_option, echo_json_lines, with_store
from interlock.cli.common import load_cli_settings as _settings
from interlock.settings import ConfigError, Settings
from interlock.store import RecordQuery, Store


@click.group()
def audit() -> None:
    """Read the audit log."""


def _print_records(rows: list[tuple[int, dict[str, Any]]]) -> None:
    echo_json_lines({"seq": seq, **rec} for seq, rec in rows)


@audit.command("tail")
@config_option
@click.option("-n", "count", type=int, default=20, show_default=True)
def audit_tail(config: Path | None, count: int) -> None:
    """The newest records, oldest first, one JSON object a line."""
    settings = _settings(config)
    rows = with_store(settings, lambda s: s.query_records(RecordQuery(limit=count)))
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

    with_store(settings, run)


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
@click.option("--data-class", default=None, help="Calls in which this data class was found, e.g. pii.email.")
@click.option("--outcome", type=click.Choice(["ok", "refused"]), default=None)
@click.option("--limit", type=int, default=100, show_default=True)
def audit_search(config: Path | None, since: float | None, until: float | None, principal: str | None,
                 tenant: str | None, model: str | None, refusal_code: str | None, status: int | None,
                 request_id: str | None, data_class: str | None, outcome: str | None, limit: int) -> None:
    """Records matching every filter given, newest first, one JSON object a line."""
    settings = _settings(config)
    query = RecordQuery(since=since, until=until, principal=principal, tenant=tenant, model=model,
                        refusal_code=refusal_code, status=status, request_id=request_id,
                        data_class=data_class, outcome=outcome, limit=limit)
    _print_records(with_store(settings, lambda s: s.query_records(query)))


def _audit_log(store: Store, settings: Settings) -> Any:
    from interlock.audit.log import AuditLog

    # Never a new signing key here: checkpoints signed by a key the deployment does not use fail every
    # later verification. Without the key, signing commands stop with the ConfigError saying where it is.
    return AuditLog(store, settings.audit, create_key=False)


@audit.command("checkpoint")
@config_option
def audit_checkpoint(config: Path | None) -> None:
    """Sign a checkpoint of the log as it stands now and print it (once everything sequenced is
    integrated: after a crash, up to the integrator's lease plus the gap timeout)."""
    settings = _settings(config)

    async def run(store: Store) -> str:
        try:
            cp = await _audit_log(store, settings).checkpoint(settle=True)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        if cp is None:
            checkpoints = await store.checkpoints()
            if not checkpoints:
                raise click.ClickException("the log is empty; there is nothing to sign yet")
            cp = checkpoints[-1]
        note: str = cp.note()
        return note

    click.echo(with_store(settings, run), nl=False)


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

    from interlock.audit.verify import TrustedState
    from interlock.merkle.checkpoint import load_public_key, parse_note

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

    report = with_store(settings, run)
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

    data = with_store(settings, run)
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
    if not with_store(settings, lambda s: _audit_log(s, settings).erase(request_id)):
        raise click.ClickException(f"no stored payload for request id {request_id!r}")
    click.echo(f"erased the payload of {request_id}")


@audit.command("keygen")
@click.option("--name", default="interlock", show_default=True, help="The log's name (audit.key_name).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the private key (PEM, mode 0600).")
def audit_keygen(name: str, out: Path) -> None:
    """Create a checkpoint signing key; print the public verifier key to give to auditors."""
    from interlock.merkle.checkpoint import keygen

    material = keygen(name)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(material.private_pem)
    click.echo(material.verifier_key)
    click.echo(f"(private key written to {out}; public key in PEM follows)", err=True)
    click.echo(material.public_pem.decode(), err=True)
