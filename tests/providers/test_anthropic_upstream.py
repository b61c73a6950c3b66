"""A native Anthropic upstream: the stages' chat form translated into the Messages API and back, behind the
same checkpoint. The mock model answers in Anthropic's format on ``/v1/messages``; both official SDKs call
the gateway (the anthropic one then goes through two translations and must see no seam)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import STANDARD_KEYS, Gateway, GatewayFactory
from support.sdk import anthropic_client

NATIVE = "claude-mock"
EMAIL = "jane.marker@example.com"
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def native_settings(tree: dict[str, Any]) -> None:
    base_url = tree["providers"]["upstream"]["base_url"]
    tree["providers"]["native"] = {"type": "anthropic", "base_url": base_url, "pass_through_fields": ["mock"]}
    tree["models"].append({"alias": NATIVE, "provider": "native", "upstream_model": "mock"})


@pytest.fixture(scope="module")
def native(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    gw = gateway_factory("sqlite", keys=STANDARD_KEYS, adjust=native_settings, served=False)
    yield gw
    gw.stop()


def openai_client(gw: Gateway) -> openai.OpenAI:
    return gw.client(gw.keys["plain-user"])


def test_chat_reaches_the_model_in_anthropic_format(native: Gateway, mock: MockLLM) -> None:
    answer = openai_client(native).chat.completions.create(
        model=NATIVE, max_tokens=50, stop=["END"], user="u-1",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello native"}])
    assert answer.choices[0].message.content == "hello native"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.completion_tokens > 0
    received = mock.last
    assert received.path == "/v1/messages"
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert received.body == {"model": "mock", "max_tokens": 50, "system": [{"type": "text", "text": "Be brief."}],
                             "messages": [{"role": "user", "content": [{"type": "text", "text": "hello native"}]}],
                             "stop_sequences": ["END"], "metadata": {"user_id": "u-1"}}


def test_streamed_chat_from_anthropic_events(native: Gateway, mock: MockLLM) -> None:
    text = " ".join(f"w{i}" for i in range(50))
    stream = openai_client(native).chat.completions.create(
        model=NATIVE, messages=[{"role": "user", "content": text}], stream=True,
        stream_options={"include_usage": True}, extra_body={"mock": {"chunks": 6}})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_tool_calls_round_trip_through_the_messages_api(native: Gateway, mock: MockLLM) -> None:
    client = openai_client(native)
    scenario = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}
    answer = client.chat.completions.create(model=NATIVE, messages=[{"role": "user", "content": "Weather?"}],
                                            tools=[WEATHER], tool_choice="required", extra_body={"mock": scenario})
    (call,) = answer.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Rome"}
    assert answer.choices[0].finish_reason == "tool_calls"
    sent = mock.last.body
    assert sent["tools"] == [{"name": "get_weather", "description": "Current weather",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any"}
    client.chat.completions.create(model=NATIVE, tools=[WEATHER], extra_body={"mock": {"reply": "ok"}}, messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny"},
        {"role": "user", "content": "Thanks."}])
    assert mock.last.body["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": call.id, "name": "get_weather",
                                           "input": {"city": "Rome"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": [{"type": "text", "text": "Sunny"}]},
                                     {"type": "text", "text": "Thanks."}]}]
    stream = client.chat.completions.create(model=NATIVE, messages=[{"role": "user", "content": "Weather?"}],
                                            tools=[WEATHER], stream=True, extra_body={"mock": {**scenario, "chunks": 4}})
    arguments = "".join(tc.function.arguments or "" for c in stream if c.choices
                        for tc in c.choices[0].delta.tool_calls or [] if tc.function)
    assert json.loads(arguments) == {"city": "Rome"}


def test_what_the_messages_api_cannot_express_is_refused(native: Gateway, mock: MockLLM) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(native).chat.completions.create(model=NATIVE, n=2, messages=[{"role": "user", "content": "x"}])
    assert "choice" in caught.value.message
    assert not mock.received


def test_anthropic_client_to_anthropic_upstream(native: Gateway, mock: MockLLM) -> None:
    client = anthropic_client(native, native.keys["plain-user"])
    answer = client.messages.create(model=NATIVE, max_tokens=64, messages=[{"role": "user", "content": f"Mail {EMAIL}"}])
    assert answer.content[0].type == "text"
    assert answer.content[0].text == f"Mail {EMAIL}"
    # The common gateway's policy redacts e-mail addresses toward the model and restores them for this caller.
    assert EMAIL not in json.dumps(mock.last.body)
    assert "[EMAIL_1]" in json.dumps(mock.last.body)
    assert mock.last.path == "/v1/messages"
    with client.messages.stream(model=NATIVE, max_tokens=64, messages=[{"role": "user", "content": "two ways"}],
                                extra_body={"mock": {"chunks": 3}}) as stream:
        assert "".join(stream.text_stream) == "two ways"


@pytest.mark.parametrize(("scenario", "status", "code"), [
    ({"status": 500}, 502, "upstream_unavailable"),
    ({"malformed": True}, 502, "upstream_unavailable"),
    ({"status": 400, "message": "prompt is too long"}, 400, "upstream_rejected"),
])
def test_native_upstream_failures_are_classified_like_any_upstream(native: Gateway, mock: MockLLM,
                                                                    scenario: dict[str, Any], status: int,
                                                                    code: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client(native).chat.completions.create(model=NATIVE, messages=[{"role": "user", "content": "x"}],
                                                      extra_body={"mock": scenario})
    assert caught.value.status_code == status
    assert caught.value.code == code
    if "message" in scenario:
        assert scenario["message"] in caught.value.message
