"""``interlock usecases list|show|validate|promote`` and ``interlock gate``: use cases without a server."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any, NoReturn, cast

import click

from interlock.cli.common import config_option, echo_json, with_store
from interlock.cli.common import load_cli_settings as _settings
from interlock.settings import Settings
from interlock.store import Store
from interlock.usecases.manifest import (
    STATES,
    ManifestError,
    State,
    UseCase,
    load_directory,
    load_manifest,
    manifest_paths,
    references_problems,
)

# `interlock gate` exit codes: the gate passed, items failed, or the manifest (or settings) is invalid.
GATE_PASSED, GATE_FAILED, GATE_INVALID = 0, 1, 2


def _directory(settings: Settings) -> Path:
    if settings.use_cases.dir is None:
        raise click.ClickException(f"{settings.source}: use_cases.dir is not set; name the directory of "
                                   f"use-case manifests there (use_cases: {{dir: usecases}})")
    return settings.use_cases.dir


def _one(settings: Settings, name: str) -> UseCase:
    """The named use case, valid and consistent with the settings, or a ManifestError."""
    uc = load_manifest(_directory(settings) / f"{name}.yaml")
    problems = references_problems(uc, settings)
    if problems:
        raise ManifestError(problems)
    return uc


def _invalid(exc: ManifestError) -> NoReturn:
    for problem in exc.problems:
        click.echo(problem, err=True)
    sys.exit(GATE_INVALID)


@click.group()
def usecases() -> None:
    """Use cases: list, show, validate, and move through draft, pilot, production, retired."""


@usecases.command("list")
@config_option
def usecases_list(config: Path | None) -> None:
    """Every use case with its state and owner."""
    settings = _settings(config)
    try:
        found = load_directory(_directory(settings))
    except ManifestError as exc:
        _invalid(exc)
    for uc in found.values():
        click.echo(f"{uc.name:<24} {uc.state:<11} {uc.doc['owner']['email']:<32} {uc.doc['purpose']}")


@usecases.command("show")
@config_option
@click.argument("name")
def usecases_show(config: Path | None, name: str) -> None:
    """One use case's manifest as JSON, with its digest."""
    settings = _settings(config)
    try:
        uc = _one(settings, name)
    except ManifestError as exc:
        _invalid(exc)
    echo_json({**uc.doc, "digest": uc.digest, "file": str(uc.path)})


@usecases.command("validate")
@config_option
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def usecases_validate(config: Path | None, paths: tuple[Path, ...]) -> None:
    """Check manifests (the given files, or every one in use_cases.dir) against the schema and the
    settings; exit 2 naming each problem."""
    settings = _settings(config)
    files = list(paths) or manifest_paths(_directory(settings))
    problems: list[str] = []
    for path in files:
        try:
            problems += references_problems(load_manifest(path), settings)
        except ManifestError as exc:
            problems += exc.problems
    if not paths:
        try:
            load_directory(_directory(settings))
        except ManifestError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        _invalid(ManifestError(problems))
    click.echo(f"{len(files)} manifests valid")


@usecases.command("promote")
@config_option
@click.argument("name")
@click.option("--to", "to", type=click.Choice(STATES), required=True)
@click.option("--by", default=None, help="Who moves it, for the audit log (default: cli:<your user name>).")
def usecases_promote(config: Path | None, name: str, to: str, by: str | None) -> None:
    """Move a use case to another state, recorded in the audit log. Production runs the gate first and
    moves only if it passes (the gate's result is recorded too)."""
    from interlock.usecases.lifecycle import TransitionRefused, check_transition, promote

    settings = _settings(config)
    who = by or f"cli:{getpass.getuser()}"
    try:
        uc = _one(settings, name)
        check_transition(uc, cast(State, to))
    except ManifestError as exc:
        _invalid(exc)
    except TransitionRefused as exc:
        raise click.ClickException(str(exc)) from None

    async def run(store: Store) -> tuple[Any, str, str | None]:
        gate_id = None
        if to == "production":
            result, gate_id = await _gate_and_record(store, settings, uc, who)
            if not result.passed:
                return result, "", gate_id
        changed, record_id = await promote(store, settings, uc, cast(State, to), who, gate_id)
        return changed, record_id, gate_id

    try:
        outcome, record_id, gate_id = with_store(settings, run)
    except TransitionRefused as exc:
        raise click.ClickException(str(exc)) from None
    if not record_id:
        _print_gate(outcome, gate_id)
        raise click.ClickException(f"{name} stays {uc.state}: the gate failed ({', '.join(i.name for i in outcome.failing)})")
    click.echo(f"{name}: {uc.state} -> {to} (audit record {record_id}" + (f", gate {gate_id})" if gate_id else ")"))


async def _gate_and_record(store: Store, settings: Settings, uc: UseCase, who: str) -> tuple[Any, str]:
    from interlock.usecases.gate import deployment_of, gate_record_facts, run_gate
    from interlock.usecases.lifecycle import append_signed, lifecycle_record

    result = await run_gate(store, deployment_of(settings), uc)
    record = lifecycle_record("use_case.gate", uc, who, **gate_record_facts(result))
    await append_signed(store, settings, record)
    return result, str(record["request_id"])


def _print_gate(result: Any, gate_id: str | None) -> None:
    width = max(len(i.name) for i in result.items)
    click.echo(f"gate for {result.use_case} (manifest {result.digest[:12]})")
    for item in result.items:
        click.echo(f"  {'PASS' if item.passed else 'FAIL'}  {item.name:<{width}}  {item.evidence}")
    verdict = "PASSED" if result.passed else f"FAILED: {len(result.failing)} of {len(result.items)} items"
    click.echo(f"{verdict}" + (f" (audit record {gate_id})" if gate_id else ""))


@click.command("gate")
@config_option
@click.argument("name")
@click.option("--by", default=None, help="Who runs the gate, for the audit log (default: cli:<your user name>).")
@click.option("--json", "as_json", is_flag=True, help="The result as JSON instead of a table.")
def gate(config: Path | None, name: str, by: str | None, as_json: bool) -> None:
    """The launch gate of a use case: each item pass or fail with its evidence, signed into the audit
    log. Exit 0 passed, 1 items failed, 2 the manifest is invalid."""
    settings = _settings(config)
    try:
        uc = _one(settings, name)
    except ManifestError as exc:
        _invalid(exc)
    result, gate_id = with_store(settings, lambda store: _gate_and_record(store, settings, uc, by or
                                                                          f"cli:{getpass.getuser()}"))
    if as_json:
        from interlock.usecases.gate import gate_record_facts

        echo_json({"use_case": uc.name, "manifest_digest": uc.digest, "audit_record": gate_id,
                   **gate_record_facts(result)})
    else:
        _print_gate(result, gate_id)
    sys.exit(GATE_PASSED if result.passed else GATE_FAILED)


@usecases.command("propose-prompt")
@config_option
@click.argument("name")
@click.argument("prompt")
@click.option("--version", "version", type=int, default=None, help="Default: the highest version in the manifest.")
@click.option("--key", "key", envvar="INTERLOCK_API_KEY", default=None, show_envvar=True,
              help="The API key of the person proposing (who may then not approve it).")
def usecases_propose_prompt(config: Path | None, name: str, prompt: str, version: int | None,
                            key: str | None) -> None:
    """Ask for a prompt version to be approved, on the use case's review route. It is in force once
    approved (interlock approvals approve ID) and the gateway restarted or reloaded."""
    from interlock.cli.approvals import _with_engine
    from interlock.ids import new_request_id
    from interlock.usecases.prompts import find, proposal

    settings = _settings(config)
    try:
        uc = _one(settings, name)
    except ManifestError as exc:
        _invalid(exc)
    chosen = find(uc, prompt, version)
    if chosen is None:
        raise click.ClickException(f"{uc.path}: no prompt {prompt!r}" + (f" version {version}" if version else "")
                                   + " under prompts")
    title, details = proposal(chosen)
    route = (uc.doc.get("review") or {}).get("route", "default")

    async def run(actions: Any, principal: Any) -> Any:
        return await actions.create_proposal(principal, None, title=title, details=details, route=route,
                                             reason=f"a new version of a system prompt of use case {uc.name}",
                                             request_id=new_request_id())

    view = _with_engine(settings, key, run)
    click.echo(f"{view['id']}  {title} (sha256 {chosen.digest[:12]}), route {route}: pending approval")
