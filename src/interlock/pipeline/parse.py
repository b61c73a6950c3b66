"""Stage: the body is UTF-8 JSON of bounded depth that is a well-formed chat request."""

from __future__ import annotations

from typing import Any

import msgspec

from interlock.errors import InvalidRequest
from interlock.pipeline.call import Call
from interlock.pipeline.schema import ChatRequest

_decode = msgspec.json.Decoder().decode


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether nesting goes deeper than ``limit``; iterative, so hostile input cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def decode_json_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        doc = _decode(raw)
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.") from None
    except RecursionError:
        raise InvalidRequest(f"The request JSON is nested deeper than {max_depth} levels.") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(doc, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if json_depth_exceeds(doc, max_depth):
        raise InvalidRequest(f"The request JSON is nested deeper than {max_depth} levels.")
    return doc


class ParseChatRequest:
    name = "parse"

    def __init__(self, max_depth: int, max_messages: int) -> None:
        self._max_depth = max_depth
        self._max_messages = max_messages

    async def __call__(self, call: Call) -> None:
        doc = decode_json_object(call.raw_body, self._max_depth)
        try:
            req = msgspec.convert(doc, ChatRequest)
        except msgspec.ValidationError as exc:
            text = str(exc)
            param = text.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in text else None
            raise InvalidRequest(f"Invalid chat request: {text}.", param=param) from None
        if len(req.messages) > self._max_messages:
            raise InvalidRequest(f"Too many messages ({len(req.messages)}); the limit is {self._max_messages}.",
                                 param="messages")
        call.body = doc
        call.model_alias = req.model
        call.stream = req.stream
        call.client_wants_usage = bool(req.stream_options and req.stream_options.include_usage)
