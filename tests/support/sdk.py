"""The official ``openai`` SDK as a test drives it."""

from __future__ import annotations

from typing import Any

import openai


def streamed_text(client: openai.OpenAI, **params: Any) -> tuple[str, str]:
    """A streamed chat completion read to its end: (the request id, the text of every content delta)."""
    with client.chat.completions.with_streaming_response.create(stream=True, **params) as response:
        request_id = response.headers["x-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    return request_id, text
