"""Stage: the body is UTF-8 JSON of bounded depth that is a well-formed chat request."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from interlock.errors import InvalidRequest
from interlock.pipeline.call import Call
from interlock.pipeline.schema import ChatRequest

_decode = msgspec.json.Decoder().decode
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`")


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

    def __init__(self, max_depth: int, max_messages: int,
                 pass_through: Mapping[str, frozenset[str]] | None = None, *, knowledge: bool = False) -> None:
        self._max_depth = max_depth
        # Whether knowledge sources are declared: without them a request naming one is refused.
        self._knowledge = knowledge
        self._max_messages = max_messages
        # Per model alias: top-level fields its provider takes that the gateway forwards unread, by choice.
        self._pass_through = pass_through or {}

    async def __call__(self, call: Call) -> None:
        self.accept(call, decode_json_object(call.raw_body, self._max_depth))

    def passed_through(self, doc: dict[str, Any]) -> frozenset[str]:
        """The top-level fields of ``doc`` that its model's provider takes unread."""
        model = doc.get("model")
        passed = self._pass_through.get(model, frozenset()) if isinstance(model, str) else frozenset()
        return frozenset(passed.intersection(doc))

    def accept(self, call: Call, doc: dict[str, Any]) -> None:
        """Check ``doc`` as a chat request and make it the call's body (another format's codec calls this)."""
        passed = self.passed_through(doc)
        checked = {k: v for k, v in doc.items() if k not in passed} if passed else doc
        try:
            req = msgspec.convert(checked, ChatRequest)
        except msgspec.ValidationError as exc:
            raise invalid(str(exc)) from None
        if len(req.messages) > self._max_messages:
            raise InvalidRequest(f"Too many messages ({len(req.messages)}); the limit is {self._max_messages}.",
                                 param="messages")
        if req.interlock is not None:
            # The gateway's own field is consumed here; the provider never sees it.
            doc = {k: v for k, v in doc.items() if k != "interlock"}
            if req.interlock.knowledge is not None and not self._knowledge:
                raise InvalidRequest("This gateway declares no knowledge sources, so interlock.knowledge cannot "
                                     "be served; remove the field or ask an administrator to declare sources.",
                                     param="interlock.knowledge")
            call.knowledge = req.interlock.knowledge
        call.body = doc
        call.passed_through = passed
        call.model_alias = req.model
        call.stream = req.stream
        call.client_wants_usage = bool(req.stream_options and req.stream_options.include_usage)


def invalid(text: str, what: str = "chat request") -> InvalidRequest:
    """A validation error as the caller can act on it, naming the field (``param``) as a JSON path."""
    where = text.rsplit(" - at `", 1)[-1].rstrip("`") if " - at `" in text else "$"
    unknown = _UNKNOWN_FIELD.match(text)
    if unknown is not None:
        field = unknown.group("field")
        path = f"{where}.{field}"
        return InvalidRequest(
            f"The request has a field the gateway does not know: {path[2:] or field}. A field the gateway "
            f"cannot scan is refused, since its value would reach the provider unread; remove it, or ask an "
            f"administrator to pass it through for this model (pass_through_fields).", param=path[2:] or field)
    return InvalidRequest(f"Invalid {what}: {text}.", param=where[2:] or None)
