"""The official OpenAI SDK, over real HTTP, against a gateway in front of the mock LLM (both stores)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import Gateway

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Current weather",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"]}},
}


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def test_plain_chat_echoes_what_was_sent(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    completion = client.chat.completions.create(model="mock", messages=user("the quick brown fox"))
    assert completion.choices[0].message.content == "the quick brown fox"
    assert completion.choices[0].finish_reason == "stop"
    # The caller sees its own alias; the upstream got the upstream model's name.
    assert completion.model == "mock"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4
    assert len(mock.received) == 1
    sent = mock.last.body
    assert sent["model"] == "mock"
    assert sent["messages"] == [{"role": "user", "content": "the quick brown fox"}]
    # The caller's key never travels upstream.
    assert gateway.keys["plain-user"].key not in json.dumps(mock.last.headers)


def test_scripted_reply_passes_through(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    completion = client.chat.completions.create(model="mock", messages=user("anything"),
                                                extra_body={"mock": {"reply": "a scripted answer"}})
    assert completion.choices[0].message.content == "a scripted answer"


def test_streaming_reassembles_the_text(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    text = " ".join(f"token{i}" for i in range(800))
    stream = client.chat.completions.create(model="mock", messages=user(text), stream=True,
                                            extra_body={"mock": {"chunks": 40}})
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == text
    # Output inspection holds back a bounded window, not the whole answer: it still arrives in pieces.
    assert len([p for p in pieces if p]) > 1
    assert all(c.model == "mock" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_streaming_without_include_usage_sends_no_usage_chunk(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    chunks = list(client.chat.completions.create(model="mock", messages=user("one two three"), stream=True))
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    # The gateway asked the upstream for usage anyway, so the record still has token counts.
    assert mock.last.body["stream_options"] == {"include_usage": True}


def test_streaming_with_include_usage_ends_with_a_usage_chunk(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with client.chat.completions.with_streaming_response.create(
        model="mock", messages=user("one two three"), stream=True, stream_options={"include_usage": True},
    ) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    assert usage_chunks[0] is chunks[-1]
    assert usage_chunks[0].choices == []
    assert usage_chunks[0].usage is not None
    assert usage_chunks[0].usage.completion_tokens == 3
    record = gateway.record(request_id)
    assert record["stream"] is True
    assert record["usage"]["completion_tokens"] == 3


def test_tool_call_round_trip(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    messages: Any = user("What is the weather in Paris?")
    first = client.chat.completions.create(
        model="mock", messages=messages, tools=[WEATHER_TOOL],
        extra_body={"mock": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}},
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert mock.last.body["tools"][0]["function"]["name"] == "get_weather"

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"})
    second = client.chat.completions.create(model="mock", messages=messages, tools=[WEATHER_TOOL],
                                            extra_body={"mock": {"reply": "It is sunny in Paris."}})
    assert second.choices[0].message.content == "It is sunny in Paris."
    received = mock.last.body["messages"]
    assert received[-1] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"}
    assert received[-2]["tool_calls"][0]["id"] == call.id


def test_streamed_tool_call_reassembles(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    stream = client.chat.completions.create(
        model="mock", messages=user("weather?"), tools=[WEATHER_TOOL], stream=True,
        extra_body={"mock": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Reykjavik"}}]}},
    )
    name, arguments, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                name += tc.function.name if tc.function and tc.function.name else ""
                arguments += tc.function.arguments if tc.function and tc.function.arguments else ""
            finish = choice.finish_reason or finish
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": "Reykjavik"}
    assert finish == "tool_calls"


def test_models_lists_only_what_the_caller_may_use(gateway: Gateway) -> None:
    plain = {m.id for m in gateway.client(gateway.keys["plain-user"]).models.list()}
    analyst = {m.id for m in gateway.client(gateway.keys["analyst"]).models.list()}
    assert "restricted" not in plain
    assert {"mock", "flaky", "slow"} <= plain
    assert analyst == plain | {"restricted"}


def test_restricted_model_answers_an_analyst(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["analyst"])
    completion = client.chat.completions.create(model="restricted", messages=user("for analysts"))
    assert completion.choices[0].message.content == "for analysts"
    assert completion.model == "restricted"


# -- errors as SDK exceptions ------------------------------------------------------------------------


def _error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert {"message", "type", "param", "code", "request_id"} <= set(error)
    assert error["message"]
    return error


def test_invalid_key_is_an_authentication_error(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client("il_" + "x" * 43)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="mock", messages=user("hi"))
    exc = caught.value
    assert exc.status_code == 401
    assert exc.code == "invalid_api_key"
    assert exc.request_id is not None
    assert exc.request_id.startswith("req_")
    assert _error_body(exc)["request_id"] == exc.request_id
    assert mock.received == []


def test_forbidden_model_is_a_permission_denied_error(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="restricted", messages=user("let me in"))
    exc = caught.value
    assert exc.status_code == 403
    assert exc.code == "policy_denied"
    assert exc.param == "model"
    assert exc.request_id
    assert mock.received == []


def test_unknown_model_is_a_not_found_error(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=user("hi"))
    exc = caught.value
    assert exc.status_code == 404
    assert exc.code == "model_not_found"
    assert "/v1/models" in _error_body(exc)["message"]
    assert exc.request_id
    assert mock.received == []


def test_bad_parameter_is_a_bad_request_error(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="mock", messages=user("hi"), temperature=7.5)
    exc = caught.value
    assert exc.status_code == 400
    assert exc.code == "invalid_request"
    assert exc.param == "temperature"
    assert exc.request_id
    assert mock.received == []


def test_error_request_id_finds_the_record_in_the_export(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="restricted", messages=user("exported refusal"))
    request_id = _error_body(caught.value)["request_id"]
    matching = [r for r in gateway.export() if r["request_id"] == request_id]
    assert len(matching) == 1
    (record,) = matching
    assert record["status"] == 403
    assert record["refusal_code"] == "policy_denied"
    assert record["principal"] == "plain-user"
    assert record["model"] == "restricted"
    (authorized,) = [d for d in record["decisions"] if d["stage"] == "authorize"]
    assert authorized["outcome"] == "deny"
