"""The internal answer (the OpenAI chat shape, after every stage) in Anthropic's Messages shapes.

A whole answer becomes one ``message``; a stream of chat chunks becomes Anthropic's events. OpenAI
does not say which stop sequence ended an answer, so ``stop_sequence`` is always null, and a stream
learns its input tokens only at the end: ``message_start`` reports 0 and ``message_delta`` the count.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}

Event = tuple[str, dict[str, Any]]


def message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as Anthropic's ``input`` object. The tools stage let through only calls
    whose arguments are an object; anything else is shown as an empty one rather than invented."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = _decode(arguments) if isinstance(arguments, str | bytes) else None
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def message(response: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat completion as an Anthropic ``message`` (its first choice: Anthropic has one)."""
    choices = response.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    msg = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    assert isinstance(msg, dict)
    content: list[dict[str, Any]] = []
    text = _text_of(msg.get("content")) or (msg.get("refusal") if isinstance(msg.get("refusal"), str) else "")
    if text:
        content.append({"type": "text", "text": text})
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") if isinstance(tc, dict) else None
        if isinstance(fn, dict):
            content.append({"type": "tool_use", "id": str(tc.get("id") or f"toolu_{secrets.token_hex(12)}"),
                            "name": str(fn.get("name") or ""), "input": tool_input(fn.get("arguments"))})
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    out: dict[str, Any] = {
        "id": message_id(), "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": STOP_REASONS.get(str(choice.get("finish_reason") or "stop"), "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": int(usage.get("prompt_tokens") or 0),
                  "output_tokens": int(usage.get("completion_tokens") or 0)},
    }
    if "interlock" in response:
        out["interlock"] = response["interlock"]
    return out


class StreamTranslator:
    """Chat chunks in, Anthropic events out: ``start`` first, ``chunk`` per chunk, ``end`` last."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._index = -1
        self._open: str | None = None  # "text", or "tool:<chat index>" for the open tool_use block
        self._stop_reason = "end_turn"
        self._usage = {"input_tokens": 0, "output_tokens": 0}
        self._interlock: list[dict[str, Any]] = []
        self._citations: list[dict[str, Any]] = []

    def start(self) -> Iterator[Event]:
        yield "message_start", {"type": "message_start", "message": {
            "id": message_id(), "type": "message", "role": "assistant", "model": self._model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}}
        yield "ping", {"type": "ping"}

    def chunk(self, chunk: dict[str, Any]) -> Iterator[Event]:
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = {"input_tokens": int(usage.get("prompt_tokens") or 0),
                           "output_tokens": int(usage.get("completion_tokens") or 0)}
        extra = chunk.get("interlock")
        if isinstance(extra, dict) and isinstance(extra.get("tool_calls"), list):
            self._interlock += extra["tool_calls"]
        if isinstance(extra, dict) and isinstance(extra.get("citations"), list):
            self._citations = extra["citations"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or int(choice.get("index") or 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            assert isinstance(delta, dict)
            text = delta.get("content")
            if isinstance(text, str) and text:
                yield from self._open_block("text", {"type": "text", "text": ""})
                yield "content_block_delta", {"type": "content_block_delta", "index": self._index,
                                              "delta": {"type": "text_delta", "text": text}}
            for tc in delta.get("tool_calls") or ():
                if isinstance(tc, dict):
                    yield from self._tool_fragment(tc)
            if choice.get("finish_reason"):
                self._stop_reason = STOP_REASONS.get(str(choice["finish_reason"]), "end_turn")
                yield from self._close()

    def _tool_fragment(self, tc: dict[str, Any]) -> Iterator[Event]:
        fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
        assert isinstance(fn, dict)
        key = f"tool:{tc.get('index', 0)}"
        if self._open != key:
            yield from self._open_block(key, {"type": "tool_use",
                                              "id": str(tc.get("id") or f"toolu_{secrets.token_hex(12)}"),
                                              "name": str(fn.get("name") or ""), "input": {}})
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            yield "content_block_delta", {"type": "content_block_delta", "index": self._index,
                                          "delta": {"type": "input_json_delta", "partial_json": arguments}}

    def _open_block(self, kind: str, block: dict[str, Any]) -> Iterator[Event]:
        if self._open == kind:
            return
        yield from self._close()
        self._index += 1
        self._open = kind
        yield "content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}

    def _close(self) -> Iterator[Event]:
        if self._open is not None:
            self._open = None
            yield "content_block_stop", {"type": "content_block_stop", "index": self._index}

    def end(self) -> Iterator[Event]:
        yield from self._close()
        delta: dict[str, Any] = {"type": "message_delta",
                                 "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
                                 "usage": dict(self._usage)}
        if self._interlock or self._citations:
            delta["interlock"] = {**({"tool_calls": self._interlock} if self._interlock else {}),
                                  **({"citations": self._citations} if self._citations else {})}
        yield "message_delta", delta
        yield "message_stop", {"type": "message_stop"}
