"""What the mock LLM answers: scripted scenarios, the prompt as the model saw it, and the answer
written in the OpenAI or Anthropic wire format.

A scenario comes from, in priority order, the ``x-mock`` request header (a JSON object), the request
body's top-level ``"mock"`` object, or a ``#mock {json}`` line in the last user message. The first one
present wins; none present means "echo the last user message". This module knows nothing of HTTP:
it turns a request body into response bodies and server-sent events.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

_encode = msgspec.json.encode

DIRECTIVE = "#mock"

# A word with the whitespace around it, so that the pieces concatenate back to the exact text.
_WORD = re.compile(r"\s*\S+\s*")
# A word with the whitespace before it (" word"), as model tokenizers stream text; trailing whitespace last.
_LEADING_WORD = re.compile(r"\s*\S+|\s+$")
# Tool-call arguments are compact JSON with few spaces; pieces of this size still split them up.
_ARGUMENT_PIECE = 8

_Seconds = Annotated[float, msgspec.Meta(ge=0)]
_Count = Annotated[int, msgspec.Meta(ge=0)]


class MockScenarioError(ValueError):
    """A scenario the mock cannot run: the caller gets a 400 naming what is wrong."""


class ToolCallSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    arguments: dict[str, Any] | str = {}
    id: str | None = None


class UsageSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Both vocabularies are accepted so one scenario reads naturally against either endpoint.
    prompt_tokens: _Count | None = None
    completion_tokens: _Count | None = None
    input_tokens: _Count | None = None
    output_tokens: _Count | None = None


class Scenario(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One scripted behaviour; unknown keys are refused so a typo never silently means "echo"."""

    reply: str | None = None
    echo: bool | Literal["all"] | None = None
    tool_calls: list[ToolCallSpec] = []
    # OpenAI format only: ask for the first tool call in the older ``function_call`` form.
    legacy_function_call: bool = False
    chunks: Annotated[int, msgspec.Meta(ge=1)] | None = None
    status: Annotated[int, msgspec.Meta(ge=400, le=599)] | None = None
    message: str | None = None
    malformed: bool = False
    hang: _Seconds = 0.0
    latency_ms: _Seconds = 0.0
    chunk_delay_ms: _Seconds = 0.0
    # Word pieces carry the space before the word (" word") instead of after it ("word ").
    leading_space: bool = False
    usage: UsageSpec | None = None

    @property
    def delay_before_answer(self) -> float:
        return self.hang + self.latency_ms / 1000.0


DEFAULT_SCENARIO = Scenario()


@dataclass(frozen=True, slots=True)
class Prompt:
    """The text of a request as the model would see it, with any ``#mock`` line taken out."""

    last_user: str
    everything: str
    directive: str | None


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Answer:
    text: str | None
    tool_calls: tuple[ToolCall, ...]
    prompt_tokens: int
    completion_tokens: int
    legacy: bool = False  # the first tool call in the older ``function_call`` form


def choose_scenario(header: str | None, body_mock: object, directive: str | None) -> Scenario:
    try:
        if header is not None:
            return msgspec.json.decode(header, type=Scenario)
        if body_mock is not None:
            return msgspec.convert(body_mock, Scenario)
        if directive is not None:
            return msgspec.json.decode(directive, type=Scenario)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        source = "x-mock header" if header is not None else (
            "body 'mock' object" if body_mock is not None else f"'{DIRECTIVE}' line")
        raise MockScenarioError(
            f"Invalid mock scenario in the {source}: {exc}. "
            "Send a JSON object with keys such as reply, echo, tool_calls, status."
        ) from exc
    return DEFAULT_SCENARIO


def answer(scenario: Scenario, prompt: Prompt, *, id_prefix: str) -> Answer:
    tool_calls = tuple(
        ToolCall(
            id=spec.id or f"{id_prefix}{secrets.token_hex(12)}",
            name=spec.name,
            arguments=spec.arguments if isinstance(spec.arguments, str)
            else _encode(spec.arguments).decode(),
        )
        for spec in scenario.tool_calls
    )
    text: str | None
    if scenario.reply is not None:
        text = scenario.reply
    elif tool_calls and scenario.echo is None:
        text = None
    elif scenario.echo == "all":
        text = prompt.everything
    elif scenario.echo is False:
        text = ""
    else:
        text = prompt.last_user
    completion = _words(text or "") + sum(_words(call.arguments) for call in tool_calls)
    prompt_tokens = _words(prompt.everything)
    if scenario.usage is not None:
        usage = scenario.usage
        prompt_tokens = _first(usage.prompt_tokens, usage.input_tokens, prompt_tokens)
        completion = _first(usage.completion_tokens, usage.output_tokens, completion)
    return Answer(text=text, tool_calls=tool_calls, prompt_tokens=prompt_tokens, completion_tokens=completion,
                  legacy=scenario.legacy_function_call)


def openai_completion(result: Answer, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.text, "refusal": None}
    finish = "tool_calls" if result.tool_calls else "stop"
    if result.tool_calls and result.legacy:
        call = result.tool_calls[0]
        message["function_call"] = {"name": call.name, "arguments": call.arguments}
        finish = "function_call"
    elif result.tool_calls:
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in result.tool_calls
        ]
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _openai_usage(result),
    }


def openai_events(result: Answer, model: str, scenario: Scenario, include_usage: bool) -> Iterator[bytes]:
    head = {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + _encode({**head, "choices": [choice]}) + b"\n\n"

    first_content = "" if result.text is not None else None
    yield chunk({"role": "assistant", "content": first_content, "refusal": None})
    for piece in split_text(result.text or "", scenario.chunks, leading=scenario.leading_space):
        yield chunk({"content": piece})
    if result.tool_calls and result.legacy:
        call = result.tool_calls[0]
        yield chunk({"function_call": {"name": call.name, "arguments": ""}})
        for piece in split_arguments(call.arguments, scenario.chunks):
            yield chunk({"function_call": {"arguments": piece}})
        yield chunk({}, "function_call")
    else:
        for index, call in enumerate(result.tool_calls):
            yield chunk({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                         "function": {"name": call.name, "arguments": ""}}]})
            for piece in split_arguments(call.arguments, scenario.chunks):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls" if result.tool_calls else "stop")
    if include_usage:
        yield b"data: " + _encode({**head, "choices": [], "usage": _openai_usage(result)}) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _openai_usage(result: Answer) -> dict[str, int]:
    return {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens}


def anthropic_message(result: Answer, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if result.text is not None:
        content.append({"type": "text", "text": result.text})
    for call in result.tool_calls:
        content.append({"type": "tool_use", "id": call.id, "name": call.name,
                        "input": _tool_input(call.arguments)})
    return {
        "id": f"msg_{secrets.token_hex(12)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if result.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": result.prompt_tokens, "output_tokens": result.completion_tokens},
    }


def anthropic_events(result: Answer, message: dict[str, Any], scenario: Scenario) -> Iterator[bytes]:
    def event(kind: str, data: dict[str, Any]) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + _encode({"type": kind, **data}) + b"\n\n"

    start = {**message, "content": [], "stop_reason": None,
             "usage": {"input_tokens": result.prompt_tokens, "output_tokens": 0}}
    yield event("message_start", {"message": start})
    index = 0
    if result.text is not None:
        yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for piece in split_text(result.text, scenario.chunks, leading=scenario.leading_space):
            yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
        yield event("content_block_stop", {"index": 0})
        index = 1
    for offset, call in enumerate(result.tool_calls, start=index):
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        yield event("content_block_start", {"index": offset, "content_block": block})
        for piece in split_arguments(call.arguments, scenario.chunks):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield event("content_block_delta", {"index": offset, "delta": delta})
        yield event("content_block_stop", {"index": offset})
    yield event("message_delta", {"delta": {"stop_reason": "tool_use" if result.tool_calls else "end_turn",
                                            "stop_sequence": None},
                                  "usage": {"output_tokens": result.completion_tokens}})
    yield event("message_stop", {})


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(arguments) if arguments else {}
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise MockScenarioError("A tool_use input must be a JSON object; give tool_calls[].arguments as one.")
    return value


def split_text(text: str, chunks: int | None, *, leading: bool = False) -> list[str]:
    """Pieces that concatenate to ``text``: one per word (with the space after it, or with ``leading``
    the space before it), or ``chunks`` nearly equal pieces."""
    if not text:
        return []
    if chunks is None:
        return (_LEADING_WORD if leading else _WORD).findall(text) or [text]
    count = min(chunks, len(text))
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def split_arguments(arguments: str, chunks: int | None) -> list[str]:
    if chunks is None:
        chunks = max(1, -(-len(arguments) // _ARGUMENT_PIECE))
    return split_text(arguments, chunks) or [""]


def openai_prompt(body: dict[str, Any]) -> Prompt:
    texts: list[str] = []
    last_user = -1
    for message in _list(body.get("messages")):
        if not isinstance(message, dict):
            continue
        parts = [_content_text(message.get("content"))]
        for call in _list(message.get("tool_calls")):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                parts.append(function["arguments"])
        if message.get("role") == "user":
            last_user = len(texts)
        texts.append("\n".join(part for part in parts if part))
    return _prompt(texts, last_user)


def anthropic_prompt(body: dict[str, Any]) -> Prompt:
    texts: list[str] = []
    system = _content_text(body.get("system"))
    if system:
        texts.append(system)
    last_user = -1
    user_words = ""
    for message in _list(body.get("messages")):
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            last_user = len(texts)
            # Echo answers with the user's words only, not the tool results the same turn carries.
            user_words = _content_text(message.get("content"))
        texts.append(_content_text(message.get("content"), with_tools=True))
    return _prompt(texts, last_user, user_words)


def _prompt(texts: list[str], last_user: int, user_words: str | None = None) -> Prompt:
    if last_user < 0:
        return Prompt(last_user="", everything="\n".join(text for text in texts if text), directive=None)
    texts[last_user], directive = _strip_directive(texts[last_user])
    if user_words is None:
        user_words = texts[last_user]
    else:
        user_words, _ = _strip_directive(user_words)
    return Prompt(last_user=user_words, everything="\n".join(text for text in texts if text),
                  directive=directive)


def _strip_directive(text: str) -> tuple[str, str | None]:
    if DIRECTIVE not in text:
        return text, None
    directive: str | None = None
    kept: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if directive is None and stripped.startswith(DIRECTIVE):
            directive = stripped[len(DIRECTIVE):].strip()
        else:
            kept.append(line)
    return "\n".join(kept), directive


def _content_text(content: object, *, with_tools: bool = False) -> str:
    """Text of a message's content: a string, or the text parts of a list of parts/blocks."""
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for part in _list(content):
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif with_tools and kind == "tool_use":
            pieces.append(_encode(part.get("input", {})).decode())
        elif with_tools and kind == "tool_result":
            pieces.append(_content_text(part.get("content")))
    return "\n".join(piece for piece in pieces if piece)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _words(text: str) -> int:
    return len(text.split())


def _first(*values: int | None) -> int:
    for value in values:
        if value is not None:
            return value
    return 0
