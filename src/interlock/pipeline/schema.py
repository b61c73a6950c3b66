"""The OpenAI chat-completions request, every field typed and checked in one pass by msgspec.

The schema is closed: a field it does not know is refused with 400 naming it, because a field the
gateway does not know is a field it does not scan, and its value would reach the provider unread. A
deployment passes a provider-specific field through deliberately with ``pass_through_fields`` on
the provider or the model (docs/configuration.md). Every string a provider reads is then scanned by
``protect``; content the gateway cannot read (images, audio, files) is a data class of its own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

# Bounds that keep numbers within what every provider (and the policy engine's 64-bit integers) accepts.
MAX_TOKENS = 10_000_000
_Tokens = Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)]
# logit_bias keys are token ids: numbers, never free text that could carry a value.
_TokenId = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,6}$")]
_Short = Annotated[str, msgspec.Meta(max_length=512)]


class _Closed(msgspec.Struct, forbid_unknown_fields=True):
    pass


# -- content parts -------------------------------------------------------------------------------------


class TextPart(_Closed, tag_field="type", tag="text"):
    text: str


class RefusalPart(_Closed, tag_field="type", tag="refusal"):
    refusal: str


class ImageUrl(_Closed):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Closed, tag_field="type", tag="image_url"):
    image_url: ImageUrl


class InputAudio(_Closed):
    data: str
    format: Literal["wav", "mp3"]


class AudioPart(_Closed, tag_field="type", tag="input_audio"):
    input_audio: InputAudio


class FileRef(_Closed):
    file_data: str | None = None
    file_id: _Short | None = None
    filename: str | None = None


class FilePart(_Closed, tag_field="type", tag="file"):
    file: FileRef


UserPart = TextPart | ImagePart | AudioPart | FilePart
AssistantPart = TextPart | RefusalPart


# -- messages ----------------------------------------------------------------------------------------


class FunctionCall(_Closed):
    name: str
    arguments: str


class ToolCall(_Closed):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class AudioRef(_Closed):
    id: _Short


class SystemMessage(_Closed, tag_field="role", tag="system"):
    content: str | list[TextPart]
    name: str | None = None


class DeveloperMessage(_Closed, tag_field="role", tag="developer"):
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_Closed, tag_field="role", tag="user"):
    content: str | list[UserPart]
    name: str | None = None


class AssistantMessage(_Closed, tag_field="role", tag="assistant"):
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    name: str | None = None
    audio: AudioRef | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None


class ToolMessage(_Closed, tag_field="role", tag="tool"):
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(_Closed, tag_field="role", tag="function"):
    content: str | None
    name: str


Message = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage


# -- tools and output options ----------------------------------------------------------------------------


class FunctionDef(_Closed):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Closed):
    function: FunctionDef
    type: Literal["function"] = "function"


class NamedFunction(_Closed):
    name: str


class ToolChoiceFunction(_Closed):
    function: NamedFunction
    type: Literal["function"] = "function"


class FunctionChoice(_Closed):
    name: str


class StreamOptions(_Closed):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class JsonSchemaFormat(_Closed):
    name: str
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class ResponseFormatText(_Closed, tag_field="type", tag="text"):
    pass


class ResponseFormatJsonObject(_Closed, tag_field="type", tag="json_object"):
    pass


class ResponseFormatJsonSchema(_Closed, tag_field="type", tag="json_schema"):
    json_schema: JsonSchemaFormat


class Prediction(_Closed):
    content: str | list[TextPart]
    type: Literal["content"] = "content"


class AudioOutput(_Closed):
    voice: _Short
    format: Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]


class ApproximateLocation(_Closed):
    city: str | None = None
    country: str | None = None
    region: str | None = None
    timezone: str | None = None


class UserLocation(_Closed):
    approximate: ApproximateLocation
    type: Literal["approximate"] = "approximate"


class WebSearchOptions(_Closed):
    search_context_size: Literal["low", "medium", "high"] | None = None
    user_location: UserLocation | None = None


class KnowledgeOptions(_Closed):
    """Governed retrieval for this call: passages from these sources, as the caller may read them."""

    sources: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]],
                       msgspec.Meta(min_length=1, max_length=16)]
    top_k: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    # What to look for; by default the text of the last user message.
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)] | None = None


class InterlockOptions(_Closed):
    """The gateway's own extension field: read by the gateway, never forwarded to the provider."""

    knowledge: KnowledgeOptions | None = None


class ChatRequest(_Closed):
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolDef] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDef] | None = None
    function_call: Literal["none", "auto"] | FunctionChoice | None = None
    max_tokens: _Tokens | None = None
    max_completion_tokens: _Tokens | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=16)] | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None
    presence_penalty: Annotated[float, msgspec.Meta(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, msgspec.Meta(ge=-2, le=2)] | None = None
    logit_bias: dict[_TokenId, Annotated[float, msgspec.Meta(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] | None = None
    seed: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None = None
    response_format: ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema | None = None
    prediction: Prediction | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    audio: AudioOutput | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    store: bool | None = None
    metadata: Annotated[dict[Annotated[str, msgspec.Meta(max_length=64)],
                             Annotated[str, msgspec.Meta(max_length=512)]],
                        msgspec.Meta(max_length=16)] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    web_search_options: WebSearchOptions | None = None
    interlock: InterlockOptions | None = None


# The top-level fields the gateway knows (and scans): never passed through unread.
CHAT_FIELDS: frozenset[str] = frozenset(ChatRequest.__struct_fields__)
