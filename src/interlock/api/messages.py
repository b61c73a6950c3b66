"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: the Anthropic Messages API.

A messages call runs the engine's messages pipeline: the chat stages, with a parse stage that translates
the request into the chat form (``pipeline/parse_messages.py``). The answer, whole or streamed, is
translated back here (``pipeline/codecs/anthropic_out.py``), and every refusal is answered in
Anthropic's error shape with the call's request id, in ``request-id`` as Anthropic sends it and in
``x-request-id`` as every other route does. It is the chat endpoint's frame (``chat.py``: body limit,
pipeline, record, stream) with Anthropic's shapes written in, on raw ASGI like the chat route.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import (
    Send,
    encode,
    headers_of,
    read_json,
    send_event,
    send_json,
    start_sse,
)
from interlock.api.auth import identify
from interlock.api.chat import ChatEndpoint
from interlock.api.errors import anthropic_error_document, request_id_of, send_error
from interlock.engine import Engine
from interlock.errors import ModelNotFound, PolicyDenied, Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.codecs.anthropic_in import chat_request
from interlock.pipeline.codecs.anthropic_out import StreamTranslator, message
from interlock.pipeline.codecs.anthropic_schema import CountTokensRequest
from interlock.pipeline.parse import invalid
from interlock.pipeline.parse_messages import check_version

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
ENDPOINT = "messages"

# The local estimate count_tokens gives (docs/api.md): about four characters of text a token, and a flat
# figure for an image or a file, near what Anthropic counts for an image of about a megapixel.
CHARS_PER_TOKEN = 4
TOKENS_PER_ATTACHMENT = 1600


def _request_id_header(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"request-id", request_id.encode())]


class MessagesEndpoint(ChatEndpoint):
    """The chat endpoint's frame over the messages pipeline, answering in Anthropic's shapes."""

    endpoint = ENDPOINT

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, engine.messages_pipeline)

    async def _send_refusal(self, send: Send, refusal: Refusal, request_id: str) -> None:
        await send_error(send, refusal, request_id, anthropic=True)

    async def _send_answer(self, send: Send, call: Call) -> None:
        assert call.response is not None
        await send_json(send, 200, message(call.response, call.model_alias), call.request_id,
                        _request_id_header(call.request_id) + call.response_headers)

    async def _open_stream(self, send: Send, call: Call) -> StreamTranslator:
        await start_sse(send, call.request_id, _request_id_header(call.request_id) + call.response_headers)
        events = StreamTranslator(call.model_alias)
        for name, data in events.start():
            await send_event(send, encode(data), event=name.encode())
        return events

    async def _send_chunk(self, send: Send, chunk: dict[str, Any], state: Any) -> None:
        for name, data in state.chunk(chunk):
            await send_event(send, encode(data), event=name.encode())

    async def _send_stream_error(self, send: Send, refusal: Refusal, request_id: str) -> None:
        await send_event(send, encode(anthropic_error_document(refusal, request_id)), more=False, event=b"error")

    async def _close_stream(self, send: Send, state: Any) -> None:
        ending = list(state.end())
        for position, (name, data) in enumerate(ending):
            await send_event(send, encode(data), more=position < len(ending) - 1, event=name.encode())


class CountTokensApi:
    """A local estimate of a request's input tokens: no model is asked, nothing leaves the gateway."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def routes(self) -> list[Route]:
        return [Route(COUNT_TOKENS_PATH, self.count_tokens, methods=["POST"])]

    async def count_tokens(self, request: Request) -> Response:
        engine = self._engine
        identity = await identify(engine.authenticator, request)
        check_version(headers_of(request.scope))
        limits = engine.settings.limits
        doc = await read_json(request, limits.max_body_bytes, limits.max_json_depth)
        try:
            req = msgspec.convert(doc, CountTokensRequest)
        except msgspec.ValidationError as exc:
            raise invalid(str(exc), "count_tokens request") from None
        if req.model not in engine.models:
            raise ModelNotFound(f"The model {req.model!r} does not exist here; GET /v1/models lists yours.",
                                param="model")
        if all(m.alias != req.model for m in engine.visible_models(identity.principal, identity.app)):
            raise PolicyDenied(f"Policy does not let you use the model {req.model!r}.", param="model")
        request_id = request_id_of(request)
        body = encode({"input_tokens": estimate_tokens(chat_request(req))})
        return Response(body, 200, {"x-request-id": request_id, "request-id": request_id},
                        media_type="application/json")


def estimate_tokens(chat: dict[str, Any]) -> int:
    """About four characters a token over every text, tool definition and name; a flat figure per attachment."""
    chars = 0
    attachments = 0
    stack: list[Any] = [chat.get("messages"), chat.get("tools"), chat.get("tool_choice")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in ("image_url", "file"):
                attachments += 1
                continue
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            chars += len(node)
    return math.ceil(chars / CHARS_PER_TOKEN) + attachments * TOKENS_PER_ATTACHMENT
