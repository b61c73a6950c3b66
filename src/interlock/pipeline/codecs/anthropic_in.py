"""An Anthropic Messages request in the internal form: the OpenAI chat request the stages already handle.

What has no counterpart is either dropped, where it only tunes the answer (``cache_control``, ``top_k``,
``service_tier``, a tool result's ``is_error``), or refused, where dropping it would change what the
caller asked for (a document given by URL). docs/api.md lists both.
"""

from __future__ import annotations

from typing import Any

import msgspec

from interlock.errors import InvalidRequest
from interlock.pipeline.codecs.anthropic_schema import (
    AssistantMessage,
    Base64Source,
    ContentSource,
    CountTokensRequest,
    DocumentBlock,
    ImageBlock,
    MessagesRequest,
    PlainTextSource,
    TextBlock,
    Tool,
    ToolChoice,
    ToolChoiceAny,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

_encode_json = msgspec.json.Encoder(order="deterministic").encode


def chat_request(req: MessagesRequest | CountTokensRequest) -> dict[str, Any]:
    """The chat request that asks the model what ``req`` asks."""
    messages: list[dict[str, Any]] = []
    if req.system is not None:
        messages.append({"role": "system", "content": req.system if isinstance(req.system, str)
                         else [_text(b) for b in req.system]})
    for index, message in enumerate(req.messages):
        if isinstance(message, UserMessage):
            messages += _user(message, index)
        else:
            messages.append(_assistant(message))
    doc: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.tools:
        doc["tools"] = [_tool(t) for t in req.tools]
    if req.tool_choice is not None:
        doc["tool_choice"] = _tool_choice(req.tool_choice)
        if getattr(req.tool_choice, "disable_parallel_tool_use", None) and req.tools:
            doc["parallel_tool_calls"] = False
    if isinstance(req, MessagesRequest):
        doc["max_tokens"] = req.max_tokens
        if req.stream:
            # Anthropic's stream always ends with the usage; the chat stream gives it only when asked.
            doc["stream"] = True
            doc["stream_options"] = {"include_usage": True}
        if req.stop_sequences:
            doc["stop"] = list(req.stop_sequences)
        if req.metadata is not None and req.metadata.user_id is not None:
            doc["user"] = req.metadata.user_id
        if req.temperature is not None:
            doc["temperature"] = req.temperature
        if req.top_p is not None:
            doc["top_p"] = req.top_p
        if req.interlock is not None:
            doc["interlock"] = msgspec.to_builtins(req.interlock)
    return doc


def _text(block: TextBlock) -> dict[str, Any]:
    return {"type": "text", "text": block.text}


def _user(message: UserMessage, index: int) -> list[dict[str, Any]]:
    """One user message: its tool results become tool messages, the rest user messages, in order."""
    if isinstance(message.content, str):
        return [{"role": "user", "content": message.content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for position, block in enumerate(message.content):
        if isinstance(block, ToolResultBlock):
            if parts:
                out.append({"role": "user", "content": parts})
                parts = []
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": _tool_result(block)})
        elif isinstance(block, TextBlock):
            parts.append(_text(block))
        elif isinstance(block, ImageBlock):
            parts.append({"type": "image_url", "image_url": {"url": _url(block.source)}})
        else:
            parts += _document(block, f"messages[{index}].content[{position}]")
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _tool_result(block: ToolResultBlock) -> str | list[dict[str, Any]]:
    if block.content is None:
        return ""
    if isinstance(block.content, str):
        return block.content
    return [_text(b) for b in block.content]


def _url(source: Any) -> str:
    if isinstance(source, Base64Source):
        return f"data:{source.media_type};base64,{source.data}"
    url: str = source.url
    return url


def _document(block: DocumentBlock, where: str) -> list[dict[str, Any]]:
    """A readable document becomes text (scanned like any text); a PDF stays a file (``media.file``)."""
    source = block.source
    head = [{"type": "text", "text": t} for t in (block.title, block.context) if t]
    if isinstance(source, PlainTextSource):
        return [*head, {"type": "text", "text": source.data}]
    if isinstance(source, ContentSource):
        body = source.content
        return [*head, *([{"type": "text", "text": body}] if isinstance(body, str) else [_text(b) for b in body])]
    if isinstance(source, Base64Source):
        return [*head, {"type": "file", "file": {"file_data": _url(source), "filename": block.title or "document"}}]
    raise InvalidRequest("A document given by URL cannot be passed to this model, which takes files only as "
                         "data; send the document as base64.", param=f"{where}.source")


def _assistant(message: AssistantMessage) -> dict[str, Any]:
    if isinstance(message.content, str):
        return {"role": "assistant", "content": message.content}
    texts = [_text(b) for b in message.content if isinstance(b, TextBlock)]
    calls = [{"id": b.id, "type": "function", "function": {"name": b.name, "arguments": _encode_json(b.input).decode()}}
             for b in message.content if isinstance(b, ToolUseBlock)]
    out: dict[str, Any] = {"role": "assistant", "content": texts or None}
    if calls:
        out["tool_calls"] = calls
    return out


def _tool(tool: Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description is not None:
        fn["description"] = tool.description
    return {"type": "function", "function": fn}


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if isinstance(choice, ToolChoiceTool):
        return {"type": "function", "function": {"name": choice.name}}
    if isinstance(choice, ToolChoiceAny):
        return "required"
    if isinstance(choice, ToolChoiceNone):
        return "none"
    return "auto"
