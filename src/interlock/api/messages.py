"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: the Anthropic Messages API.

A messages call runs the engine's messages pipeline: the chat stages, with a parse stage that translates
the request into the chat form (``pipeline/parse_messages.py``). The answer, whole or streamed, is
translated back here (``pipeline/codecs/anthropic_out.py``), and every refusal is answered in
Anthropic's error shape with the call's request id, in ``request-id`` as Anthropic sends it and in
``x-request-id`` as every other route does. Like the chat route, it runs on raw ASGI.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import (
    Receive,
    Scope,
    Send,
    encode,
    headers_of,
    read_json,
    read_request_body,
    send_event,
    send_json,
    start_sse,
)
from interlock.api.auth import identify
from interlock.api.errors import anthropic_error_document, request_id_of, send_error
from interlock.engine import Engine
from interlock.errors import InternalFailure, InvalidRequest, ModelNotFound, PayloadTooLarge, PolicyDenied, Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.codecs.anthropic_in import chat_request
from interlock.pipeline.codecs.anthropic_out import StreamTranslator, message
from interlock.pipeline.codecs.anthropic_schema import CountTokensRequest
from interlock.pipeline.parse import invalid
from interlock.pipeline.parse_messages import check_version

log = logging.getLogger("interlock.api.messages")

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
ENDPOINT = "messages"

# The local estimate count_tokens gives (docs/api.md): about four characters of text a token, and a flat
# figure for an image or a file, near what Anthropic counts for an image of about a megapixel.
CHARS_PER_TOKEN = 4
TOKENS_PER_ATTACHMENT = 1600


def _request_id_header(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"request-id", request_id.encode())]


class MessagesEndpoint:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._limit = engine.settings.limits.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Counted while under way: the audit writer lets the loop serve them while a commit waits for the disk.
        writer = self._engine.writer
        writer.in_flight += 1
        try:
            await self._messages(scope, receive, send)
        finally:
            writer.in_flight -= 1

    async def _messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine = self._engine
        pipeline = engine.messages_pipeline
        headers = headers_of(scope)
        try:
            raw = await read_request_body(scope, receive, self._limit)
        except (PayloadTooLarge, InvalidRequest) as bad_body:
            call = engine.new_call(ENDPOINT, b"", headers)
            pipeline.refuse(call, bad_body)
            failed = await pipeline.finish(call)
            await send_error(send, failed or bad_body, call.request_id, anthropic=True)
            return
        call = engine.new_call(ENDPOINT, raw, headers)
        try:
            refused = await engine.chat(call, pipeline)
        except Exception:
            log.exception("call %s failed outside its stages", call.request_id)
            refused = InternalFailure(f"The call could not be handled. Quote request id {call.request_id} to "
                                      f"your administrator.")
        if refused is not None:
            await send_error(send, refused, call.request_id, anthropic=True)
            return
        if call.stream_iter is None:
            assert call.response is not None
            await send_json(send, 200, message(call.response, call.model_alias), call.request_id,
                            _request_id_header(call.request_id))
            return
        await self._stream(call, send)

    async def _stream(self, call: Call, send: Send) -> None:
        pipeline = self._engine.messages_pipeline
        await start_sse(send, call.request_id, _request_id_header(call.request_id))
        assert call.stream_iter is not None
        events = StreamTranslator(call.model_alias)
        for name, data in events.start():
            await send_event(send, encode(data), event=name.encode())
        raised: Refusal | None = None
        try:
            async for chunk in call.stream_iter:
                for name, data in events.chunk(chunk):
                    await send_event(send, encode(data), event=name.encode())
        except Refusal as refusal:
            raised = refusal
            pipeline.refuse(call, refusal)
        except Exception:
            log.exception("stream of %s failed", call.request_id)
            pipeline.refuse(call, InternalFailure(
                f"The stream failed mid-way. Quote request id {call.request_id} to your administrator."))
        failed = await pipeline.finish(call)
        if failed is not None and not call.refusal_code:
            pipeline.refuse(call, failed)
        if call.refusal_code:
            err = raised if raised is not None and raised.code == call.refusal_code else Refusal(
                call.refusal_message, code=call.refusal_code, status=call.status)
            await send_event(send, encode(anthropic_error_document(err, call.request_id)), more=False,
                             event=b"error")
            return
        ending = list(events.end())
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
