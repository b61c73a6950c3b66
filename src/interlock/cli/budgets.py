"""``interlock budgets reconcile``: rebuild the budget counters from the audit records."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from interlock.cli.common import config_option, echo_json, shown_url
from interlock.cli.common import load_cli_settings as _settings
from interlock.store import open_store
from interlock.usage.limits import UsageLimits, open_counters
from interlock.usage.prices import NANO
from interlock.usage.reconcile import reconcile


@click.group()
def budgets() -> None:
    """Budget counters (docs/cost-and-limits.md)."""


@budgets.command("reconcile")
@config_option
@click.option("--dry-run", is_flag=True, help="Compare the counters with the records; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print each counter as JSON.")
def budgets_reconcile(config: Path | None, dry_run: bool, as_json: bool) -> None:
    """Set this day's and this month's budget counters to what the audit records say was spent.

    Calls under way while it runs are not in the records yet: run it when traffic is quiet, or accept that
    their reservations are dropped (their settlement still adds what they spend)."""
    settings = _settings(config)
    if not settings.usage.budgets:
        raise click.ClickException("no budgets are declared (usage.budgets), so there is nothing to reconcile")

    async def run() -> dict[str, dict[str, tuple[int, int]]]:
        store = open_store(settings.store)
        counters = open_counters(settings.usage)
        await store.open()
        await counters.open()
        try:
            return await reconcile(UsageLimits(settings.usage, counters), store, write=not dry_run)
        finally:
            await counters.close()
            await store.close()

    try:
        result = asyncio.run(run())
    except Exception as exc:
        raise click.ClickException(f"reconciling failed (store {shown_url(settings.store.url)}, counters "
                                   f"{shown_url(settings.usage.counters_url)}): {type(exc).__name__}: {exc}") from None
    if as_json:
        echo_json({k: {"records": {"usd": v["records"][0] / NANO, "tokens": v["records"][1]},
                       "counters": {"usd": v["counters"][0] / NANO, "tokens": v["counters"][1]}}
                   for k, v in sorted(result.items())})
        return
    verb = "would set" if dry_run else "set"
    for key, v in sorted(result.items()):
        (ru, rt), (cu, ct) = v["records"], v["counters"]
        click.echo(f"{key}: {verb} ${ru / NANO:.6f} / {rt} tokens (counter held ${cu / NANO:.6f} / {ct} tokens)")
    click.echo(f"{len(result)} counter(s) {'checked' if dry_run else 'rebuilt'} from the records")
