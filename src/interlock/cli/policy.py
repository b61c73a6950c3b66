"""``interlock policy validate|test|explain``: answers about the Cedar policies without a server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from interlock.cli.common import config_option, echo_json, load_cli_settings
from interlock.identity.principal import Principal
from interlock.settings import Settings


def _policy_dir(settings: Settings, directory: Path | None) -> Path:
    from interlock.policy.setup import default_policy_dir

    return directory or settings.policy.dir or default_policy_dir()


@click.group()
def policy() -> None:
    """Validate, test and explain the Cedar policies."""


dir_option = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
                          help="Policy directory (default: policy.dir from the settings, else the built-in set).")


@policy.command("validate")
@config_option
@dir_option
def policy_validate(config: Path | None, directory: Path | None) -> None:
    """Parse every .cedar file and validate it against the schema; list every problem with file and line."""
    from interlock.policy.commands import validate
    from interlock.policy.setup import entity_config

    settings = load_cli_settings(config)
    where = _policy_dir(settings, directory)
    problems = validate(where, entity_config(settings, where), settings.policy.schema_file)
    if problems:
        for p in problems:
            click.echo(p, err=True)
        raise click.ClickException(f"{where}: {len(problems)} problem(s); the policy set would not load")
    click.echo(f"{where}: OK")


@policy.command("test")
@config_option
@dir_option
@click.argument("tests", type=click.Path(exists=True, path_type=Path), required=False)
def policy_test(config: Path | None, directory: Path | None, tests: Path | None) -> None:
    """Run policy test files (YAML: principal, action, resource, context -> expected decision)."""
    from interlock.policy.commands import run_tests
    from interlock.policy.setup import entity_config
    from interlock.policy.source import PolicyLoadError

    settings = load_cli_settings(config)
    where = _policy_dir(settings, directory)
    target = tests or where / "tests"
    try:
        report = run_tests(where, entity_config(settings, where), target, settings.policy.schema_file)
    except PolicyLoadError as exc:
        raise click.ClickException("the policy set does not load:\n  " + "\n  ".join(exc.problems)) from None
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


def _principal(principal_id: str, kind: str, tenant: str, roles: tuple[str, ...], groups: tuple[str, ...]) -> Principal:
    return Principal(id=principal_id, kind=kind, tenant=tenant, roles=frozenset(roles),  # type: ignore[arg-type]
                     groups=frozenset(groups))


@policy.command("explain")
@config_option
@click.option("--principal", "principal_id", required=True, help="Who is asking (principal id).")
@click.option("--kind", type=click.Choice(["user", "app", "service"]), default="user", show_default=True)
@click.option("--tenant", default="default", show_default=True)
@click.option("--role", "roles", multiple=True, help="A role of the principal (repeatable).")
@click.option("--group", "groups", multiple=True, help="A group of the principal (repeatable).")
@click.option("--app", "app_id", default=None, help="An application acting for the principal.")
@click.option("--app-role", "app_roles", multiple=True, help="A role of that application (repeatable).")
@click.option("--use-case", "use_case", default=None, help="As a call of this use case (the use-case header).")
@click.option("--prompt", default=None, help="Naming this prompt of the use case (NAME or NAME@VERSION).")
@click.argument("request", type=click.File("rb"), default="-")
def policy_explain(config: Path | None, principal_id: str, kind: str, tenant: str, roles: tuple[str, ...],
                   groups: tuple[str, ...], app_id: str | None, app_roles: tuple[str, ...], use_case: str | None,
                   prompt: str | None, request: Any) -> None:
    """What would happen to this chat request (JSON, a file or stdin) for this principal, and why.

    Runs the real pipeline in-process up to the point where a call would leave for the model:
    the use case and its state, model access, the data classes found and what policy does to each, and
    the text the model would see. With use cases configured, the store is read for their launch gates
    and approved prompt versions; otherwise it is never opened.
    """
    from interlock.engine import Engine

    settings = load_cli_settings(config)
    principal = _principal(principal_id, kind, tenant, roles, groups)
    app = _principal(app_id, "app", tenant, app_roles, ()) if app_id else None
    body = request.read()

    async def run() -> dict[str, Any]:
        engine = Engine(settings)
        if engine.use_cases is None:
            # Explaining reads no state: the store is never opened, so nothing is created or migrated.
            return await engine.explain(body, principal, app, use_case=use_case, prompt=prompt)
        # What policy sees of a use case lives in the store: its gate result and its approved prompts.
        await engine.store.open()
        try:
            await engine.use_cases.load_gates(engine.store)
            await engine.use_cases.load_prompts(engine.store)
            return await engine.explain(body, principal, app, use_case=use_case, prompt=prompt)
        finally:
            await engine.use_cases.stop()
            await engine.store.close()

    echo_json(asyncio.run(run()))
