"""Token counts the gateway makes itself: where an upstream reports none, and for a call's worst case.

No tokenizer ships with every model (and none may be downloaded at run time), so counts are estimates
from text length: about four characters a token for English prose, the usual rule of thumb for BPE
tokenizers. A worst case must not fall short, so a request's input bound is taken from its body at
three bytes a token (JSON syntax and non-Latin text, three bytes a character in UTF-8, are both covered).
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
BYTES_PER_TOKEN_BOUND = 3


def tokens_of_chars(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def input_bound(raw_body: bytes) -> int:
    """An upper estimate of a request's input tokens, from its size alone (no parsing on the hot path)."""
    return -(-len(raw_body) // BYTES_PER_TOKEN_BOUND)


def text_chars(value: Any) -> int:
    """Characters of text in a chat request's messages or an answer's message (content parts included)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(text_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(text_chars(v) for k, v in value.items() if k in ("content", "text", "arguments", "input",
                                                                   "function", "tool_calls", "messages"))
    return 0
