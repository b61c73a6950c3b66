"""An upstream that speaks the OpenAI chat-completions wire format (OpenAI, Azure, vLLM, Ollama...).

One pooled keep-alive session per provider, created at start-up. Errors are classified once here:
``Retryable`` (connection refused, 5xx, timeout, garbage) may fall back to another route;
anything else the upstream says is passed to the caller as its own error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from interlock.errors import Refusal, UpstreamTimeout, UpstreamUnavailable
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
        self._url = settings.base_url + "/chat/completions"
        if settings.type == "azure" and settings.api_version:
            self._url += f"?api-version={settings.api_version}"
        headers = {"content-type": "application/json", **settings.headers}
        key = settings.api_key()
        if key:
            if settings.type == "azure":
                headers["api-key"] = key
            else:
                headers["authorization"] = f"Bearer {key}"
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        s = self.settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_connections, keepalive_timeout=60,
                                           ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None, connect=s.connect_timeout_seconds,
                                          sock_read=s.read_timeout_seconds),
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _unavailable(self, what: str) -> Retryable:
        return Retryable(UpstreamUnavailable(f"The model provider {self.name!r} {what}; try again later."))

    def _timeout(self) -> Retryable:
        return Retryable(UpstreamTimeout(f"The model provider {self.name!r} did not answer in time; "
                                         "try again later or with a smaller request."))

    async def _post(self, body: dict[str, Any]) -> aiohttp.ClientResponse:
        if self._session is None:
            raise RuntimeError("upstream session not started")
        try:
            resp = await self._session.post(self._url, data=_encode(body), headers=self._headers)
        except TimeoutError:
            raise self._timeout() from None
        except aiohttp.ClientError as exc:
            raise self._unavailable(f"could not be reached ({type(exc).__name__})") from None
        if resp.status >= 500:
            await resp.read()
            resp.release()
            raise self._unavailable(f"failed with HTTP {resp.status}")
        if resp.status >= 400:
            raw = await resp.read()
            resp.release()
            raise UpstreamRejected(f"The model provider refused the request: {_upstream_message(raw)}",
                                   status=resp.status if resp.status in (400, 404, 413, 422, 429) else 400)
        return resp

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self._post(body)
        try:
            raw = await resp.read()
        except TimeoutError:
            raise self._timeout() from None
        except aiohttp.ClientError:
            raise self._unavailable("dropped the connection mid-answer") from None
        finally:
            resp.release()
        try:
            doc = _decode(raw)
        except msgspec.DecodeError:
            raise self._unavailable("answered with malformed JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("choices"), list):
            raise self._unavailable("answered with a body that is not a chat completion")
        return doc

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

        async def chained() -> AsyncIterator[dict[str, Any]]:
            yield first
            async for c in it:
                yield c

        return chained()

    async def _chunks(self, resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
        try:
            async for raw_line in resp.content:
                line = raw_line.strip()
                if not line or not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                try:
                    chunk = _decode(data)
                except msgspec.DecodeError:
                    raise self._unavailable("sent a malformed stream chunk") from None
                if not isinstance(chunk, dict):
                    raise self._unavailable("sent a stream chunk that is not an object")
                if "error" in chunk:
                    raise self._unavailable("reported an error mid-stream")
                yield chunk
        except TimeoutError:
            raise self._timeout() from None
        except aiohttp.ClientError:
            raise self._unavailable("dropped the connection mid-stream") from None
        finally:
            resp.release()


def now_ms() -> float:
    return time.perf_counter() * 1000.0
