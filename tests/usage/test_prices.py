"""The vendored price table, settings overrides, the mock's price and the cost arithmetic."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from interlock.settings import ModelSettings, PriceSettings, ProviderSettings
from interlock.usage.prices import MOCK_PRICE, NANO, Price, resolve_prices, vendored_table

PROVIDERS = {
    "openai": ProviderSettings(type="openai", base_url="https://api.openai.com/v1"),
    "claude": ProviderSettings(type="anthropic", base_url="https://api.anthropic.com"),
    "mock": ProviderSettings(type="mock", base_url="http://127.0.0.1:1/_mock/v1"),
}


def test_the_table_names_its_source_and_version() -> None:
    doc = json.loads(resources.files("interlock.usage").joinpath("prices.json").read_text("utf-8"))
    table = vendored_table()
    assert table.version == doc["version"]
    assert table.version.startswith("genai-prices-")
    assert "genai-prices" in table.source


def test_known_models_are_priced_from_the_table() -> None:
    models = (ModelSettings(alias="small", provider="openai", upstream_model="gpt-4o-mini"),
              ModelSettings(alias="haiku", provider="claude", upstream_model="claude-3-5-haiku-latest"))
    prices = resolve_prices(models, PROVIDERS)
    doc = json.loads(resources.files("interlock.usage").joinpath("prices.json").read_text("utf-8"))
    row = doc["providers"]["openai"]["models"]["gpt-4o-mini"]
    small = prices.of("small")
    assert small is not None
    assert (small.input, small.output, small.cached_input) == (row[0], row[1], row[2])
    haiku = prices.of("haiku")
    assert haiku is not None
    assert (haiku.input, haiku.output) == tuple(doc["providers"]["anthropic"]["models"]["claude-3-5-haiku-latest"][:2])
    assert prices.version == vendored_table().version


def test_a_setting_overrides_the_table_and_the_version_says_so() -> None:
    models = (ModelSettings(alias="small", provider="openai", upstream_model="gpt-4o-mini",
                            price=PriceSettings(input=3.0, output=7.0)),)
    prices = resolve_prices(models, PROVIDERS)
    price = prices.of("small")
    assert price == Price(3.0, 7.0, 3.0, "settings")
    assert prices.version.endswith("+settings")


def test_the_mock_has_a_price_and_an_unknown_model_has_none() -> None:
    models = (ModelSettings(alias="mock", provider="mock", upstream_model="anything"),
              ModelSettings(alias="inhouse", provider="openai", upstream_model="no-such-model-anywhere-42"))
    prices = resolve_prices(models, PROVIDERS)
    mock = prices.of("mock")
    assert mock is not None
    assert (mock.input, mock.output, mock.cached_input) == MOCK_PRICE
    assert prices.of("inhouse") is None


@pytest.mark.parametrize(("prompt", "completion", "cached", "expected_usd"), [
    (1_000_000, 0, 0, 0.15),
    (0, 1_000_000, 0, 0.60),
    (1000, 500, 0, 0.00015 + 0.0003),
    (1000, 0, 400, 600 * 0.15e-6 + 400 * 0.075e-6),
    (7, 3, 0, 7 * 0.15e-6 + 3 * 0.6e-6),
])
def test_cost_is_usage_times_the_price(prompt: int, completion: int, cached: int, expected_usd: float) -> None:
    price = Price(0.15, 0.60, 0.075, "test")
    nano = price.cost_nano(prompt, completion, cached)
    assert nano == round(expected_usd * NANO)
