"""``POST /v1/embeddings`` through the gateway: the official OpenAI SDK's ``embeddings.create`` in front of
the mock model, what reaches the model, what is refused and what is recorded.

The standard test policies apply: personal data is redacted (for a vector, to its class label), card
numbers are masked, secrets are blocked, and content the gateway cannot read (token ids, ``media.tokens``)
is refused toward the external ``mock`` model. Every claim about the upstream is made on what the mock
recorded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from interlock.providers.mock import MockLLM
from interlock.providers.mock_embeddings import DEFAULT_DIMENSIONS, vector
from support.gateways import Gateway, GatewayFactory, KeySpec
from support.settings import default_policies

EMAIL = "jane.doe@example.org"
PHONE = "+1 415 555 0132"
CARD = "4111 1111 1111 1111"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def embeddings_calls(mock: MockLLM) -> list[dict[str, Any]]:
    return [r.body for r in mock.received if r.path == "/v1/embeddings"]


def assert_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape, with the request id in the body and the header."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["request_id"].startswith("req_")
    if param is not None:
        assert error["param"] == param
    return dict(error)


# -- the SDK ------------------------------------------------------------------------------------------


def test_sdk_embeds_a_string_with_its_default_base64_encoding(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    raw = client.embeddings.with_raw_response.create(model="mock", input="the quick brown fox")
    result = raw.parse()
    # The SDK asks for base64 and decodes it: the vector is the one the mock computes for the text.
    assert embeddings_calls(mock) == [{"model": "mock", "input": "the quick brown fox", "encoding_format": "base64"}]
    assert [d.embedding for d in result.data] == [vector("the quick brown fox", DEFAULT_DIMENSIONS)]
    assert result.model == "mock"
    assert result.usage.prompt_tokens == 4
    record = gateway.record(raw.headers["x-request-id"])
    assert record["endpoint"] == "embeddings"
    assert record["outcome"] == "ok"
    assert record["usage"]["prompt_tokens"] == 4
    assert record["provider"] == "upstream"
    assert set(record["timings_ms"]) >= {"authenticate", "parse", "authorize", "protect", "forward"}
    # The caller's key never travels upstream.
    assert gateway.keys["plain-user"].key not in json.dumps(mock.last.headers)


def test_sdk_embeds_a_list_in_order_with_dimensions_float_and_user(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    texts = ["alpha", "beta gamma", "delta"]
    result = client.embeddings.create(model="mock", input=texts, dimensions=8, encoding_format="float",
                                      user="team-7")
    assert [d.index for d in result.data] == [0, 1, 2]
    assert [d.embedding for d in result.data] == [vector(t, 8) for t in texts]
    assert result.usage.prompt_tokens == 4
    sent = embeddings_calls(mock)[-1]
    assert sent == {"model": "mock", "input": texts, "user": "team-7", "dimensions": 8, "encoding_format": "float"}


def test_async_sdk_embeds_too(gateway: Gateway, mock: MockLLM) -> None:
    async def run() -> list[list[float]]:
        async with gateway.async_http() as http:
            client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.keys["plain-user"].key,
                                        max_retries=0, http_client=http)
            result = await client.embeddings.create(model="mock", input=["one", "two"])
            return [d.embedding for d in result.data]

    assert asyncio.run(run()) == [vector("one", DEFAULT_DIMENSIONS), vector("two", DEFAULT_DIMENSIONS)]


# -- sensitive data ------------------------------------------------------------------------------------


def test_values_in_every_input_and_user_reach_the_model_as_labels(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    texts = [f"Write to {EMAIL} today", f"Telephone: {PHONE}", f"Pay with card {CARD}", "nothing here"]
    raw = client.embeddings.with_raw_response.create(model="mock", input=texts, user=f"owner {EMAIL}",
                                                     encoding_format="float")
    sent = embeddings_calls(mock)[-1]
    wire = json.dumps(sent)
    for value in (EMAIL, PHONE, CARD):
        assert value not in wire
    # Redacted to the class label (no numbered placeholder: it would mean nothing inside a vector); the
    # card masked as on the chat path.
    assert sent["input"] == ["Write to [EMAIL] today", "Telephone: [PHONE]", "Pay with card ****1111",
                             "nothing here"]
    assert sent["user"] == "owner [EMAIL]"
    # The caller gets the vectors of what the model embedded.
    assert [d.embedding for d in raw.parse().data] == [vector(t, DEFAULT_DIMENSIONS) for t in sent["input"]]
    request_id = raw.headers["x-request-id"]
    record = gateway.record(request_id)
    data = {(d["class"], d["action"]): d["count"] for d in record["data"]}
    assert data == {("pii.email", "redact"): 2, ("pii.phone", "redact"): 1, ("pci.card_number", "mask"): 1}
    # What is kept at rest holds no value either.
    payload = json.dumps(gateway.payload(request_id))
    for value in (EMAIL, PHONE, CARD):
        assert value not in payload
    assert "[EMAIL]" in payload


def test_a_blocked_class_refuses_the_call_before_the_model(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.embeddings.create(model="mock", input=["harmless", f"aws key {AWS_KEY}"])
    body: Any = refused.value.body
    assert body["code"] == "data_blocked"
    assert "secret.api_key" in body["message"]
    assert AWS_KEY not in body["message"]
    assert embeddings_calls(mock) == []
    record = gateway.record(refused.value.response.headers["x-request-id"])
    assert record["refusal_code"] == "data_blocked"
    assert record["status"] == 403


def test_a_blocked_user_field_refuses_the_call(gateway: Gateway, mock: MockLLM) -> None:
    response = gateway.request("POST", "/v1/embeddings", json={"model": "mock", "input": "hello", "user": AWS_KEY},
                               headers={"authorization": f"Bearer {gateway.keys['plain-user'].key}"})
    assert_error(response, 403, "data_blocked")
    assert embeddings_calls(mock) == []


@pytest.mark.parametrize("tokens", [[15339, 1917], [[15339, 1917], [2028]]], ids=["token-ids", "token-id-lists"])
def test_token_ids_are_refused_toward_an_external_model(gateway: Gateway, mock: MockLLM, tokens: Any) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.embeddings.create(model="mock", input=tokens)
    body: Any = refused.value.body
    assert body["code"] == "data_blocked"
    assert "media.tokens" in body["message"]
    assert embeddings_calls(mock) == []


TOKEN_POLICY = """\
@id("test.tokens.clear-to-mock")
permit (principal, action == Action::"send_data_unredacted", resource == DataClass::"media.tokens")
when { context.model.alias == "mock" };

@id("test.tokens.labelled-to-twice")
permit (principal, action == Action::"send_data_redacted", resource == DataClass::"media.tokens")
when { context.model.alias == "twice" };
"""


@pytest.fixture(scope="module")
def tokens_gateway(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    """Token ids reach ``mock`` as sent and ``twice`` as their label, by policy."""
    gw = gateway_factory("sqlite", served=False, keys=(KeySpec("user"),),
                         policies={**default_policies(), "tokens.cedar": TOKEN_POLICY})
    yield gw
    gw.stop()


def test_policy_may_let_token_ids_through(tokens_gateway: Gateway, mock: MockLLM) -> None:
    client = tokens_gateway.client(tokens_gateway.keys["user"])
    raw = client.embeddings.with_raw_response.create(model="mock", input=[[15339, 1917], [2028]])
    assert embeddings_calls(mock)[-1]["input"] == [[15339, 1917], [2028]]
    assert [d.embedding for d in raw.parse().data] == [vector([15339, 1917], DEFAULT_DIMENSIONS),
                                                       vector([2028], DEFAULT_DIMENSIONS)]
    record = tokens_gateway.record(raw.headers["x-request-id"])
    assert record["data"] == [{"class": "media.tokens", "action": "allow", "where": "input", "count": 2}]
    # Token ids are never kept at rest, even where they were allowed.
    assert tokens_gateway.payload(raw.headers["x-request-id"]) == {"input": ["[TOKENS]", "[TOKENS]"]}


def test_policy_may_replace_token_ids_with_their_label(tokens_gateway: Gateway, mock: MockLLM) -> None:
    client = tokens_gateway.client(tokens_gateway.keys["user"])
    result = client.embeddings.create(model="twice", input=[15339, 1917], encoding_format="float")
    assert embeddings_calls(mock)[-1]["input"] == "[TOKENS]"
    assert [d.embedding for d in result.data] == [vector("[TOKENS]", DEFAULT_DIMENSIONS)]


# -- model access and upstreams ------------------------------------------------------------------------


def test_model_access_is_decided_by_policy(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.embeddings.create(model="restricted", input="hello")
    assert denied.value.code == "policy_denied"
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="no-such-model", input="hello")
    assert missing.value.code == "model_not_found"
    assert embeddings_calls(mock) == []
    # An analyst may use the restricted model.
    analyst = gateway.client(gateway.keys["analyst"])
    assert len(analyst.embeddings.create(model="restricted", input="hello").data) == 1


def test_an_unknown_key_is_an_authentication_error(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client("il_" + "x" * 43)
    with pytest.raises(openai.AuthenticationError) as refused:
        client.embeddings.create(model="mock", input="hello")
    assert refused.value.code == "invalid_api_key"
    assert embeddings_calls(mock) == []


def test_a_dead_route_falls_back_and_a_dead_model_is_502(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    raw = client.embeddings.with_raw_response.create(model="flaky", input="hello")
    assert len(raw.parse().data) == 1
    attempts = gateway.record(raw.headers["x-request-id"])["attempts"]
    assert [a["error"] for a in attempts] == ["upstream_unavailable", None]
    with pytest.raises(openai.APIStatusError) as down:
        client.embeddings.create(model="down", input="hello")
    assert down.value.status_code == 502
    assert down.value.code == "upstream_unavailable"


def test_the_upstream_refusing_is_passed_on(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="mock", input="hello", extra_body={"mock": {"status": 400,
                                                                                   "message": "too long"}})
    assert refused.value.code == "upstream_rejected"
    assert "too long" in refused.value.message


# -- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "mock", "input": "hi", "input_type": "query"}, "input_type"),
    ({"model": "mock", "input": "hi", "encoding_format": "hex"}, "encoding_format"),
    ({"model": "mock", "input": "hi", "dimensions": 0}, "dimensions"),
    ({"model": "mock", "input": "hi", "user": 7}, "user"),
    ({"model": "mock"}, None),
    ({"input": "hi"}, None),
    ({"model": "mock", "input": ""}, "input"),
    ({"model": "mock", "input": []}, "input"),
    ({"model": "mock", "input": ["ok", ""]}, "input"),
    ({"model": "mock", "input": ["text", 15339]}, "input"),
    ({"model": "mock", "input": [15339, -1]}, "input"),
    ({"model": "mock", "input": [15339, 10_000_000]}, "input"),
    ({"model": "mock", "input": [[15339], []]}, "input"),
    ({"model": "mock", "input": [True]}, "input"),
    ({"model": "mock", "input": {"text": "hi"}}, "input"),
    ({"model": "mock", "input": ["x"] * 2049}, "input"),
], ids=["unknown-field", "encoding", "dimensions", "user-type", "no-input", "no-model", "empty", "empty-list",
        "empty-item", "mixed", "negative-token", "huge-token", "empty-token-list", "boolean", "object", "too-many"])
def test_bad_requests_get_the_error_shape(gateway: Gateway, mock: MockLLM, body: dict[str, Any],
                                          param: str | None) -> None:
    response = gateway.request("POST", "/v1/embeddings", json=body,
                               headers={"authorization": f"Bearer {gateway.keys['plain-user'].key}"})
    error = assert_error(response, 400, "invalid_request", param)
    if param == "input_type":
        assert "input_type" in error["message"]
    assert embeddings_calls(mock) == []
    record = gateway.record(response.headers["x-request-id"])
    assert record["endpoint"] == "embeddings"
    assert record["refusal_code"] == "invalid_request"


def test_a_body_that_is_not_json_is_refused_and_recorded(gateway: Gateway, mock: MockLLM) -> None:
    response = gateway.request("POST", "/v1/embeddings", content=b"{not json",
                               headers={"authorization": f"Bearer {gateway.keys['plain-user'].key}",
                                        "content-type": "application/json"})
    assert_error(response, 400, "invalid_request")
    assert gateway.record(response.headers["x-request-id"])["endpoint"] == "embeddings"


def test_a_body_over_the_limit_is_413(gateway: Gateway, mock: MockLLM) -> None:
    response = gateway.request("POST", "/v1/embeddings", content=b"x" * (257 * 1024),
                               headers={"authorization": f"Bearer {gateway.keys['plain-user'].key}"})
    assert_error(response, 413, "request_too_large")
    assert gateway.record(response.headers["x-request-id"])["refusal_code"] == "request_too_large"


def test_other_methods_are_405_naming_post(gateway: Gateway) -> None:
    response = gateway.request("GET", "/v1/embeddings")
    assert_error(response, 405, "invalid_request")
    assert response.headers["allow"] == "POST"
