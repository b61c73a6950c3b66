"""An upstream that speaks the OpenAI wire format (OpenAI, Azure, vLLM, Ollama...): chat completions and
embeddings.

One pooled keep-alive session per provider, created at start-up. Errors are classified once here:
``Retryable`` (connection refused, 5xx, timeout, garbage) may fall back to another route;
anything else the upstream says is passed to the caller as its own error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec

from interlock.errors import Refusal, UpstreamAuthFailed, UpstreamTimeout, UpstreamUnavailable
from interlock.providers.http_client import HttpError, HttpPool, HttpTimeout, HttpTooLarge, Response
from interlock.providers.sse import SseDecoder
from interlock.settings import ProviderSettings

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class Retryable(Exception):
    """An upstream failure another route might not have; carries the refusal to give if none does."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class UpstreamRejected(Refusal):
    """The provider refused the request itself (4xx): its status and message reach the caller."""

    code = "upstream_rejected"
    type = "invalid_request_error"


def _upstream_message(raw: bytes) -> str:
    try:
        doc = _decode(raw)
        msg = doc.get("error", {}).get("message") if isinstance(doc, dict) else None
        if isinstance(msg, str):
            return msg[:500]
    except (msgspec.DecodeError, AttributeError):
        pass
    return raw[:200].decode("utf-8", "replace")


class OpenAIUpstream:
    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.settings = settings
        query = f"?api-version={settings.api_version}" if settings.type == "azure" and settings.api_version else ""
        self._path = "/chat/completions" + query
        self._embeddings_path = "/embeddings" + query
        self._headers: list[tuple[str, str]] = []
        self._pool: HttpPool | None = None

    async def start(self) -> None:
        """Read the upstream key and open the pool. The key is read here, not at construction, so that
        what builds an engine without calling models (an approver's command line) never needs it."""
        s = self.settings
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
                   **s.headers}
        key = s.api_key()
        if key:
            if s.type == "azure":
                headers["api-key"] = key
            else:
                headers["authorization"] = f"Bearer {key}"
        self._headers = [(k.lower(), v) for k, v in headers.items()]
        self._pool = HttpPool(s.base_url, max_connections=s.max_connections,
                              connect_timeout=s.connect_timeout_seconds, read_timeout=s.read_timeout_seconds,
                              max_response_bytes=s.max_response_bytes)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _unavailable(self, what: str) -> Retryable:
        return Retryable(UpstreamUnavailable(f"The model provider {self.name!r} {what}; try again later."))

    def _too_large(self) -> Retryable:
        return Retryable(UpstreamUnavailable(
            f"The model provider {self.name!r} answered with more than {self.settings.max_response_bytes} bytes, "
            "the limit for one answer (providers.*.max_response_bytes)."))

    def _timeout(self) -> Retryable:
        return Retryable(UpstreamTimeout(f"The model provider {self.name!r} did not answer in time; "
                                         "try again later or with a smaller request."))

    async def _post(self, body: dict[str, Any], path: str | None = None) -> Response:
        if self._pool is None:
            raise RuntimeError("upstream pool not started")
        try:
            # A chat request is translated for providers of another wire format; other paths go as they are.
            payload = self._request(body) if path is None else body
            resp = await self._pool.request("POST", path or self._path, self._headers, _encode(payload))
            if resp.status >= 400:
                raw = await resp.read()
        except HttpTimeout:
            raise self._timeout() from None
        except HttpTooLarge:
            raise self._too_large() from None
        except HttpError as exc:
            raise self._unavailable(f"could not be reached ({exc})") from None
        if resp.status >= 500:
            raise self._unavailable(f"failed with HTTP {resp.status}")
        if resp.status in (401, 403):
            # The gateway's own credentials were refused: the caller can do nothing about it, another
            # route may still answer.
            raise Retryable(UpstreamAuthFailed(
                f"The model provider {self.name!r} refused the gateway's credentials (HTTP {resp.status}); "
                "tell your administrator to check the provider's API key."))
        if resp.status >= 400:
            raise UpstreamRejected(f"The model provider refused the request: {_upstream_message(raw)}",
                                   status=resp.status if resp.status in (400, 404, 413, 422, 429) else 400)
        return resp

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._answer(await self._read_json(await self._post(body)))

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /embeddings`` on the same pooled connections; the answer has one embedding per input."""
        doc = await self._read_json(await self._post(body, self._embeddings_path))
        data = doc.get("data")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise self._unavailable("answered with a body that is not a list of embeddings")
        return doc

    async def _read_json(self, resp: Response) -> dict[str, Any]:
        try:
            raw = await resp.read()
        except HttpTimeout:
            raise self._timeout() from None
        except HttpTooLarge:
            raise self._too_large() from None
        except HttpError:
            raise self._unavailable("dropped the connection mid-answer") from None
        try:
            doc = _decode(raw)
        except msgspec.DecodeError:
            raise self._unavailable("answered with malformed JSON") from None
        if not isinstance(doc, dict):
            raise self._unavailable("answered with a body that is not a JSON object")
        return doc

    # What a provider of another wire format translates (providers/anthropic.py): the request, the
    # answer, and each stream event, to and from the chat form the stages work on.

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def _answer(self, doc: Any) -> dict[str, Any]:
        if not isinstance(doc, dict) or not isinstance(doc.get("choices"), list):
            raise self._unavailable("answered with a body that is not a chat completion")
        return doc

    def _stream_state(self) -> Any:
        return None

    def _translate(self, chunk: dict[str, Any], state: Any) -> list[dict[str, Any]]:
        return [chunk]

    async def open_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Send the request and return an iterator over its chunks once the stream has started.

        The first chunk is read before returning, so a provider that fails before saying anything
        still counts as retryable and a fallback can take over.
        """
        resp = await self._post(body)
        it = self._chunks(resp)
        try:
            first = await anext(it)
        except StopAsyncIteration:
            raise self._unavailable("closed the stream without a chunk") from None
        except BaseException:
            await it.aclose()
            raise

        async def chained() -> AsyncIterator[dict[str, Any]]:
            try:
                yield first
                async for c in it:
                    yield c
            finally:
                await it.aclose()

        return chained()

    async def _chunks(self, resp: Response) -> AsyncGenerator[dict[str, Any], None]:
        events = SseDecoder()
        state = self._stream_state()
        done = False
        try:
            async for data in resp.iter_chunks():
                if done:
                    continue
                for payload in events.feed(data):
                    if payload == b"[DONE]":
                        done = True
                        break
                    for chunk in self._chunks_of(payload, state):
                        yield chunk
            if not done:
                # A close-delimited stream may end without a blank line after its last event.
                for payload in events.end():
                    if payload != b"[DONE]":
                        for chunk in self._chunks_of(payload, state):
                            yield chunk
        except HttpTimeout:
            raise self._timeout() from None
        except HttpTooLarge:
            raise self._too_large() from None
        except HttpError:
            raise self._unavailable("dropped the connection mid-stream") from None

    def _chunks_of(self, payload: bytes, state: Any) -> list[dict[str, Any]]:
        try:
            return self._translate(self._chunk(_decode(payload)), state)
        except msgspec.DecodeError:
            pass
        if b"\n" in payload:
            # Several data lines with no blank line between them: one chunk a line, as some servers mean it.
            try:
                docs = [self._chunk(_decode(line)) for line in payload.split(b"\n") if line.strip()]
            except msgspec.DecodeError:
                pass
            else:
                return [c for doc in docs for c in self._translate(doc, state)]
        raise self._unavailable("sent a malformed stream chunk")

    def _chunk(self, chunk: Any) -> dict[str, Any]:
        if not isinstance(chunk, dict):
            raise self._unavailable("sent a stream chunk that is not an object")
        if "error" in chunk:
            raise self._unavailable("reported an error mid-stream")
        return chunk
