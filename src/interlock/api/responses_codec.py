"""The OpenAI Responses API, stateless, in the chat pipeline's form and back.

A Responses request becomes a chat-completions body the stages already handle (detection, tool
interception, records): ``instructions`` a system message, ``input`` messages, ``function_call`` items
an assistant message's tool calls, ``function_call_output`` items tool messages, function tools chat
tools. The chat answer, whole or chunk by chunk, becomes a Response object or its events.

The request schema is closed: a field, item type, content part or tool type the gateway does not
translate is refused by name, never dropped. The gateway keeps no responses, so ``store: true`` and
``previous_response_id`` are refused; the caller sends the whole conversation each time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec

from interlock.errors import InvalidRequest
from interlock.pipeline.parse import invalid
from interlock.pipeline.schema import InterlockOptions

_Tokens = Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
STATELESS = ("This gateway keeps no responses (stateless mode): send the whole conversation in 'input' "
             "(earlier function_call and function_call_output items included)")


class _Closed(msgspec.Struct, forbid_unknown_fields=True):
    pass


class MessageItem(_Closed):
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[dict[str, Any]]
    type: Literal["message"] = "message"
    id: str | None = None
    status: str | None = None


class FunctionCallItem(_Closed):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(_Closed):
    type: Literal["function_call_output"]
    call_id: str
    output: str
    id: str | None = None
    status: str | None = None


class FunctionTool(_Closed):
    type: Literal["function"]
    name: str
    parameters: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponsesRequest(_Closed):
    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    store: bool | None = None
    previous_response_id: str | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    max_output_tokens: _Tokens | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    # The gateway's own extension field (governed retrieval), as on the chat endpoint.
    interlock: InterlockOptions | None = None


_ITEMS: dict[str, type[_Closed]] = {"message": MessageItem, "function_call": FunctionCallItem,
                                    "function_call_output": FunctionCallOutputItem}
_TEXT_PARTS = {"input_text": "text", "output_text": "text", "refusal": "refusal"}


def _convert(doc: Any, kind: type[Any], where: str) -> Any:
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as exc:
        refusal = invalid(str(exc), "Responses request")
        raise InvalidRequest(f"{where}: {refusal.message}",
                             param=f"{where}.{refusal.param}" if refusal.param else where) from None


def parse_request(doc: dict[str, Any], passed: frozenset[str]) -> ResponsesRequest:
    """The request, checked; ``passed``: top-level fields the deployment forwards unread for this model."""
    checked = {k: v for k, v in doc.items() if k not in passed}
    try:
        req = msgspec.convert(checked, ResponsesRequest)
    except msgspec.ValidationError as exc:
        raise invalid(str(exc), "Responses request") from None
    if req.store:
        raise InvalidRequest(f"{STATELESS}; send store: false or leave it out.", param="store")
    if req.previous_response_id is not None:
        raise InvalidRequest(f"{STATELESS}, not previous_response_id.", param="previous_response_id")
    if not req.input:
        raise InvalidRequest("'input' must be a non-empty string or a non-empty list of items.", param="input")
    return req


def _text_of(parts: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Content parts as chat text parts; a part the gateway does not translate is refused by name."""
    out = []
    for index, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        key = _TEXT_PARTS.get(kind) if isinstance(kind, str) else None
        extra = set(part) - {"type", key, "annotations", "logprobs"} if key else set()
        if key is None or not isinstance(part.get(key), str) or extra or part.get("annotations"):
            raise InvalidRequest(f"{where}.content[{index}]: only input_text, output_text (without annotations) "
                                 f"and refusal parts are translated here; got {kind!r}.",
                                 param=f"{where}.content[{index}]")
        out.append({"type": "text", "text": part[key]})
    return out


def to_chat(req: ResponsesRequest, doc: dict[str, Any], passed: frozenset[str]) -> dict[str, Any]:
    """The chat-completions body the pipeline runs for this request."""
    messages: list[dict[str, Any]] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    items = [{"type": "message", "role": "user", "content": req.input}] if isinstance(req.input, str) else req.input
    for index, raw in enumerate(items):
        where = f"input[{index}]"
        kind = raw.get("type", "message") if isinstance(raw, dict) else None
        struct = _ITEMS.get(kind) if isinstance(kind, str) else None
        if struct is None:
            raise InvalidRequest(f"{where}: item type {kind!r} is not translated here; use message, function_call "
                                 f"or function_call_output items.", param=f"{where}.type")
        item = _convert(raw, struct, where)
        if isinstance(item, FunctionCallItem):
            wire = {"id": item.call_id, "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(wire)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [wire]})
        elif isinstance(item, FunctionCallOutputItem):
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
        else:
            assert isinstance(item, MessageItem)
            content: Any = item.content if isinstance(item.content, str) else _text_of(item.content, where)
            if item.role == "assistant" and isinstance(content, list):
                content = "".join(part["text"] for part in content)
            messages.append({"role": item.role, "content": content})
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.tools:
        tools = [_convert(t, FunctionTool, f"tools[{i}]") for i, t in enumerate(req.tools)]
        body["tools"] = [{"type": "function", "function": {k: v for k, v in (
            ("name", t.name), ("description", t.description), ("parameters", t.parameters),
            ("strict", t.strict)) if v is not None}} for t in tools]
    if isinstance(req.tool_choice, str):
        body["tool_choice"] = req.tool_choice
    elif req.tool_choice is not None:
        choice = req.tool_choice
        if choice.get("type") != "function" or set(choice) != {"type", "name"} or not isinstance(choice["name"], str):
            raise InvalidRequest("tool_choice: only auto, none, required or {\"type\": \"function\", \"name\": ...} "
                                 "are translated here.", param="tool_choice")
        body["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    for source, target in (("parallel_tool_calls", "parallel_tool_calls"), ("temperature", "temperature"),
                           ("top_p", "top_p"), ("max_output_tokens", "max_tokens"), ("user", "user"),
                           ("metadata", "metadata")):
        value = getattr(req, source)
        if value is not None:
            body[target] = value
    if req.stream:
        body["stream"] = True
    if req.interlock is not None:
        body["interlock"] = msgspec.to_builtins(req.interlock)
    body.update((k, doc[k]) for k in passed if k in doc)
    return body


# ---- back: a chat completion (or its chunks) as a Response (or its events)


def new_response_id() -> str:
    return f"resp_{secrets.token_hex(24)}"


def _item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def response_shell(req: ResponsesRequest, response_id: str, model: str) -> dict[str, Any]:
    """The fields of a Response that echo the request, with no output yet (status ``in_progress``)."""
    return {"id": response_id, "object": "response", "created_at": int(time.time()), "status": "in_progress",
            "background": False, "error": None, "incomplete_details": None, "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens, "model": model, "output": [],
            "parallel_tool_calls": req.parallel_tool_calls if req.parallel_tool_calls is not None else True,
            "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "store": False,
            "temperature": req.temperature if req.temperature is not None else 1.0,
            "text": {"format": {"type": "text"}}, "tool_choice": req.tool_choice or "auto",
            "tools": req.tools or [], "top_p": req.top_p if req.top_p is not None else 1.0,
            "truncation": "disabled", "usage": None, "user": req.user, "metadata": req.metadata or {}}


def usage_of(prompt: int, completion: int) -> dict[str, Any]:
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": prompt + completion}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def function_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def _finish(shell: dict[str, Any], finish_reason: str, usage: dict[str, Any]) -> None:
    incomplete = finish_reason == "length"
    shell["status"] = "incomplete" if incomplete else "completed"
    shell["incomplete_details"] = {"reason": "max_output_tokens"} if incomplete else None
    shell["usage"] = usage


def from_chat(shell: dict[str, Any], completion: dict[str, Any], prompt: int, completion_tokens: int) -> dict[str, Any]:
    """The Response for a whole chat completion (its first choice)."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        output.append(message_item(_item_id("msg"), message["content"]))
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        output.append(function_item(_item_id("fc"), call.get("id", ""), fn.get("name", ""), fn.get("arguments", "")))
    shell["output"] = output
    _finish(shell, str(choice.get("finish_reason") or ""), usage_of(prompt, completion_tokens))
    if "interlock" in completion:
        shell["interlock"] = completion["interlock"]
    return shell


class StreamEvents:
    """Chat chunks in, Responses events out (each ``(type, data)``), numbered in order."""

    def __init__(self, shell: dict[str, Any]) -> None:
        self._shell = shell
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._text: dict[str, Any] | None = None  # the open message item
        self._calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> function_call item
        self._finish_reason = ""

    def _event(self, kind: str, **data: Any) -> tuple[str, dict[str, Any]]:
        event = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return kind, event

    def start(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield self._event("response.created", response=dict(self._shell))
        yield self._event("response.in_progress", response=dict(self._shell))

    def chunk(self, chunk: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0):
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                yield from self._text_delta(text)
            for call in delta.get("tool_calls") or ():
                yield from self._call_delta(call)
            if choice.get("finish_reason"):
                self._finish_reason = str(choice["finish_reason"])
        if "interlock" in chunk:
            # Citations (first chunk) and tool-call verdicts (later ones) both end up in the response.
            self._shell["interlock"] = {**(self._shell.get("interlock") or {}), **chunk["interlock"]}

    def _text_delta(self, text: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if self._text is None:
            self._text = message_item(_item_id("msg"), "", "in_progress")
            self._output.append(self._text)
            index = len(self._output) - 1
            yield self._event("response.output_item.added", output_index=index,
                              item={**self._text, "content": []})
            yield self._event("response.content_part.added", item_id=self._text["id"], output_index=index,
                              content_index=0, part={"type": "output_text", "text": "", "annotations": []})
        self._text["content"][0]["text"] += text
        yield self._event("response.output_text.delta", item_id=self._text["id"],
                          output_index=self._output.index(self._text), content_index=0, delta=text, logprobs=[])

    def _call_delta(self, call: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        position = int(call.get("index") or 0)
        fn = call.get("function") or {}
        item = self._calls.get(position)
        if item is None:
            item = self._calls[position] = function_item(_item_id("fc"), call.get("id") or "", fn.get("name") or "",
                                                         "", "in_progress")
            self._output.append(item)
            yield self._event("response.output_item.added", output_index=len(self._output) - 1, item=dict(item))
        piece = fn.get("arguments")
        if isinstance(piece, str) and piece:
            item["arguments"] += piece
            yield self._event("response.function_call_arguments.delta", item_id=item["id"],
                              output_index=self._output.index(item), delta=piece)

    def finish(self, prompt: int, completion: int) -> Iterator[tuple[str, dict[str, Any]]]:
        for index, item in enumerate(self._output):
            item["status"] = "completed"
            if item["type"] == "message":
                part = item["content"][0]
                yield self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                  content_index=0, text=part["text"], logprobs=[])
                yield self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                  content_index=0, part=part)
            else:
                yield self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                  arguments=item["arguments"])
            yield self._event("response.output_item.done", output_index=index, item=item)
        self._shell["output"] = self._output
        _finish(self._shell, self._finish_reason, usage_of(prompt, completion))
        yield self._event("response.completed", response=self._shell)

    def error(self, code: str, message: str, param: str | None) -> tuple[str, dict[str, Any]]:
        return self._event("error", code=code, message=message, param=param)
