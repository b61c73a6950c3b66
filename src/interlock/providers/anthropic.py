"""An upstream that speaks the Anthropic Messages API natively (Anthropic, or anything compatible).

The stages hand every upstream the chat form; this adapter translates it into a Messages request,
and the answer and its stream events back (``anthropic_codec.py``). Connection handling, error
classification and fallbacks are the OpenAI-compatible upstream's, which it extends.
"""

from __future__ import annotations

from typing import Any

from interlock.providers.anthropic_codec import ChunkTranslator, chat_completion, messages_request
from interlock.providers.openai_compat import OpenAIUpstream
from interlock.settings import ProviderSettings

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicUpstream(OpenAIUpstream):
    def __init__(self, name: str, settings: ProviderSettings) -> None:
        super().__init__(name, settings)
        self._path = "/messages"

    async def start(self) -> None:
        await super().start()
        # Anthropic takes its key in x-api-key, and refuses a request without its version header.
        headers = [("x-api-key", v[len("Bearer "):]) if k == "authorization" and v.startswith("Bearer ") else (k, v)
                   for k, v in self._headers]
        if all(k != "anthropic-version" for k, _ in headers):
            headers.append(("anthropic-version", ANTHROPIC_VERSION))
        self._headers = headers

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        return messages_request(body)

    def _answer(self, doc: Any) -> dict[str, Any]:
        if not isinstance(doc, dict) or doc.get("type") != "message" or not isinstance(doc.get("content"), list):
            raise self._unavailable("answered with a body that is not a message")
        return chat_completion(doc)

    def _stream_state(self) -> ChunkTranslator:
        return ChunkTranslator()

    def _translate(self, chunk: dict[str, Any], state: Any) -> list[dict[str, Any]]:
        assert isinstance(state, ChunkTranslator)
        return state.event(chunk)
