"""The Anthropic codec on its own: a Messages request into the chat form and a chat answer (whole or
streamed) back, keeping text, tool calls and usage."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from interlock.pipeline.codecs.anthropic_in import chat_request
from interlock.pipeline.codecs.anthropic_out import StreamTranslator, message
from interlock.pipeline.codecs.anthropic_schema import MessagesRequest


def request(**fields: Any) -> MessagesRequest:
    return msgspec.convert({"model": "m", "max_tokens": 10, **fields}, MessagesRequest)


def test_request_keeps_text_tool_calls_and_results_in_order() -> None:
    doc = chat_request(request(system="S", stream=True, messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "calling"},
                                          {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": [1, 2]}},
                                          {"type": "tool_use", "id": "t2", "name": "g", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                                     {"type": "tool_result", "tool_use_id": "t2"},
                                     {"type": "text", "text": "go on"}]}],
        tool_choice={"type": "any"}, tools=[{"name": "f", "input_schema": {"type": "object"}}]))
    assert doc["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "calling"}], "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":[1,2]}'}},
            {"id": "t2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "tool", "tool_call_id": "t2", "content": ""},
        {"role": "user", "content": [{"type": "text", "text": "go on"}]}]
    assert doc["tool_choice"] == "required"
    assert doc["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert doc["stream_options"] == {"include_usage": True}
    assert doc["max_tokens"] == 10


def test_answer_keeps_text_tool_calls_and_usage() -> None:
    answer = message({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7}}, "alias")
    assert answer["content"] == [{"type": "text", "text": "Let me check."},
                                 {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}}]
    assert (answer["stop_reason"], answer["model"]) == ("tool_use", "alias")
    assert answer["usage"] == {"input_tokens": 12, "output_tokens": 7}
    length = message({"choices": [{"finish_reason": "length", "message": {"content": "cut"}}]}, "alias")
    assert length["stop_reason"] == "max_tokens"


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def test_stream_becomes_anthropic_events_with_input_json_and_usage() -> None:
    t = StreamTranslator("alias")
    events = list(t.start())
    for c in (chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}),
              chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"x"'}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
              chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
              chunk({}, "tool_calls"),
              {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}}):
        events += t.chunk(c)
    events += t.end()
    names = [n for n, _ in events]
    assert names == ["message_start", "ping",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    assert all(d["type"] == n for n, d in events)
    starts = [d for n, d in events if n == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert starts[1]["content_block"] == {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
    partial = "".join(d["delta"]["partial_json"] for n, d in events
                      if n == "content_block_delta" and d["index"] == 1)
    assert json.loads(partial) == {"x": 1}
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta" and d["index"] == 0)
    assert text == "Hello"
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"] == {"input_tokens": 5, "output_tokens": 9}
