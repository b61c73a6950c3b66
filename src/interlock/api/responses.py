"""``POST /v1/responses``: the OpenAI Responses API in stateless mode, through the chat pipeline.

The request is translated (``responses_codec``) into the chat form, runs the engine's chat pipeline
(detection, policy, tool interception, the durable record, with endpoint ``responses``), and the answer
is translated back: a Response object, or its server-sent events. A routed endpoint on raw ASGI (it
streams): the error home gives the request its id, which is also the call's.
"""

from __future__ import annotations

from typing import Any

from interlock.api.asgi import Receive, Scope, Send, encode, headers_of, read_request_body, send_json, start_sse
from interlock.api.calls import drain, guarded
from interlock.api.errors import REQUEST_ID_KEY
from interlock.api.responses_codec import (
    ResponsesRequest,
    StreamEvents,
    from_chat,
    new_response_id,
    parse_request,
    response_shell,
    to_chat,
)
from interlock.engine import Engine, pass_through_fields
from interlock.errors import Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.parse import decode_json_object

RESPONSES_PATH = "/v1/responses"
RESPONSES_ENDPOINT = "responses"


async def _send_event(send: Send, kind: str, data: dict[str, Any], more: bool = True) -> None:
    body = b"event: " + kind.encode() + b"\ndata: " + encode(data) + b"\n\n"
    await send({"type": "http.response.body", "body": body, "more_body": more})


class ResponsesEndpoint:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._limit = engine.settings.limits.max_body_bytes
        self._max_depth = engine.settings.limits.max_json_depth
        self._passed = pass_through_fields(engine.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = self._engine.writer
        writer.in_flight += 1
        try:
            await self._respond(scope, receive, send)
        finally:
            writer.in_flight -= 1

    async def _translate(self, call: Call, scope: Scope, receive: Receive) -> ResponsesRequest:
        """The request, checked and put in the chat form (``call.raw_body``); a refusal is recorded."""
        pipeline = self._engine.pipeline
        try:
            # Who is calling comes first, as on the chat route: a stranger learns nothing about the request.
            # The pipeline's own stage asks again (from the key cache) and sets the call's identity.
            await self._engine.authenticator.identify(call.headers)
            doc = decode_json_object(await read_request_body(scope, receive, self._limit), self._max_depth)
            model = doc.get("model")
            passed = self._passed.get(model, frozenset()) if isinstance(model, str) else frozenset()
            req = parse_request(doc, passed)
            call.raw_body = encode(to_chat(req, doc, passed))
        except Refusal as bad:
            pipeline.refuse(call, bad)
            raise await pipeline.finish(call) or bad from None
        return req

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine = self._engine
        request_id: str = scope[REQUEST_ID_KEY]
        call = Call(request_id=request_id, endpoint=RESPONSES_ENDPOINT, raw_body=b"", headers=headers_of(scope))
        req = await self._translate(call, scope, receive)
        refused = await guarded(engine.chat(call), request_id)
        if refused is not None:
            raise refused
        shell = response_shell(req, new_response_id(), call.model_alias)
        if call.stream_iter is None:
            assert call.response is not None
            doc = from_chat(shell, call.response, call.usage.prompt_tokens, call.usage.completion_tokens)
            await send_json(send, 200, doc, request_id, call.response_headers)
            return
        await self._stream(call, StreamEvents(shell), send)

    async def _stream(self, call: Call, events: StreamEvents, send: Send) -> None:
        pipeline = self._engine.pipeline
        await start_sse(send, call.request_id, call.response_headers)
        for kind, data in events.start():
            await _send_event(send, kind, data)

        async def emit(chunk: dict[str, Any]) -> None:
            for kind, data in events.chunk(chunk):
                await _send_event(send, kind, data)

        # The record is durable before the final event, as on the chat stream.
        err = await drain(pipeline, call, emit)
        if err is not None:
            kind, data = events.error(err.code, err.message, err.param)
            await _send_event(send, kind, {**data, "request_id": call.request_id}, more=False)
            return
        for kind, data in events.finish(call.usage.prompt_tokens, call.usage.completion_tokens):
            await _send_event(send, kind, data)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
