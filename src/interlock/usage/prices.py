"""The price table: USD per million tokens (input, output, cached input) for each model alias.

The figures come from ``prices.json``, a pinned copy generated from the ``genai-prices`` package
(``scripts/refresh_prices.py``); its ``version`` goes into every record beside the cost, so a cost can be
traced to the figures it was computed with. A model's ``price`` in the settings overrides the table, and
the built-in mock model has a price of its own so budgets can be exercised without a real provider.
Every alias is resolved once at start-up; the hot path does one dictionary look-up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from interlock.settings import ModelSettings, ProviderSettings

# Costs are counted in nano-dollars (1e-9 USD) as integers: exact sums in SQLite and Redis (Lua numbers
# are doubles, exact to 2**53 nano-dollars, about 9 million USD per counter), and fine enough that a
# token at $0.01 per million still counts (10 nano-dollars).
NANO = 1_000_000_000

# The built-in mock model's price (USD per million tokens): round figures of the order of a small hosted
# model's, so budgets can be exercised against it. Not from the table: the mock is this project's own.
MOCK_PRICE = (1.0, 2.0, 0.5)
MOCK_VERSION_SUFFIX = "+mock"

# The table's provider ids for the provider types the gateway speaks.
_PROVIDER_IDS = {"openai": ("openai",), "azure": ("azure", "openai"), "anthropic": ("anthropic",)}


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; ``source`` says where the figures came from (the table, the settings, mock)."""

    input: float
    output: float
    cached_input: float
    source: str

    def cost_nano(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> int:
        """The cost of this usage in nano-dollars, rounded up (a reservation must never fall short)."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        # Tokens times USD per million is micro-dollars; times 1000, nano-dollars. Rounded to a millionth
        # of a nano-dollar first, so float noise (0.15 * 1000 = 150.00000000000003) does not round up.
        micro = (prompt_tokens - cached) * self.input + cached * self.cached_input + completion_tokens * self.output
        return math.ceil(round(micro * 1000, 6))


@dataclass(frozen=True, slots=True)
class PriceTable:
    version: str
    source: str
    # provider id -> (exact names, name prefixes), each name -> (input, output, cached_input)
    providers: dict[str, tuple[dict[str, tuple[float, float, float | None]],
                               dict[str, tuple[float, float, float | None]]]]

    def find(self, provider_type: str, upstream_model: str) -> tuple[float, float, float | None] | None:
        """The table's price of this upstream model: an exact name first, then the longest prefix; the
        provider's own entries before any other provider's."""
        name = upstream_model.lower()
        order = list(_PROVIDER_IDS.get(provider_type, ()))
        order += [p for p in self.providers if p not in order]
        for provider in order:
            entry = self.providers.get(provider)
            if entry is not None and name in entry[0]:
                return entry[0][name]
        for provider in order:
            entry = self.providers.get(provider)
            if entry is None:
                continue
            best = max((p for p in entry[1] if name.startswith(p)), key=len, default=None)
            if best is not None:
                return entry[1][best]
        return None


@lru_cache(maxsize=1)
def vendored_table() -> PriceTable:
    doc: dict[str, Any] = json.loads(resources.files("interlock.usage").joinpath("prices.json").read_text("utf-8"))

    def rows(d: dict[str, list[float | None]]) -> dict[str, tuple[float, float, float | None]]:
        return {k: (float(v[0] or 0.0), float(v[1] or 0.0), None if v[2] is None else float(v[2]))
                for k, v in d.items()}

    providers = {pid: (rows(p.get("models", {})), rows(p.get("prefixes", {})))
                 for pid, p in doc["providers"].items()}
    return PriceTable(version=str(doc["version"]), source=str(doc["source"]), providers=providers)


@dataclass(frozen=True, slots=True)
class Prices:
    """Each alias's price, resolved once; ``version`` names the table (and ``+settings`` when overridden)."""

    by_alias: dict[str, Price]
    version: str

    def of(self, alias: str) -> Price | None:
        return self.by_alias.get(alias)


def resolve_prices(models: tuple[ModelSettings, ...], providers: dict[str, ProviderSettings],
                   table: PriceTable | None = None) -> Prices:
    """Every alias's price: its ``price`` setting, else the mock's for a mock provider, else the table's
    entry for its upstream model. An alias found nowhere has no price: its calls record tokens, no cost,
    and a money budget refuses them (a budget cannot be kept for a call whose cost is unknown)."""
    table = table or vendored_table()
    out: dict[str, Price] = {}
    overridden = False
    for m in models:
        ptype = providers[m.provider].type
        if m.price is not None:
            overridden = True
            cached = m.price.cached_input if m.price.cached_input is not None else m.price.input
            out[m.alias] = Price(m.price.input, m.price.output, cached, "settings")
        elif ptype == "mock":
            out[m.alias] = Price(*MOCK_PRICE, source="mock")
        else:
            found = table.find(ptype, m.upstream_model)
            if found is not None:
                out[m.alias] = Price(found[0], found[1], found[0] if found[2] is None else found[2], table.version)
    version = table.version + ("+settings" if overridden else "")
    return Prices(out, version)
