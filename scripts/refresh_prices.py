"""Regenerate the vendored price table (src/interlock/usage/prices.json) from the ``genai-prices`` package.

    .venv/bin/pip install 'genai-prices==0.2.5' && .venv/bin/python scripts/refresh_prices.py

The gateway never imports ``genai-prices``: it reads the JSON written here, whose ``version`` names the
package release the figures came from and goes into every call record with the cost. Prices are USD per
million tokens: input, output and cached input (cache reads). A model priced in tiers keeps its base
tier; a model whose price changed over time keeps the price in force when this script runs.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from genai_prices import data, types

TARGET = Path(__file__).resolve().parent.parent / "src" / "interlock" / "usage" / "prices.json"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, types.TieredPrices):
        value = value.base
    return float(Decimal(value))


def _current(prices: Any, now: dt.datetime) -> Any:
    if not isinstance(prices, list):
        return prices
    chosen = None
    for conditional in prices:
        constraint = conditional.constraint
        start = getattr(constraint, "start_date", None)
        if isinstance(start, dt.datetime) and start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        elif isinstance(start, dt.date) and not isinstance(start, dt.datetime):
            start = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
        if constraint is None or (isinstance(constraint, types.StartDateConstraint) and start is not None
                                  and start <= now):
            chosen = conditional.prices
    return chosen if chosen is not None else prices[0].prices


def _names(match: Any) -> tuple[list[str], list[str]]:
    """Exact names and name prefixes a model's match clause accepts (other clause kinds are left out)."""
    if isinstance(match, types.ClauseEquals):
        return [match.equals.lower()], []
    if isinstance(match, types.ClauseStartsWith):
        return [], [match.starts_with.lower()]
    if isinstance(match, types.ClauseOr):
        exact: list[str] = []
        prefixes: list[str] = []
        for clause in match.or_:
            e, p = _names(clause)
            exact += e
            prefixes += p
        return exact, prefixes
    return [], []


def _lines(doc: dict[str, Any]) -> str:
    """The JSON with one model a line, so a refresh reads as a diff of the prices that changed."""
    head = {k: v for k, v in doc.items() if k != "providers"}
    out = ["{" + json.dumps(head)[1:-1] + ', "providers": {']
    providers = list(doc["providers"].items())
    for i, (pid, entry) in enumerate(providers):
        out.append(f"{json.dumps(pid)}: {{")
        for j, part in enumerate(("models", "prefixes")):
            rows = list(entry[part].items())
            out.append(f"{json.dumps(part)}: {{")
            out += [f"  {json.dumps(k)}: {json.dumps(v)}" + ("," if n < len(rows) - 1 else "") for n, (k, v) in
                    enumerate(rows)]
            out.append("}" + ("," if j == 0 else ""))
        out.append("}" + ("," if i < len(providers) - 1 else ""))
    out.append("}}")
    return "\n".join(out) + "\n"


def main() -> None:
    now = dt.datetime.now(dt.UTC)
    version = metadata.version("genai-prices")
    providers: dict[str, Any] = {}
    for provider in data.providers:
        models: dict[str, list[float | None]] = {}
        prefixes: dict[str, list[float | None]] = {}
        for model in provider.models:
            price = _current(model.prices, now)
            row = [_number(getattr(price, "input_mtok", None)), _number(getattr(price, "output_mtok", None)),
                   _number(getattr(price, "cache_read_mtok", None))]
            if row[0] is None or row[1] is None:
                continue  # priced per request or per image only: not a token price
            exact, starts = _names(model.match)
            for name in [model.id.lower(), *exact]:
                models.setdefault(name, row)
            for prefix in starts:
                prefixes.setdefault(prefix, row)
        if models or prefixes:
            providers[provider.id] = {"models": dict(sorted(models.items())),
                                      "prefixes": dict(sorted(prefixes.items()))}
    doc = {
        "version": f"genai-prices-{version}",
        "source": f"genai-prices {version} (PyPI, MIT licence): pydantic/genai-prices",
        "generated": now.date().isoformat(),
        "unit": "USD per million tokens: [input, output, cached_input]",
        "providers": providers,
    }
    TARGET.write_text(_lines(doc), encoding="utf-8")
    print(f"wrote {TARGET} ({sum(len(p['models']) for p in providers.values())} model names)")


if __name__ == "__main__":
    main()
