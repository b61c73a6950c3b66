"""Compressed request bodies: decoded up to the limit and not a byte past it."""

from __future__ import annotations

import gzip
import zlib

import pytest

from interlock.api.encoding import decode, encodings
from interlock.errors import InvalidRequest, PayloadTooLarge, UnsupportedEncoding

LIMIT = 4096


def test_a_body_that_decodes_to_exactly_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    assert decode(gzip.compress(b"a" * LIMIT), ["gzip"], LIMIT) == b"a" * LIMIT
    with pytest.raises(PayloadTooLarge):
        decode(gzip.compress(b"a" * (LIMIT + 1)), ["gzip"], LIMIT)


def test_a_bomb_is_refused() -> None:
    bomb = zlib.compress(b"\0" * (32 * 1024 * 1024), 9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(PayloadTooLarge):
        decode(bomb, ["deflate"], LIMIT)


def test_codings_are_undone_last_applied_first() -> None:
    body = b'{"a": 1}'
    assert decode(gzip.compress(zlib.compress(body)), ["deflate", "gzip"], LIMIT) == body
    assert encodings("deflate, gzip") == ["deflate", "gzip"]
    assert encodings("identity") == []
    assert encodings("GZip\nidentity") == ["gzip"]  # two headers, as headers_of joins them


@pytest.mark.parametrize("value", ["br", "zstd", "gzip, br", "compress", "x"])
def test_an_encoding_the_gateway_cannot_read_is_refused(value: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        encodings(value)


def test_data_that_is_not_what_it_says_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        decode(b"plain text", ["gzip"], LIMIT)
    with pytest.raises(InvalidRequest):
        decode(gzip.compress(b"x") + b"tail", ["gzip"], LIMIT)
