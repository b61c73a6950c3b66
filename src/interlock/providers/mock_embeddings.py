"""What the mock LLM answers to ``POST /v1/embeddings``: one deterministic vector per input.

A vector is derived from the input alone (SHAKE-256 of its text, or of its token ids), so the same
input always gets the same vector, different inputs different ones, and a test can recompute what the
upstream must have embedded. Values are float32, as providers send them, so the ``float`` and
``base64`` encodings carry the same numbers. This module knows nothing of HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from interlock.providers.mock_scenario import MockScenarioError, Scenario

# Small, so the mock stays a fast upstream for benchmarks; a request's ``dimensions`` asks for others.
DEFAULT_DIMENSIONS = 16
MAX_DIMENSIONS = 4096


def embedding_inputs(body: dict[str, Any]) -> list[str | list[int]]:
    """The inputs of an embeddings request, one per vector, or a ``MockScenarioError`` saying what is wrong."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(_is_token(v) for v in value):
            return [list(value)]
        if all(isinstance(v, list) and v and all(_is_token(t) for t in v) for v in value):
            return [list(v) for v in value]
    raise MockScenarioError("'input' must be a string, a list of strings, a list of token ids or a list of "
                            "token-id lists.")


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def dimensions_of(body: dict[str, Any]) -> int:
    value = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DIMENSIONS:
        raise MockScenarioError(f"'dimensions' must be a whole number from 1 to {MAX_DIMENSIONS}.")
    return value


def vector(item: str | list[int], dimensions: int) -> list[float]:
    """The unit-length float32 vector of one input."""
    seed = item.encode() if isinstance(item, str) else b"tokens:" + ",".join(map(str, item)).encode()
    raw = hashlib.shake_256(seed).digest(2 * dimensions)
    values = [v / 32767.5 - 1.0 for v in struct.unpack(f"<{dimensions}H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # Through float32 and back: what a provider's vector holds, in either encoding.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in values))))


def encoded(values: list[float], encoding_format: object) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


def embeddings_answer(body: dict[str, Any], scenario: Scenario, model: str) -> dict[str, Any]:
    """The OpenAI embeddings response for ``body``; usage counts words (or token ids) unless scripted."""
    inputs = embedding_inputs(body)
    dimensions = dimensions_of(body)
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise MockScenarioError("'encoding_format' must be 'float' or 'base64'.")
    tokens = sum(len(item.split()) if isinstance(item, str) else len(item) for item in inputs)
    if scenario.usage is not None:
        scripted = scenario.usage.prompt_tokens if scenario.usage.prompt_tokens is not None \
            else scenario.usage.input_tokens
        tokens = scripted if scripted is not None else tokens
    data = [{"object": "embedding", "index": index, "embedding": encoded(vector(item, dimensions), fmt)}
            for index, item in enumerate(inputs)]
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
