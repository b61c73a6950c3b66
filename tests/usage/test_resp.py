"""The minimal Redis client of the hot path: replies parsed whole or in pieces, errors, deadlines."""

from __future__ import annotations

import asyncio

import pytest

from interlock.usage.resp import RedisError, RespClient, _Incomplete, _parse, pack
from support.redis import SHARED_URL, shared_redis, unique_prefix


def test_commands_are_packed_as_arrays_of_bulk_strings() -> None:
    assert pack("GET", "k", 12) == b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$2\r\n12\r\n"


@pytest.mark.parametrize(("raw", "value"), [
    (b":42\r\n", 42),
    (b"+OK\r\n", "OK"),
    (b"$-1\r\n", None),
    (b"$5\r\nhe\r\nl\r\n", b"he\r\nl"),
    (b"*3\r\n:1\r\n*2\r\n:-2\r\n$1\r\nx\r\n$0\r\n\r\n", [1, [-2, b"x"], b""]),
])
def test_replies_parse_whole_and_not_before_they_are_whole(raw: bytes, value: object) -> None:
    assert _parse(bytearray(raw), 0) == (value, len(raw))
    for cut in range(1, len(raw)):
        with pytest.raises(_Incomplete):
            _parse(bytearray(raw[:cut]), 0)


def test_an_error_reply_is_a_value_the_caller_raises() -> None:
    err, _ = _parse(bytearray(b"-NOSCRIPT No matching script\r\n"), 0)
    assert isinstance(err, RedisError)
    assert str(err).startswith("NOSCRIPT")


@pytest.mark.redis
async def test_pipelined_calls_get_their_own_replies() -> None:
    shared_redis().close()
    client = RespClient(SHARED_URL, 2.0)
    key = "{" + unique_prefix() + ":x}:n"
    try:
        replies = await asyncio.gather(*(client.call(pack("INCRBY", key, i)) for i in range(1, 51)))
        # Each reply is the running total after its own increment, so each call got its own reply.
        assert sorted(replies) == sorted(sum(range(1, i + 1)) for i in range(1, 51))
        with pytest.raises(RedisError):
            await client.call(pack("NOSUCHCOMMAND"))
        assert await client.call(pack("DEL", key)) == 1
    finally:
        await client.close()


@pytest.mark.redis
async def test_a_pipeline_returns_every_reply_in_order_errors_in_place() -> None:
    shared_redis().close()
    client = RespClient(SHARED_URL, 2.0)
    key = "{" + unique_prefix() + ":x}:n"
    try:
        replies = await client.pipeline([pack("INCRBY", key, 1), pack("NOSUCHCOMMAND"), pack("INCRBY", key, 2),
                                         pack("DEL", key)])
        # An error reply is a value in its place, not raised: the others' replies still count.
        assert replies[0] == 1
        assert isinstance(replies[1], RedisError)
        assert replies[2:] == [3, 1]
    finally:
        await client.close()


async def test_a_silent_server_times_out_and_the_next_call_reconnects() -> None:
    accepted: list[asyncio.StreamWriter] = []
    answer = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        try:
            while data := await reader.read(1024):
                if answer.is_set() and data:
                    writer.write(b":7\r\n")
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RespClient(f"redis://127.0.0.1:{port}/0", 0.2)
    try:
        with pytest.raises(TimeoutError):
            await client.call(pack("PING"))
        answer.set()
        assert await client.call(pack("PING")) == 7
        assert len(accepted) == 2  # the connection whose reply never came was dropped
    finally:
        await client.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)  # the handlers see their connections close and finish

