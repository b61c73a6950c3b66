"""The official ``anthropic`` SDK, sync, async and streaming, against the common gateway in front of the
mock LLM (an OpenAI-compatible upstream: every request is translated there and every answer back)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import Gateway
from support.sdk import anthropic_client, async_anthropic_client

WEATHER: Any = {"name": "get_weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
VERSION = {"anthropic-version": "2023-06-01"}


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def client(gateway: Gateway, key: str = "plain-user") -> anthropic.Anthropic:
    return anthropic_client(gateway, gateway.keys[key])


def messages_record(gateway: Gateway, request_id: str | None) -> dict[str, Any]:
    record = gateway.record(request_id)
    assert record["endpoint"] == "messages"
    return record


# -- answers --------------------------------------------------------------------------------------------


def test_plain_message_is_translated_both_ways(gateway: Gateway, mock: MockLLM) -> None:
    raw = client(gateway).messages.with_raw_response.create(
        model="mock", max_tokens=64, system="Answer briefly.", messages=user("the quick brown fox"),
        stop_sequences=["END"], metadata={"user_id": "u-42"},
        # Older SDKs take sampling settings as arguments; this one sends them as extra fields.
        extra_body={"temperature": 0.5, "top_k": 5})
    # Anthropic's header and the gateway's carry the same id, which finds the record.
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    answer = raw.parse()
    assert answer.type == "message"
    assert answer.role == "assistant"
    assert [(b.type, getattr(b, "text", None)) for b in answer.content] == [("text", "the quick brown fox")]
    assert answer.stop_reason == "end_turn"
    assert answer.model == "mock"
    assert answer.usage.output_tokens == 4
    assert answer.usage.input_tokens > 0
    sent = mock.last.body
    assert mock.last.path == "/v1/chat/completions"
    assert sent["messages"] == [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": "the quick brown fox"}]
    assert (sent["max_tokens"], sent["stop"], sent["user"], sent["temperature"]) == (64, ["END"], "u-42", 0.5)
    # top_k has no counterpart in the chat format: dropped, never forwarded under another name.
    assert "top_k" not in sent
    record = messages_record(gateway, raw.headers["request-id"])
    assert record["outcome"] == "ok"
    assert record["usage"]["completion_tokens"] == 4


def test_system_blocks_and_text_blocks(gateway: Gateway, mock: MockLLM) -> None:
    answer = client(gateway).messages.create(
        model="mock", max_tokens=64,
        system=[{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two.",
                                                       "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
                  {"role": "assistant", "content": [{"type": "text", "text": "noted"}]},
                  {"role": "user", "content": "go on"}],
        extra_body={"mock": {"reply": "done"}})
    assert answer.content[0].type == "text"
    assert answer.content[0].text == "done"
    assert mock.last.body["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}]},
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "noted"}]},
        {"role": "user", "content": "go on"}]


def test_plain_text_document_is_read_as_text(gateway: Gateway, mock: MockLLM) -> None:
    client(gateway).messages.create(model="mock", max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "document", "title": "Notes", "source": {"type": "text", "media_type": "text/plain",
                                                          "data": "The meeting moved to Tuesday."}},
        {"type": "text", "text": "Summarise."}]}])
    assert mock.last.body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Notes"}, {"type": "text", "text": "The meeting moved to Tuesday."},
        {"type": "text", "text": "Summarise."}]}]


def test_async_client(gateway: Gateway, mock: MockLLM) -> None:
    async def run() -> tuple[str, str]:
        async with async_anthropic_client(gateway, gateway.keys["plain-user"]) as aclient:
            answer = await aclient.messages.create(model="mock", max_tokens=32, messages=user("async hello"))
            block = answer.content[0]
            assert block.type == "text"
            streamed = ""
            async with aclient.messages.stream(model="mock", max_tokens=32, messages=user("async stream"),
                                               extra_body={"mock": {"chunks": 3}}) as stream:
                async for text in stream.text_stream:
                    streamed += text
            return block.text, streamed

    assert asyncio.run(run()) == ("async hello", "async stream")


def test_stream_speaks_anthropic_events(gateway: Gateway, mock: MockLLM) -> None:
    text = " ".join(f"word{i}" for i in range(300))
    with client(gateway).messages.stream(model="mock", max_tokens=1000, messages=user(text),
                                         extra_body={"mock": {"chunks": 30}}) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
        request_id = stream.response.headers["request-id"]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == 1
    assert kinds.count("content_block_stop") == 1
    assert kinds.count("content_block_delta") > 1
    assert final.content[0].type == "text"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 300
    # The upstream was asked for its usage, so the record has the counts.
    assert mock.last.body["stream_options"] == {"include_usage": True}
    assert messages_record(gateway, request_id)["stream"] is True


def test_raw_stream_names_every_event_with_a_ping(gateway: Gateway, mock: MockLLM) -> None:
    r = gateway.request("POST", "/v1/messages", headers={"x-api-key": gateway.keys["plain-user"].key, **VERSION},
                        json={"model": "mock", "max_tokens": 16, "stream": True, "messages": user("hi")})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[len("event: "):] for line in r.text.splitlines() if line.startswith("event: ")]
    assert events[:2] == ["message_start", "ping"]
    assert events[-1] == "message_stop"
    data = [json.loads(line[len("data: "):]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert [d["type"] for d in data] == events


# -- tools ------------------------------------------------------------------------------------------------


def test_tool_use_round_trip(gateway: Gateway, mock: MockLLM) -> None:
    c = client(gateway)
    scenario = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "toolu_1"}]}
    answer = c.messages.create(model="mock", max_tokens=64, messages=user("Weather in Paris?"), tools=[WEATHER],
                               tool_choice={"type": "auto", "disable_parallel_tool_use": True},
                               extra_body={"mock": scenario})
    assert answer.stop_reason == "tool_use"
    (use,) = [b for b in answer.content if b.type == "tool_use"]
    assert (use.id, use.name, use.input) == ("toolu_1", "get_weather", {"city": "Paris"})
    sent = mock.last.body
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather", "parameters": WEATHER["input_schema"]}}]
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("auto", False)
    # The result goes back as Anthropic sends it: the upstream gets the call and a tool message.
    follow = c.messages.create(model="mock", max_tokens=64, tools=[WEATHER], messages=[
        *user("Weather in Paris?"),
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in answer.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 21 C"},
                                     {"type": "text", "text": "And tomorrow?"}]}],
        tool_choice={"type": "tool", "name": "get_weather"}, extra_body={"mock": {"reply": "Also sunny."}})
    assert follow.content[0].type == "text"
    assert follow.content[0].text == "Also sunny."
    sent = mock.last.body
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny, 21 C"},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_streamed_tool_use_arrives_as_input_json(gateway: Gateway, mock: MockLLM) -> None:
    scenario = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}], "chunks": 5}
    with client(gateway).messages.stream(model="mock", max_tokens=64, messages=user("Weather?"), tools=[WEATHER],
                                         extra_body={"mock": scenario}) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "input_json_delta" in deltas
    (use,) = [b for b in final.content if b.type == "tool_use"]
    assert (use.name, use.input) == ("get_weather", {"city": "Oslo"})
    assert final.stop_reason == "tool_use"


def test_unregistered_tool_is_refused_with_an_explanation(gateway: Gateway, mock: MockLLM) -> None:
    scenario = {"tool_calls": [{"name": "delete_everything", "arguments": {}}]}
    raw = client(gateway).messages.with_raw_response.create(
        model="mock", max_tokens=64, messages=user("Clean up."), extra_body={"mock": scenario})
    answer = raw.parse()
    assert [b.type for b in answer.content] == ["text"]
    assert answer.stop_reason == "end_turn"
    (entry,) = (answer.model_extra or {})["interlock"]["tool_calls"]
    assert (entry["name"], entry["outcome"]) == ("delete_everything", "refused")
    assert entry["message"] in answer.content[0].text  # type: ignore[union-attr]


# -- refusals, in Anthropic's shape --------------------------------------------------------------------


def anthropic_error(r: Any, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    doc: dict[str, Any] = r.json()
    assert doc["type"] == "error"
    assert doc["error"]["type"] == kind
    assert doc["request_id"].startswith("req_")
    assert doc["request_id"] == r.headers["request-id"] == r.headers["x-request-id"]
    return doc["error"]  # type: ignore[no-any-return]


def test_sdk_raises_its_own_errors_with_the_request_id(gateway: Gateway, mock: MockLLM) -> None:
    with pytest.raises(anthropic.AuthenticationError) as bad_key:
        anthropic_client(gateway, "il_" + "x" * 43).messages.create(model="mock", max_tokens=8, messages=user("hi"))
    assert bad_key.value.request_id is not None
    assert messages_record(gateway, bad_key.value.request_id)["refusal_code"] == "invalid_api_key"
    with pytest.raises(anthropic.NotFoundError) as unknown:
        client(gateway).messages.create(model="no-such-model", max_tokens=8, messages=user("hi"))
    assert unknown.value.body["error"]["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        client(gateway).messages.create(model="restricted", max_tokens=8, messages=user("hi"))
    assert denied.value.body["error"]["code"] == "policy_denied"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as unknown_field:
        client(gateway).messages.create(model="mock", max_tokens=8, messages=user("hi"),
                                        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert unknown_field.value.body["error"]["param"] == "thinking"  # type: ignore[index]
    assert messages_record(gateway, unknown_field.value.request_id)["status"] == 400
    assert not mock.received


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "mock", "messages": user("hi")}, None),  # max_tokens is required
    ({"model": "mock", "max_tokens": 0, "messages": user("hi")}, "max_tokens"),
    ({"model": "mock", "max_tokens": 8, "messages": []}, "messages"),
    ({"model": "mock", "max_tokens": 8, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
    ({"model": "mock", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "text", "text": "x",
                                                                                   "extra": 1}]}]},
     "messages[0].content[0].extra"),
    ({"model": "mock", "max_tokens": 8, "temperature": 1.5, "messages": user("hi")}, "temperature"),
    ({"model": "mock", "max_tokens": 8, "stop_sequences": ["a", "b", "c", "d", "e"], "messages": user("hi")},
     "stop_sequences"),
    ({"model": "mock", "max_tokens": 8, "tools": [{"type": "bash_20250124", "name": "bash"}], "messages": user("x")},
     "tools[0].type"),
    ({"model": "mock", "max_tokens": 8, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "url", "url": "https://example.org/a.pdf"}}]}]},
     "messages[0].content[0].source"),
])
def test_bad_input_is_refused_in_anthropic_shape(gateway: Gateway, mock: MockLLM, body: dict[str, Any],
                                                 param: str | None) -> None:
    r = gateway.request("POST", "/v1/messages", json=body,
                        headers={"x-api-key": gateway.keys["plain-user"].key, **VERSION})
    error = anthropic_error(r, 400, "invalid_request_error")
    assert error["code"] == "invalid_request"
    if param is not None:
        assert error["param"] == param
    assert not mock.received


def test_malformed_body_version_and_method_in_anthropic_shape(gateway: Gateway, mock: MockLLM) -> None:
    key = {"x-api-key": gateway.keys["plain-user"].key}
    r = gateway.request("POST", "/v1/messages", content=b"{not json", headers={**key, **VERSION})
    anthropic_error(r, 400, "invalid_request_error")
    r = gateway.request("POST", "/v1/messages", json={"model": "mock", "max_tokens": 8, "messages": user("hi")},
                        headers=key)
    assert anthropic_error(r, 400, "invalid_request_error")["param"] == "anthropic-version"
    r = gateway.request("POST", "/v1/messages", json={"model": "mock", "max_tokens": 8,
                                                      "messages": user("x" * 300_000)}, headers={**key, **VERSION})
    assert anthropic_error(r, 413, "request_too_large")["code"] == "request_too_large"
    assert messages_record(gateway, r.headers["request-id"])["status"] == 413
    r = gateway.request("GET", "/v1/messages", headers={**key, **VERSION})
    anthropic_error(r, 405, "invalid_request_error")
    assert r.headers["allow"] == "POST"
    r = gateway.request("POST", "/v1/messages", json={"model": "mock", "max_tokens": 8, "messages": user("hi")},
                        headers={"authorization": "Bearer il_nope", **VERSION})
    anthropic_error(r, 401, "authentication_error")
    assert not mock.received


def test_bearer_auth_is_accepted(gateway: Gateway, mock: MockLLM) -> None:
    r = gateway.request("POST", "/v1/messages", json={"model": "mock", "max_tokens": 8, "messages": user("bearer")},
                        headers={"authorization": f"Bearer {gateway.keys['plain-user'].key}", **VERSION})
    assert r.status_code == 200, r.text
    assert r.json()["content"] == [{"type": "text", "text": "bearer"}]


# -- models and token counts ----------------------------------------------------------------------------


def test_models_answer_in_anthropic_shape_for_anthropic_clients(gateway: Gateway) -> None:
    listed = [m.id for m in client(gateway).models.list()]
    assert "mock" in listed
    assert "restricted" not in listed
    r = gateway.request("GET", "/v1/models", headers={"x-api-key": gateway.keys["plain-user"].key, **VERSION})
    doc = r.json()
    assert set(doc) == {"data", "has_more", "first_id", "last_id"}
    assert doc["data"][0]["type"] == "model"
    assert doc["has_more"] is False
    # Without the version header: the OpenAI list, as before.
    r = gateway.request("GET", "/v1/models", headers={"x-api-key": gateway.keys["plain-user"].key})
    assert r.json()["object"] == "list"
    r = gateway.request("GET", "/v1/models", headers={"x-api-key": "il_nope", **VERSION})
    anthropic_error(r, 401, "authentication_error")


def test_count_tokens_is_a_local_estimate(gateway: Gateway, mock: MockLLM) -> None:
    c = client(gateway)
    short = c.messages.count_tokens(model="mock", messages=user("hello"))
    longer = c.messages.count_tokens(model="mock", system="You are terse.", messages=user("hello " * 100),
                                     tools=[WEATHER])
    assert 0 < short.input_tokens < longer.input_tokens
    assert not mock.received, "counting tokens asks no model"
    with pytest.raises(anthropic.NotFoundError):
        c.messages.count_tokens(model="no-such-model", messages=user("hi"))
    with pytest.raises(anthropic.PermissionDeniedError):
        c.messages.count_tokens(model="restricted", messages=user("hi"))
    with pytest.raises(anthropic.BadRequestError):
        c.messages.count_tokens(model="mock", messages=user("hi"), extra_body={"max_tokens": 5})


def test_a_model_is_retrieved_in_the_shape_of_the_client_that_asks(gateway: Gateway) -> None:
    model = client(gateway).models.retrieve("mock")
    assert (model.id, model.type) == ("mock", "model")
    # A model this caller may not use is not told apart from one that does not exist.
    for alias in ("restricted", "no-such-model"):
        with pytest.raises(anthropic.NotFoundError) as missing:
            client(gateway).models.retrieve(alias)
        assert missing.value.body["error"]["code"] == "model_not_found"  # type: ignore[index]
    assert gateway.client(gateway.keys["plain-user"]).models.retrieve("mock").owned_by == "upstream"


def test_served_gateway_streams_anthropic_events_as_they_come(served_gateway: Gateway, mock: MockLLM) -> None:
    text = " ".join(f"piece{i}" for i in range(40))
    with anthropic_client(served_gateway, served_gateway.keys["plain-user"]).messages.stream(
            model="mock", max_tokens=200, messages=user(text),
            extra_body={"mock": {"chunks": 8, "chunk_delay_ms": 20}}) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == text
    assert len(pieces) > 1
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 40
