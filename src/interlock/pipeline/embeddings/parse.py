"""Stage: the body is a well-formed OpenAI embeddings request, as ``embeddings.create`` sends it.

The schema is closed like the chat one: a field the gateway does not know is refused by name (its
value would reach the provider unread), unless the deployment passes it through for the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from interlock.errors import InvalidRequest
from interlock.pipeline.call import Call
from interlock.pipeline.parse import decode_json_object, invalid

# The OpenAI limit on inputs per request.
MAX_INPUTS = 2048
# Token ids of at most six digits (every tokenizer in use has fewer than a million tokens), so that no
# value can travel in one.
MAX_TOKEN_ID = 999_999


class EmbeddingsRequest(msgspec.Struct, forbid_unknown_fields=True):
    model: str
    # A string, strings, token ids or lists of token ids: msgspec's unions take one array type only, so
    # the shape is checked by ``input_kind``.
    input: Any
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, msgspec.Meta(ge=1, le=65536)] | None = None
    user: str | None = None


EMBEDDINGS_FIELDS = frozenset(EmbeddingsRequest.__struct_fields__)

# What ``input`` holds, by shape.
TEXT, TEXTS, TOKENS, TOKEN_LISTS = "text", "texts", "tokens", "token_lists"


def _token(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_TOKEN_ID


def input_kind(value: object) -> str:
    """The shape of ``input``, or a refusal saying what it may be."""
    if isinstance(value, str):
        if value:
            return TEXT
    elif isinstance(value, list) and value:
        if len(value) > MAX_INPUTS:
            raise InvalidRequest(f"Too many inputs ({len(value)}); the limit is {MAX_INPUTS}.", param="input")
        if all(isinstance(v, str) for v in value):
            if all(value):
                return TEXTS
            raise InvalidRequest("Every input must be a non-empty string.", param="input")
        if all(_token(v) for v in value):
            return TOKENS
        if all(isinstance(v, list) and v and all(_token(t) for t in v) for v in value):
            return TOKEN_LISTS
    raise InvalidRequest("'input' must be a non-empty string, a list of non-empty strings, a list of token ids "
                         f"(whole numbers from 0 to {MAX_TOKEN_ID}) or a list of such lists.", param="input")


class ParseEmbeddingsRequest:
    name = "parse"

    def __init__(self, max_depth: int, pass_through: Mapping[str, frozenset[str]] | None = None) -> None:
        self._max_depth = max_depth
        self._pass_through = pass_through or {}

    async def __call__(self, call: Call) -> None:
        doc = decode_json_object(call.raw_body, self._max_depth)
        model = doc.get("model")
        passed = self._pass_through.get(model, frozenset()) if isinstance(model, str) else frozenset()
        checked = {k: v for k, v in doc.items() if k not in passed} if passed.intersection(doc) else doc
        try:
            req = msgspec.convert(checked, EmbeddingsRequest)
        except msgspec.ValidationError as exc:
            raise invalid(str(exc), "embeddings request") from None
        input_kind(req.input)
        call.body = doc
        call.passed_through = frozenset(passed.intersection(doc))
        call.model_alias = req.model
