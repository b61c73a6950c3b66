"""Cost, budgets and rate limits through the gateway (embedded SQLite counters): what a call costs, the
refusals in the OpenAI shape, a retried request counted once, a stream cut at its budget, and the
rate-limit headers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.providers.mock import MockLLM
from interlock.settings import load_settings
from support.app import Engine
from support.gateways import Gateway, GatewayFactory, KeySpec
from support.ports import refusing_port
from support.processes import wait_until

PRICE = {"input": 1.0, "output": 2.0, "cached_input": 0.5}
KEYS = (KeySpec("spender"), KeySpec("other"))


def with_usage(**usage: Any) -> Callable[[dict[str, Any]], None]:
    def adjust(tree: dict[str, Any]) -> None:
        for model in tree["models"]:
            model["price"] = PRICE
        tree["usage"] = {"counters_url": "sqlite:///usage.db", **usage}
    return adjust


def counters(gw: Gateway) -> dict[str, tuple[int, int]]:
    with sqlite3.connect(gw.directory / "usage.db") as conn:
        return {k: (u, t) for k, u, t in conn.execute("SELECT key, usd, tokens FROM usage_counter")}


def tokens_settle_at(gw: Gateway, key: str, expected: int) -> None:
    """The answer does not wait for its settlement, which lands a few milliseconds after it: wait for the
    counter to show ``expected`` tokens (a call counted twice never does)."""
    wait_until(lambda: counters(gw).get(key, (0, 0))[1] == expected, timeout=5.0,
               what=f"{key} settling at {expected} tokens (now {counters(gw).get(key)})")


def chat(gw: Gateway, key: str, *, mock: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
         **body: Any) -> Any:
    doc = {"model": "mock", "messages": [{"role": "user", "content": "hello there"}], **body}
    if mock is not None:
        doc["mock"] = mock
    return gw.request("POST", "/v1/chat/completions", json=doc,
                      headers={"authorization": f"Bearer {gw.keys[key].key}", **(headers or {})})


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


@pytest.fixture(scope="module")
def budgeted(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    gw = gateway_factory("sqlite", served=False, keys=KEYS, adjust=with_usage(budgets=[
        {"scope": "principal", "match": "spender", "window": "day", "usd": 0.01},
        {"scope": "principal", "match": "other", "window": "month", "tokens": 600},
    ]))
    yield gw
    gw.stop()


def test_the_record_holds_the_cost_at_the_table_price(budgeted: Gateway, mock: MockLLM) -> None:
    r = chat(budgeted, "spender", max_tokens=50, mock={"usage": {"prompt_tokens": 1000, "completion_tokens": 500,
                                                                  }})
    assert r.status_code == 200, r.text
    record = budgeted.record(r.headers["x-request-id"])
    # 1000 input tokens at $1 per million and 500 output at $2 per million.
    assert record["cost"]["nano_usd"] == 1000 * 1000 + 500 * 2000
    assert record["cost"]["usd"] == pytest.approx(0.002)
    assert record["cost"]["prices"].startswith("genai-prices-")
    assert record["cost"]["prices"].endswith("+settings")
    assert record["budget"]["counters"] == ["principal/spender/day"]
    # The key scope is the key's id, never any part of the key itself.
    assert record["key"] == budgeted.keys["spender"].id
    assert record["key"].startswith("key_")


def test_over_budget_is_refused_in_the_openai_shape_before_the_model(budgeted: Gateway, mock: MockLLM) -> None:
    # $0.01 a day; a worst case of 10000 output tokens at $2 per million is $0.02.
    before = len(mock.received)
    r = chat(budgeted, "spender", max_tokens=10_000)
    assert r.status_code == 429
    error = r.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert error["type"] == "insufficient_quota"
    assert error["request_id"] == r.headers["x-request-id"]
    assert "principal 'spender'" in error["message"]
    assert "max_tokens" in error["message"]
    assert len(mock.received) == before
    record = budgeted.record(r.headers["x-request-id"])
    assert record["refusal_code"] == "budget_exceeded"
    assert record["status"] == 429


def test_a_retried_request_is_counted_once(budgeted: Gateway, mock: MockLLM) -> None:
    scenario = {"usage": {"prompt_tokens": 100, "completion_tokens": 100}}
    first = chat(budgeted, "other", max_tokens=100, mock=scenario, headers={"idempotency-key": "order-7"})
    assert first.status_code == 200, first.text
    (key,) = [k for k in counters(budgeted) if ":principal:other:" in k]
    tokens_settle_at(budgeted, key, 200)
    retry = chat(budgeted, "other", max_tokens=100, mock=scenario, headers={"idempotency-key": "order-7"})
    assert retry.status_code == 200
    tokens_settle_at(budgeted, key, 200)
    fresh = chat(budgeted, "other", max_tokens=100, mock=scenario, headers={"idempotency-key": "order-8"})
    assert fresh.status_code == 200
    tokens_settle_at(budgeted, key, 400)


def test_a_stream_is_cut_with_a_final_error_when_its_budget_runs_out(gateway_factory: GatewayFactory,
                                                                    mock: MockLLM) -> None:
    gw = gateway_factory("sqlite", served=False, keys=KEYS, adjust=with_usage(
        stream_extension_tokens=64,
        budgets=[{"scope": "principal", "window": "day", "tokens": 1800}]))
    try:
        # 800 words, 4000 characters: about 1000 tokens. The scenario rides in the request, so the worst
        # case of its input is about 1400 tokens (a third of the body's bytes): the stream starts, then
        # runs out of room about 400 tokens in.
        words = " ".join(f"w{i:03d}" for i in range(800))
        r = chat(gw, "spender", stream=True, mock={"reply": words, "chunks": 200})
        assert r.status_code == 200
        got = events(r.text)
        assert "data: [DONE]" not in r.text
        error = got[-1]["error"]
        assert error["code"] == "budget_exceeded"
        assert "cut" in error["message"]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in got[:-1] if c.get("choices"))
        assert 0 < len(text) < len(words)
        assert words.startswith(text)
        record = gw.record(r.headers["x-request-id"])
        assert record["refusal_code"] == "budget_exceeded"
        # Settled at what was streamed (counted locally: the upstream's usage never arrived).
        assert record["usage"]["total_tokens"] <= 1800
        (key,) = counters(gw)
        tokens_settle_at(gw, key, record["usage"]["total_tokens"])
        assert record["usage"]["estimated"] is True
    finally:
        gw.stop()


def test_rate_limit_headers_and_the_refusal(gateway_factory: GatewayFactory, mock: MockLLM) -> None:
    gw = gateway_factory("sqlite", served=False, keys=KEYS, adjust=with_usage(
        rate_limits=[{"scope": "key", "requests_per_minute": 2, "tokens_per_minute": 100_000}]))
    try:
        first = chat(gw, "spender", max_tokens=100)
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert first.headers["x-ratelimit-reset-requests"].endswith("s")
        assert first.headers["x-ratelimit-limit-tokens"] == "100000"
        assert int(first.headers["x-ratelimit-remaining-tokens"]) < 100_000 - 100
        assert chat(gw, "spender", max_tokens=100).headers["x-ratelimit-remaining-requests"] == "0"
        refused = chat(gw, "spender", max_tokens=100)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert (error["code"], error["type"]) == ("rate_limit_exceeded", "requests")
        assert error["request_id"] == refused.headers["x-request-id"]
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        # Another key has a limit of its own.
        assert chat(gw, "other", max_tokens=100).status_code == 200
    finally:
        gw.stop()


def test_budgets_off_add_no_stage(gateway: Gateway, budgeted: Gateway) -> None:
    plain = Engine(load_settings(gateway.config))
    assert not {"usage", "meter"} & set(plain.pipeline.stage_names + plain.embeddings.stage_names)
    assert plain.counters is None
    counted = Engine(load_settings(budgeted.config))
    assert counted.pipeline.stage_names.index("usage") < counted.pipeline.stage_names.index("authorize")
    assert counted.pipeline.stage_names.index("meter") == counted.pipeline.stage_names.index("forward") + 1
    assert "usage" in counted.embeddings.stage_names
    r = gateway.request("POST", "/v1/chat/completions", json={"model": "mock", "messages": [
        {"role": "user", "content": "hi"}]}, headers={"authorization": f"Bearer {gateway.keys['plain-user'].key}"})
    assert r.status_code == 200
    assert not any(h.startswith("x-ratelimit") for h in r.headers)
    assert not Path(gateway.directory / "interlock-usage.db").exists()


NEAR_LIMIT_POLICY = """
@id("budget.small-answers-near-the-limit")
forbid (principal, action == Action::"invoke_model", resource)
when { context has budget_spent_percent && context.budget_spent_percent >= 90 &&
       context has max_tokens && context.max_tokens > 100 };
"""


def test_policy_sees_how_much_of_the_budget_is_spent(gateway_factory: GatewayFactory, mock: MockLLM) -> None:
    gw = gateway_factory("sqlite", served=False, keys=KEYS, start=False, adjust=with_usage(
        budgets=[{"scope": "principal", "window": "day", "tokens": 10_000}]))
    (gw.directory / "policies" / "budget.cedar").write_text(NEAR_LIMIT_POLICY, encoding="utf-8")
    gw.start()
    try:
        spend = {"usage": {"prompt_tokens": 10, "completion_tokens": 9000}}
        first = chat(gw, "spender", max_tokens=9500, mock=spend)
        assert first.status_code == 200, first.text
        assert gw.record(first.headers["x-request-id"])["budget"]["spent_percent"] == 0
        # 90% spent: a large answer is refused by the policy, a small one still goes.
        large = chat(gw, "spender", max_tokens=500)
        assert large.status_code == 403
        assert large.json()["error"]["code"] == "policy_denied"
        assert "budget.small-answers-near-the-limit" in large.json()["error"]["message"]
        small = chat(gw, "spender", max_tokens=50)
        assert small.status_code == 200, small.text
        assert gw.record(small.headers["x-request-id"])["budget"]["spent_percent"] >= 90
        # The refused call gave its reservation back.
        (key,) = counters(gw)
        tokens_settle_at(gw, key, 9010 + gw.record(small.headers["x-request-id"])["usage"]["total_tokens"])
    finally:
        gw.stop()


def test_every_endpoint_records_its_cost(gateway_factory: GatewayFactory, mock: MockLLM) -> None:
    gw = gateway_factory("sqlite", served=False, keys=KEYS, adjust=with_usage())
    auth = {"authorization": f"Bearer {gw.keys['spender'].key}"}
    scripted = {"usage": {"prompt_tokens": 30, "completion_tokens": 7}}
    try:
        answers = {
            "chat.completions": gw.request("POST", "/v1/chat/completions", headers=auth, json={
                "model": "mock", "messages": [{"role": "user", "content": "hi"}], "mock": scripted}),
            "messages": gw.request("POST", "/v1/messages", headers={**auth, "anthropic-version": "2023-06-01"},
                                   json={"model": "mock", "max_tokens": 50, "mock": scripted,
                                         "messages": [{"role": "user", "content": "hi"}]}),
            "responses": gw.request("POST", "/v1/responses", headers=auth, json={
                "model": "mock", "input": "hi", "mock": scripted}),
            "embeddings": gw.request("POST", "/v1/embeddings", headers=auth, json={
                "model": "mock", "input": ["one two three", "four"]}),
        }
        for endpoint, r in answers.items():
            assert r.status_code == 200, (endpoint, r.text)
            record = gw.record(r.headers["x-request-id"])
            usage = record["usage"]
            assert usage["prompt_tokens"] > 0, endpoint
            # At the settings' price: $1 per million input tokens, $2 per million output tokens.
            assert record["cost"]["nano_usd"] == usage["prompt_tokens"] * 1000 + usage["completion_tokens"] * 2000
            if endpoint != "embeddings":
                assert (usage["prompt_tokens"], usage["completion_tokens"]) == (30, 7), endpoint
    finally:
        gw.stop()


@pytest.mark.parametrize(("mode", "status"), [("closed", 503), ("open", 200)])
def test_rate_limits_fail_as_configured_when_the_counters_are_down(gateway_factory: GatewayFactory, mock: MockLLM,
                                                                   mode: str, status: int) -> None:
    with refusing_port() as port:
        gw = gateway_factory("sqlite", served=False, keys=KEYS, adjust=with_usage(
            counters_url=f"redis://127.0.0.1:{port}/0", timeout_seconds=0.3, rate_limit_fail_mode=mode,
            rate_limits=[{"scope": "key", "requests_per_minute": 100}]))
        try:
            r = chat(gw, "spender", max_tokens=10)
            assert r.status_code == status, r.text
            if mode == "closed":
                assert r.json()["error"]["code"] == "rate_limit_unavailable"
            else:
                assert not any(h.startswith("x-ratelimit") for h in r.headers)
            # Either way it is logged, with the call's request id.
            assert "rate-limit counters unavailable" in gw.log()
            assert r.headers["x-request-id"] in gw.log()
        finally:
            gw.stop()


def test_budgets_fail_closed_whatever_the_rate_limit_mode(gateway_factory: GatewayFactory, mock: MockLLM) -> None:
    with refusing_port() as port:
        gw = gateway_factory("sqlite", served=False, keys=KEYS, adjust=with_usage(
            counters_url=f"redis://127.0.0.1:{port}/0", timeout_seconds=0.3, rate_limit_fail_mode="open",
            budgets=[{"scope": "tenant", "window": "day", "usd": 5}]))
        try:
            before = len(mock.received)
            r = chat(gw, "spender", max_tokens=10)
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "budget_unavailable"
            assert len(mock.received) == before
            assert gw.record(r.headers["x-request-id"])["refusal_code"] == "budget_unavailable"
        finally:
            gw.stop()
