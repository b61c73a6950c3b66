"""``POST /v1/chat/completions``: the hot path, on raw ASGI, streaming included.

The app reaches this endpoint by one dictionary look-up before anything else; it reads the bounded
body, runs the engine's pipeline and answers JSON or server-sent events. It answers its refusals
itself with the call's request id (the one in the audit record), in the error home's shape. Other
formats that run a conversation through the stages (the Anthropic Messages API) reuse this frame.
"""

from __future__ import annotations

import logging
from typing import Any

from interlock.api.asgi import (
    Receive,
    Scope,
    Send,
    encode,
    headers_of,
    read_request_body,
    send_event,
    send_json,
    start_sse,
)
from interlock.api.calls import drain, guarded
from interlock.api.errors import error_document, send_error
from interlock.engine import Engine
from interlock.errors import Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.runner import Pipeline

log = logging.getLogger("interlock.api.chat")

CHAT_PATH = "/v1/chat/completions"


class ChatEndpoint:
    """The chat endpoint, and the frame of every endpoint that runs a conversation through the stages:
    another wire format (``messages.py``) gives its pipeline and overrides how answers, chunks and
    refusals are written."""

    endpoint = "chat.completions"

    def __init__(self, engine: Engine, pipeline: Pipeline | None = None) -> None:
        self._engine = engine
        self._pipeline = pipeline if pipeline is not None else engine.pipeline
        self._limit = engine.settings.limits.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Counted while under way: the audit writer lets the loop serve them while a commit waits for the disk.
        writer = self._engine.writer
        writer.in_flight += 1
        try:
            await self._chat(scope, receive, send)
        finally:
            writer.in_flight -= 1

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine = self._engine
        pipeline = self._pipeline
        headers = headers_of(scope)
        try:
            raw = await read_request_body(scope, receive, self._limit, headers)
        except Refusal as bad_body:
            call = engine.new_call(self.endpoint, b"", headers)
            pipeline.refuse(call, bad_body)
            failed = await pipeline.finish(call)
            await self._send_refusal(send, failed or bad_body, call.request_id)
            return
        call = engine.new_call(self.endpoint, raw, headers)
        refused = await guarded(engine.chat(call, pipeline), call.request_id)
        if refused is not None:
            await self._send_refusal(send, refused, call.request_id)
            return
        if call.stream_iter is None:
            await self._send_answer(send, call)
            return
        await self._stream(call, send)

    async def _stream(self, call: Call, send: Send) -> None:
        pipeline = self._pipeline
        state = await self._open_stream(send, call)

        async def emit(chunk: dict[str, Any]) -> None:
            await self._send_chunk(send, chunk, state)

        err = await drain(pipeline, call, emit)
        if err is not None:
            await self._send_stream_error(send, err, call.request_id)
            return
        await self._close_stream(send, state)

    # -- the wire format: the chat format's own ------------------------------------------------------

    async def _send_refusal(self, send: Send, refusal: Refusal, request_id: str) -> None:
        await send_error(send, refusal, request_id)

    async def _send_answer(self, send: Send, call: Call) -> None:
        await send_json(send, 200, call.response, call.request_id, call.response_headers)

    async def _open_stream(self, send: Send, call: Call) -> Any:
        """Start the stream; what it returns is handed to every chunk and to the close."""
        await start_sse(send, call.request_id, call.response_headers)

    async def _send_chunk(self, send: Send, chunk: dict[str, Any], state: Any) -> None:
        await send_event(send, encode(chunk))

    async def _send_stream_error(self, send: Send, refusal: Refusal, request_id: str) -> None:
        await send_event(send, encode(error_document(refusal, request_id)), more=False)

    async def _close_stream(self, send: Send, state: Any) -> None:
        await send_event(send, b"[DONE]", more=False)
