"""Every legal way an OpenAI-compatible upstream may frame its answer, from a raw-socket server:
Content-Length, chunked and close-delimited bodies; gzip and deflate; SSE with comments, multi-line
data, CRLF or CR line endings and minimal chunks. Also the answer size cap and refused credentials."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from interlock.errors import UpstreamAuthFailed, UpstreamUnavailable
from interlock.providers.openai_compat import OpenAIUpstream, Retryable
from interlock.providers.sse import SseDecoder
from interlock.settings import ProviderSettings

COMPLETION = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "framed fine"},
                           "finish_reason": "stop"}]}
# Minimal chunks: no id, object or index, as some local servers send them.
CHUNKS = [{"choices": [{"delta": {"role": "assistant", "content": "fra"}}]},
          {"choices": [{"delta": {"content": "med "}}]},
          {"choices": [{"delta": {"content": "fine"}, "finish_reason": "stop"}]}]

Respond = Callable[[asyncio.StreamWriter], Awaitable[None]]


def encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "raw-deflate":
        c = zlib.compressobj(wbits=-15)
        return c.compress(body) + c.flush()
    return body


def sse(style: str) -> bytes:
    if style == "multiline":
        # One chunk's JSON split over several data: lines of one event.
        events = [b"data: " + json.dumps(c, indent=1).replace("\n", "\ndata: ").encode() for c in CHUNKS]
        return b"".join(e + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    events = [b": keep-alive comment\n"] + [b"data: " + json.dumps(c).encode() + b"\n\n" for c in CHUNKS]
    body = b"".join(events) + b"data: [DONE]\n\n"
    if style == "crlf":
        return body.replace(b"\n", b"\r\n")
    if style == "cr":
        return body.replace(b"\n", b"\r")
    if style == "no-final-blank-line":
        return b"".join(events)[:-1]
    return body


async def upstream(framing: str, encoding: str, body: bytes, status: int = 200,
                   content_type: bytes = b"application/json") -> tuple[asyncio.Server, str]:
    payload = encode(body, encoding)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        headers = [b"HTTP/1.1 %d X" % status, b"content-type: " + content_type]
        if encoding != "identity":
            headers.append(b"content-encoding: " + (b"deflate" if "deflate" in encoding else encoding.encode()))
        if framing == "length":
            headers.append(b"content-length: %d" % len(payload))
        elif framing == "chunked":
            headers.append(b"transfer-encoding: chunked")
        else:
            headers.append(b"connection: close")
        writer.write(b"\r\n".join(headers) + b"\r\n\r\n")
        # Odd-sized pieces, so events, lines, CRLF pairs and compressed blocks are split across reads.
        for i in range(0, len(payload), 7):
            piece = payload[i:i + 7]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece)
            await writer.drain()
        if framing == "chunked":
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


@contextlib.asynccontextmanager
async def served(framing: str, encoding: str, body: bytes, *, status: int = 200,
                 content_type: bytes = b"application/json", **extra: Any) -> AsyncIterator[OpenAIUpstream]:
    """An upstream client, started, in front of a raw server that answers every request with ``body``."""
    server, url = await upstream(framing, encoding, body, status=status, content_type=content_type)
    up = OpenAIUpstream("raw", ProviderSettings(base_url=url, read_timeout_seconds=5, **extra))
    await up.start()
    try:
        yield up
    finally:
        await up.close()
        server.close()


FRAMINGS = ("length", "chunked", "close")
ENCODINGS = ("identity", "gzip", "deflate", "raw-deflate")


@pytest.mark.parametrize(("framing", "encoding"), list(itertools.product(FRAMINGS, ENCODINGS)))
async def test_a_whole_answer_in_every_framing_and_encoding(framing: str, encoding: str) -> None:
    async with served(framing, encoding, json.dumps(COMPLETION).encode()) as up:
        doc = await up.complete({"model": "m", "messages": []})
    assert doc["choices"][0]["message"]["content"] == "framed fine"


@pytest.mark.parametrize(("framing", "encoding", "style"), [
    *((f, e, "plain") for f, e in itertools.product(FRAMINGS, ENCODINGS)),
    *((f, "identity", s) for f, s in itertools.product(FRAMINGS, ("crlf", "cr", "multiline"))),
    ("close", "identity", "no-final-blank-line"),
    ("close", "gzip", "crlf"),
])
async def test_a_stream_in_every_framing_encoding_and_line_style(framing: str, encoding: str, style: str) -> None:
    async with served(framing, encoding, sse(style), content_type=b"text/event-stream") as up:
        stream = await up.open_stream({"model": "m", "messages": [], "stream": True})
        text = "".join([c["choices"][0]["delta"].get("content", "") async for c in stream])
    assert text == "framed fine"


@pytest.mark.parametrize("framing", FRAMINGS)
async def test_an_answer_over_the_size_cap_is_refused(framing: str) -> None:
    big = {**COMPLETION, "padding": "x" * 200_000}
    async with served(framing, "identity", json.dumps(big).encode(), max_response_bytes=100_000) as up:
        with pytest.raises(Retryable) as raised:
            await up.complete({"model": "m", "messages": []})
    assert isinstance(raised.value.refusal, UpstreamUnavailable)
    assert "100000 bytes" in raised.value.refusal.message


async def test_a_small_compressed_answer_that_expands_past_the_cap_is_refused() -> None:
    bomb = b'{"choices": [], "padding": "' + b"0" * 5_000_000 + b'"}'
    async with served("length", "gzip", bomb, max_response_bytes=1_000_000) as up:
        with pytest.raises(Retryable) as raised:
            await up.complete({"model": "m", "messages": []})
    assert "1000000 bytes" in raised.value.refusal.message


async def test_a_stream_over_the_size_cap_is_cut() -> None:
    many = b"".join(b"data: " + json.dumps(CHUNKS[1]).encode() + b"\n\n" for _ in range(5_000))
    async with served("chunked", "identity", many, content_type=b"text/event-stream", max_response_bytes=50_000) as up:
        with pytest.raises(Retryable) as raised:
            # Cut wherever the cap is crossed: before the first chunk or mid-stream.
            async for _ in await up.open_stream({"model": "m", "messages": [], "stream": True}):
                pass
    assert "50000 bytes" in raised.value.refusal.message


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_gateway_credentials_are_the_gateways_problem(status: int) -> None:
    async with served("length", "identity", b'{"error": {"message": "bad key sk-...x"}}', status=status) as up:
        with pytest.raises(Retryable) as raised:
            await up.complete({"model": "m", "messages": []})
    refusal = raised.value.refusal
    assert isinstance(refusal, UpstreamAuthFailed)
    assert (refusal.status, refusal.code) == (502, "upstream_auth_failed")
    assert "sk-" not in refusal.message


def test_sse_decoder_holds_a_cr_that_may_start_a_crlf() -> None:
    d = SseDecoder()
    assert d.feed(b"data: {}\r") == []
    assert d.feed(b"\n\r") == []
    assert d.feed(b"\ndata: 2\r\n\r\n") == [b"{}", b"2"]
    assert d.end() == []
