"""The Anthropic Messages request, every field typed and checked in one pass by msgspec.

Closed like the chat schema (``pipeline/schema.py``): a field the gateway does not know is refused with
400 naming it, since its value would reach the provider unread. Server tools, extended thinking,
containers and MCP servers are such fields: the gateway cannot translate them, so it refuses them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from interlock.pipeline.schema import MAX_TOKENS, InterlockOptions

_Tokens = Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)]
# The OpenAI chat format the request is translated into takes at most four stop sequences.
MAX_STOP_SEQUENCES = 4


class _Closed(msgspec.Struct, forbid_unknown_fields=True):
    pass


class CacheControl(_Closed):
    # A hint to Anthropic's prompt cache: dropped in translation (an OpenAI-compatible model has no such cache).
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


# -- content blocks ---------------------------------------------------------------------------------------


class TextBlock(_Closed, tag_field="type", tag="text"):
    text: str
    cache_control: CacheControl | None = None
    # The SDK sends ``null`` back for blocks it received; citations with content are refused.
    citations: None = None


class Base64Source(_Closed, tag_field="type", tag="base64"):
    media_type: Annotated[str, msgspec.Meta(max_length=128)]
    data: str


class UrlSource(_Closed, tag_field="type", tag="url"):
    url: str


class PlainTextSource(_Closed, tag_field="type", tag="text"):
    media_type: Literal["text/plain"]
    data: str


class ContentSource(_Closed, tag_field="type", tag="content"):
    content: str | list[TextBlock]


class ImageBlock(_Closed, tag_field="type", tag="image"):
    source: Base64Source | UrlSource
    cache_control: CacheControl | None = None


class CitationsConfig(_Closed):
    enabled: bool | None = None


class DocumentBlock(_Closed, tag_field="type", tag="document"):
    source: Base64Source | UrlSource | PlainTextSource | ContentSource
    title: str | None = None
    context: str | None = None
    cache_control: CacheControl | None = None
    citations: CitationsConfig | None = None


class ToolUseBlock(_Closed, tag_field="type", tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class ToolResultBlock(_Closed, tag_field="type", tag="tool_result"):
    tool_use_id: str
    content: str | list[TextBlock] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


UserBlock = TextBlock | ImageBlock | DocumentBlock | ToolResultBlock
AssistantBlock = TextBlock | ToolUseBlock


class UserMessage(_Closed, tag_field="role", tag="user"):
    content: str | list[UserBlock]


class AssistantMessage(_Closed, tag_field="role", tag="assistant"):
    content: str | list[AssistantBlock]


Message = UserMessage | AssistantMessage


# -- tools --------------------------------------------------------------------------------------------------


class Tool(_Closed):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    input_schema: dict[str, Any]
    description: str | None = None
    type: Literal["custom"] | None = None
    cache_control: CacheControl | None = None


class ToolChoiceAuto(_Closed, tag_field="type", tag="auto"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Closed, tag_field="type", tag="any"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Closed, tag_field="type", tag="tool"):
    name: str
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Closed, tag_field="type", tag="none"):
    pass


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone


class Metadata(_Closed):
    user_id: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class CountTokensRequest(_Closed):
    """``POST /v1/messages/count_tokens``: what would be sent, without ``max_tokens`` and sampling."""

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None


class MessagesRequest(_Closed):
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    max_tokens: _Tokens
    system: str | list[TextBlock] | None = None
    stream: bool = False
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    stop_sequences: Annotated[list[str], msgspec.Meta(max_length=MAX_STOP_SEQUENCES)] | None = None
    metadata: Metadata | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    # No OpenAI counterpart: accepted and dropped (docs/api.md lists it among the lossy fields).
    top_k: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    # The gateway's own extension field (governed retrieval), as on the chat endpoint.
    interlock: InterlockOptions | None = None
