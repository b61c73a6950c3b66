"""The Responses codec on its own: a request into the chat form, a chat answer (whole or in chunks) back."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.api.responses_codec import StreamEvents, from_chat, parse_request, response_shell, to_chat
from interlock.errors import InvalidRequest


def chat_of(doc: dict[str, Any], passed: frozenset[str] = frozenset()) -> dict[str, Any]:
    return to_chat(parse_request(doc, passed), doc, passed)


def test_items_become_messages_and_consecutive_calls_one_assistant_message() -> None:
    body = chat_of({"model": "m", "instructions": "sys", "max_output_tokens": 50, "temperature": 0.2,
                    "tool_choice": {"type": "function", "name": "f"}, "mock": {"reply": "x"}, "input": [
                        {"role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
                        {"role": "assistant", "content": [{"type": "output_text", "text": "a"},
                                                          {"type": "output_text", "text": "b", "annotations": []}]},
                        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"x\":1}"},
                        {"type": "function_call_output", "call_id": "c1", "output": "one"},
                        {"type": "function_call_output", "call_id": "c2", "output": "two"}]},
                   passed=frozenset({"mock"}))
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
        {"role": "assistant", "content": "ab"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{\"x\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]
    assert body["max_tokens"] == 50
    assert body["temperature"] == 0.2
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    # A field the deployment passes through goes on as it came.
    assert body["mock"] == {"reply": "x"}
    assert "stream" not in body


@pytest.mark.parametrize(("doc", "param"), [
    ({"model": "m", "input": "x", "store": True}, "store"),
    ({"model": "m", "input": "x", "mock": {}}, "mock"),
    ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "o", "extra": 1}]},
     "input[0].extra"),
])
def test_refusals_name_the_field(doc: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        chat_of(doc)
    assert refused.value.param == param


def test_a_completion_stopped_at_the_limit_is_incomplete() -> None:
    req = parse_request({"model": "m", "input": "x"}, frozenset())
    doc = from_chat(response_shell(req, "resp_1", "m"), {"choices": [
        {"message": {"role": "assistant", "content": "partial"}, "finish_reason": "length"}]}, 3, 2)
    assert doc["status"] == "incomplete"
    assert doc["incomplete_details"] == {"reason": "max_output_tokens"}
    assert doc["usage"]["total_tokens"] == 5
    assert doc["output"][0]["content"][0]["text"] == "partial"


def test_chunks_become_numbered_events_with_items_closed_at_the_end() -> None:
    req = parse_request({"model": "m", "input": "x", "stream": True}, frozenset())
    events = StreamEvents(response_shell(req, "resp_1", "m"))
    out = list(events.start())
    out += events.chunk({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]})
    out += events.chunk({"choices": [{"index": 0, "delta": {"content": "lo"}}]})
    out += events.chunk({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]}}]})
    out += events.chunk({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": ":1}"}}]}, "finish_reason": "tool_calls"}]})
    out += events.finish(4, 6)
    kinds = [kind for kind, _ in out]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
                     "response.output_item.added", "response.function_call_arguments.delta",
                     "response.function_call_arguments.delta", "response.output_text.done",
                     "response.content_part.done", "response.output_item.done",
                     "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert [data["sequence_number"] for _, data in out] == list(range(len(out)))
    final = out[-1][1]["response"]
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["output"][1]["arguments"] == "{\"a\":1}"
    assert final["output"][1]["call_id"] == "c1"
