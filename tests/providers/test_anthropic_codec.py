"""The native Anthropic upstream's codec on its own: the chat form into a Messages request, and Anthropic's
answer and stream events back, keeping text, tool calls and usage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.errors import InvalidRequest
from interlock.providers.anthropic_codec import ChunkTranslator, chat_completion, messages_request


def test_roles_alternate_and_tool_results_join_the_next_user_turn() -> None:
    out = messages_request({"model": "m", "parallel_tool_calls": False, "tool_choice": "auto", "messages": [
        {"role": "system", "content": "S1"}, {"role": "developer", "content": [{"type": "text", "text": "S2"}]},
        {"role": "user", "content": [{"type": "text", "text": "hi"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {"role": "user", "content": "next"}], "mock": {"reply": "x"}})
    assert out["system"] == [{"type": "text", "text": "S1"}, {"type": "text", "text": "S2"}]
    assert [t["role"] for t in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][0]["content"][1] == {"type": "image", "source": {"type": "base64",
                                                                           "media_type": "image/png", "data": "AAAA"}}
    assert out["messages"][1]["content"] == [{"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
                                             {"type": "tool_use", "id": "c2", "name": "g", "input": {}}]
    assert [b["type"] for b in out["messages"][2]["content"]] == ["tool_result", "tool_result", "text"]
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert out["max_tokens"] == 4096
    # A field the deployment passes through goes as it is.
    assert out["mock"] == {"reply": "x"}


@pytest.mark.parametrize("extra", [{"n": 2}, {"logprobs": True}, {"response_format": {"type": "json_object"}},
                                   {"functions": [{"name": "f"}]}])
def test_what_the_messages_api_cannot_express_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        messages_request({"model": "m", "messages": [{"role": "user", "content": "x"}], **extra})


def test_answer_keeps_text_tool_calls_and_usage() -> None:
    doc = chat_completion({"type": "message", "id": "msg_1", "model": "m", "stop_reason": "tool_use", "content": [
        {"type": "text", "text": "Checking."}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": [1]}}],
        "usage": {"input_tokens": 11, "output_tokens": 4}})
    (choice,) = doc["choices"]
    assert choice["message"]["content"] == "Checking."
    assert choice["message"]["tool_calls"][0]["id"] == "t1"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"x": [1]}
    assert choice["finish_reason"] == "tool_calls"
    assert doc["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


def test_stream_events_become_chat_chunks() -> None:
    t = ChunkTranslator()
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 9}}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "f",
                                                                      "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a"'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ": 2}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}},
        {"type": "message_stop"}]
    chunks = [c for e in events for c in t.event(e)]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "Hi"
    fragments = [tc for d in deltas for tc in d.get("tool_calls") or ()]
    assert fragments[0]["id"] == "t1"
    assert {f["index"] for f in fragments} == {0}
    assert json.loads("".join(f["function"]["arguments"] for f in fragments)) == {"a": 2}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
