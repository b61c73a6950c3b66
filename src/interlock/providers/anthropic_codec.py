"""The chat form (what the stages hand to an upstream) as an Anthropic Messages request, and Anthropic's
answers and stream events back in the chat form, so a native Anthropic upstream sits behind the same
stages as an OpenAI-compatible one.

What the Messages API cannot express is refused (several choices, log probabilities, a response format,
audio, the older ``functions`` form, logit bias) rather than silently dropped; what only tunes the answer
is dropped (penalties, seed, service tier, reasoning effort, cache keys). docs/configuration.md lists both.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from interlock.errors import InvalidRequest

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

# Anthropic requires max_tokens; a chat request may leave it out.
DEFAULT_MAX_TOKENS = 4096
_DROPPED = frozenset({"stream_options", "presence_penalty", "frequency_penalty", "seed", "store", "service_tier",
                      "reasoning_effort", "verbosity", "safety_identifier", "prompt_cache_key", "metadata",
                      "parallel_tool_calls", "max_completion_tokens", "web_search_options"})
_REFUSED = frozenset({"logprobs", "top_logprobs", "logit_bias", "response_format", "prediction", "audio",
                      "modalities", "functions", "function_call"})
_TRANSLATED = frozenset({"model", "messages", "max_tokens", "stream", "tools", "tool_choice", "temperature",
                         "top_p", "stop", "user", "n"})
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                "refusal": "content_filter", "pause_turn": "stop"}


def _refuse(what: str) -> InvalidRequest:
    return InvalidRequest(f"{what} cannot be sent to this model, which speaks the Anthropic Messages API.")


def messages_request(body: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic request asking what the chat request ``body`` asks."""
    for name in body:
        if name in _REFUSED and body[name] not in (None, False):
            raise _refuse(f"The field {name}")
    if body.get("n") not in (None, 1):
        raise _refuse("More than one choice (n)")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in body["messages"]:
        role = message.get("role")
        if role in ("system", "developer"):
            system += _blocks(message.get("content"))
        elif role == "user":
            _add(turns, "user", _blocks(message.get("content")))
        elif role == "assistant":
            _add(turns, "assistant", _assistant(message))
        elif role == "tool":
            _add(turns, "user", [{"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                                  "content": _blocks(message.get("content")) or ""}])
        else:
            raise _refuse(f"A {role} message")
    out: dict[str, Any] = {"model": body["model"], "messages": turns,
                           "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens")
                           or DEFAULT_MAX_TOKENS}
    if system:
        out["system"] = system
    if body.get("stream"):
        out["stream"] = True
    if body.get("tools"):
        out["tools"] = [{"name": t["function"]["name"], "description": t["function"].get("description") or "",
                         "input_schema": t["function"].get("parameters") or {"type": "object"}}
                        for t in body["tools"]]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None:
        out["tool_choice"] = choice
    if body.get("temperature") is not None:
        # Anthropic's range is 0-1; OpenAI's 0-2. Above 1 is as random as Anthropic goes.
        out["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user"):
        out["metadata"] = {"user_id": body["user"]}
    # Fields the deployment passes through unread (pass_through_fields) go as they are.
    out.update({k: v for k, v in body.items() if k not in _TRANSLATED and k not in _DROPPED and k not in _REFUSED})
    return out


def _add(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Anthropic alternates roles: consecutive turns of one role (tool results, then text) become one."""
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"] += blocks
    else:
        turns.append({"role": role, "content": blocks})


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            out.append({"type": "text", "text": part["text"]})
        elif kind == "refusal":
            out.append({"type": "text", "text": part["refusal"]})
        elif kind == "image_url":
            out.append({"type": "image", "source": _source(part["image_url"]["url"])})
        elif kind == "file" and isinstance(part["file"].get("file_data"), str):
            block: dict[str, Any] = {"type": "document", "source": _source(part["file"]["file_data"])}
            if part["file"].get("filename"):
                block["title"] = part["file"]["filename"]
            out.append(block)
        else:
            raise _refuse(f"A {kind} content part" + (" given by file id" if kind == "file" else ""))
    return out


def _source(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[5:].split(";base64,", 1)
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _assistant(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _blocks(message.get("content"))
    if message.get("refusal"):
        blocks.append({"type": "text", "text": message["refusal"]})
    for call in message.get("tool_calls") or ():
        fn = call["function"]
        blocks.append({"type": "tool_use", "id": call["id"], "name": fn["name"], "input": _arguments(fn["arguments"])})
    return blocks


def _arguments(arguments: str) -> dict[str, Any]:
    try:
        value = _decode(arguments) if arguments else {}
    except msgspec.DecodeError:
        raise _refuse("A tool call whose arguments are not a JSON object") from None
    if not isinstance(value, dict):
        raise _refuse("A tool call whose arguments are not a JSON object")
    return value


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    out: dict[str, Any]
    if isinstance(choice, dict):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        out = {"type": {"required": "any", "none": "none"}.get(str(choice), "auto")}
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


# -- answers --------------------------------------------------------------------------------------------


def chat_completion(doc: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic ``message`` as a chat completion (one choice)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in doc.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id") or f"call_{secrets.token_hex(12)}", "type": "function",
                          "function": {"name": block.get("name") or "",
                                       "arguments": _encode(block.get("input") or {}).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    usage = doc.get("usage") or {}
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {"id": doc.get("id") or f"msg_{secrets.token_hex(12)}", "object": "chat.completion", "created": 0,
            "model": doc.get("model") or "",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": STOP_REASONS.get(str(doc.get("stop_reason")), "stop")}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


class ChunkTranslator:
    """Anthropic stream events in, chat chunks out (one stream each)."""

    def __init__(self) -> None:
        self._id = f"msg_{secrets.token_hex(12)}"
        self._model = ""
        self._prompt_tokens = 0
        self._tools = -1
        self._tool_of_block: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self._id, "object": "chat.completion.chunk", "created": 0, "model": self._model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._id = message.get("id") or self._id
            self._model = message.get("model") or ""
            self._prompt_tokens = int((message.get("usage") or {}).get("input_tokens") or 0)
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._tools += 1
                self._tool_of_block[int(event.get("index") or 0)] = self._tools
                return [self._chunk({"tool_calls": [{"index": self._tools, "id": block.get("id") or "",
                                                     "type": "function",
                                                     "function": {"name": block.get("name") or "", "arguments": ""}}]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text") or ""})]
            if delta.get("type") == "input_json_delta":
                tool = self._tool_of_block.get(int(event.get("index") or 0), 0)
                return [self._chunk({"tool_calls": [{"index": tool,
                                                     "function": {"arguments": delta.get("partial_json") or ""}}]})]
            return []
        if kind == "message_delta":
            reason = STOP_REASONS.get(str((event.get("delta") or {}).get("stop_reason")), "stop")
            usage = event.get("usage") or {}
            prompt = int(usage.get("input_tokens") or self._prompt_tokens)
            completion = int(usage.get("output_tokens") or 0)
            return [self._chunk({}, reason),
                    {"id": self._id, "object": "chat.completion.chunk", "created": 0, "model": self._model,
                     "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                              "total_tokens": prompt + completion}}]
        return []  # ping, content_block_stop, message_stop
