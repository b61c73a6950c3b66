"""``interlock scan``: find sensitive data in a file or stdin and show it redacted, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from interlock.cli.common import config_option, echo_json, load_cli_settings
from interlock.errors import Refusal
from interlock.identity.principal import Principal
from interlock.settings import Settings


@click.command()
@config_option
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--json", "as_json", is_flag=True, help="Findings and redacted text as JSON.")
@click.option("--model", default=None, help="Decide actions as for this model alias (default: redact everything).")
def scan(config: Path | None, source: Any, as_json: bool, model: str | None) -> None:
    """Find sensitive data in a file (or stdin) and show it redacted, in-process."""
    from interlock.engine import build_detector
    from interlock.redact import ActionPolicy
    from interlock.redact.report import scan_report

    settings = load_cli_settings(config)
    raw = source.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise click.ClickException("the input is not valid UTF-8 text") from None
    detector = build_detector(settings.detection)
    actions = ActionPolicy({}, default="redact")
    if model is not None:
        known = [m.alias for m in settings.models]
        if model not in known:
            raise click.ClickException(f"no model has the alias {model!r}; the settings name: {', '.join(known)}")
        actions = _actions_for_model(settings, model, detector.scan(text))
    try:
        result = scan_report(text, detector, actions)
    except Refusal as refusal:
        raise click.ClickException(refusal.message) from None
    if as_json:
        echo_json(result)
        return
    for f in result["findings"]:
        click.echo(f"{f['data_class']:24} {f['start']:>7}-{f['end']:<7} {f['confidence']:.2f}  {f['explanation']}",
                   err=True)
    click.echo(result["redacted"], nl=False)


def _actions_for_model(settings: Settings, model: str, findings: list[Any]) -> Any:
    from interlock.policy.setup import load_policies
    from interlock.redact import ActionPolicy

    holder = load_policies(settings)
    assert holder is not None
    # A caller the catalogue knows (entities.yaml may name other tenants than the settings do): a tenant
    # it does not know would be denied everything, and every class would read as blocked.
    tenants = holder.engine.config.tenants or settings.policy.tenants
    someone = Principal(id="scan", kind="user", tenant=tenants[0])
    decided = holder.engine.data_actions(someone, None, model, sorted({f.data_class for f in findings}))
    return ActionPolicy({c: d.action for c, d in decided.items()}, default="block")
