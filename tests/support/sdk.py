"""The official ``openai`` and ``anthropic`` SDKs as a test drives them."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx
import httpx2
import openai

from support.gateways import ApiKey, Gateway
from support.inprocess import InProcessApp


def streamed_text(client: openai.OpenAI, **params: Any) -> tuple[str, str]:
    """A streamed chat completion read to its end: (the request id, the text of every content delta)."""
    with client.chat.completions.with_streaming_response.create(stream=True, **params) as response:
        request_id = response.headers["x-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    return request_id, text



class _AnthropicBridge(httpx2.BaseTransport):
    """The anthropic SDK's HTTP stack (``httpx2``) into an in-process gateway (reached through ``httpx``)."""

    def __init__(self, app: InProcessApp) -> None:
        self._app = app

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        inner = httpx.Request(request.method, str(request.url), headers=list(request.headers.raw),
                              content=request.read())
        status, headers, raw = self._app.run(self._app._handle(inner, inner.content))
        return httpx2.Response(status, headers=list(headers.raw), content=raw, request=request)


class _AsyncAnthropicBridge(httpx2.AsyncBaseTransport):
    def __init__(self, app: InProcessApp) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        inner = httpx.Request(request.method, str(request.url), headers=list(request.headers.raw), content=body)
        loop = self._app._loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(self._app._handle(inner, body), loop)
        status, headers, raw = await asyncio.wrap_future(future)
        return httpx2.Response(status, headers=list(headers.raw), content=raw, request=request)


def anthropic_client(gateway: Gateway, key: ApiKey | str, *, timeout: float = 30) -> anthropic.Anthropic:
    """The official ``anthropic`` SDK for a gateway, in-process or served.

    The SDK sends the key as ``x-api-key`` and its ``anthropic-version`` header, as it does to Anthropic."""
    secret = key.key if isinstance(key, ApiKey) else key
    http_client = httpx2.Client(transport=_AnthropicBridge(gateway.app), timeout=timeout) \
        if gateway.app is not None else None
    return anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0, timeout=timeout,
                               http_client=http_client)


def async_anthropic_client(gateway: Gateway, key: ApiKey | str, *, timeout: float = 30) -> anthropic.AsyncAnthropic:
    secret = key.key if isinstance(key, ApiKey) else key
    http_client = httpx2.AsyncClient(transport=_AsyncAnthropicBridge(gateway.app), timeout=timeout) \
        if gateway.app is not None else None
    return anthropic.AsyncAnthropic(base_url=gateway.url, api_key=secret, max_retries=0, timeout=timeout,
                                    http_client=http_client)
