"""``interlock usage``: use, cost, tokens, latency, errors and feedback from the records, by model, tenant or
use case, over a period; as a table, CSV or JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from pathlib import Path
from typing import Any

import click

from interlock.cli.common import config_option, echo_json, with_store
from interlock.cli.common import load_cli_settings as _settings
from interlock.store import Store
from interlock.usage import views
from interlock.usage.reconcile import records_since
from interlock.usage.report import GROUPS, summarise
from interlock.usecases.manifest import ManifestError, load_directory

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def when(text: str, now: float) -> float:
    """``24h``, ``7d``, ``30m`` ago, or an ISO date or time (UTC unless it says otherwise)."""
    m = _SPAN.match(text.strip())
    if m:
        return now - float(m.group(1)) * _SECONDS[m.group(2)]
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a span (24h, 7d) nor an ISO date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@click.command("usage")
@config_option
@click.option("--since", default="24h", show_default=True, help="Start: a span back from now (30m, 24h, 7d) or an "
                                                                "ISO date/time.")
@click.option("--until", "until_", default=None, help="End (default: now), as --since.")
@click.option("--by", "by", multiple=True, type=click.Choice(GROUPS), help="Group by (repeatable; default: model).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--view", type=click.Choice(views.VIEWS), default=None,
              help="A view instead of the summary: adoption, quality, cost, failures or sources.")
@click.option("--negative-below", type=float, default=0.0, show_default=True,
              help="quality, sources: a feedback score below this is negative.")
def usage(config: Path | None, since: str, until_: str | None, by: tuple[str, ...], fmt: str, view: str | None,
          negative_below: float) -> None:
    """Calls, users, refusals, cost, tokens, latency percentiles and feedback per group over a period;
    or, with --view, one of the views (docs/monitoring.md)."""
    settings = _settings(config)
    now = time.time()
    start = when(since, now)
    end = when(until_, now) if until_ else now
    if end <= start:
        raise click.BadParameter("--until must be after --since")
    groups = list(by) or ["model"]

    async def read(store: Store) -> list[dict[str, Any]]:
        return [r async for r in records_since(store, start) if float(r.get("time") or 0) < end]

    if view is None:
        rows = summarise(with_store(settings, read), groups)
        if fmt == "json":
            echo_json({"since": start, "until": end, "by": groups, "rows": rows})
            return
        _show(rows, fmt, hidden=("unpriced_calls", "top_labels"))
        return
    if view == "failures":  # this period against the one before it, of the same length
        before = start - (end - start)

        async def read_both(store: Store) -> list[dict[str, Any]]:
            return [r async for r in records_since(store, before) if float(r.get("time") or 0) < end]

        both = with_store(settings, read_both)
        rows = views.failures([r for r in both if float(r.get("time") or 0) >= start],
                              [r for r in both if float(r.get("time") or 0) < start])
    elif view == "cost":
        directory = settings.use_cases.dir
        try:
            expected = views.expectations_of(load_directory(directory)) if directory is not None else {}
        except ManifestError as exc:
            raise click.ClickException("the use-case manifests cannot be read:\n" + "\n".join(exc.problems)) \
                from None
        rows = views.cost(with_store(settings, read), expected, end - start)
    elif view == "adoption":
        rows = views.adoption(with_store(settings, read))
    elif view == "quality":
        rows = views.quality(with_store(settings, read), below=negative_below)
    else:
        rows = views.sources(with_store(settings, read), below=negative_below)
    if fmt == "json":
        echo_json({"since": start, "until": end, "view": view, "rows": rows})
        return
    _show(rows, fmt)


def _show(rows: list[dict[str, Any]], fmt: str, hidden: tuple[str, ...] = ()) -> None:
    if not rows:
        click.echo("no calls in this period")
        return
    columns = list(rows[0])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
        return
    shown = [c for c in columns if c not in hidden]
    cells = [[("" if r[c] is None else str(r[c])) for c in shown] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(shown)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
