"""Request bodies sent compressed (``Content-Encoding: gzip`` or ``deflate``), decoded within the body limit.

The decoded size is what counts against ``limits.max_body_bytes``: decompression stops one byte past
the limit, so a small body that would inflate to gigabytes (a zip bomb) costs at most the limit in
memory before it is refused with 413. Any other encoding is refused with 415: a body the gateway cannot
read is never passed on. A request without the header pays for one header comparison.
"""

from __future__ import annotations

import zlib

from interlock.errors import InvalidRequest, PayloadTooLarge, UnsupportedEncoding

# zlib window bits: 16 + 15 reads the gzip wrapper, 15 the zlib wrapper HTTP calls "deflate", -15 the bare
# deflate stream some clients send under that name.
_GZIP, _ZLIB, _RAW = 16 + 15, 15, -15
IDENTITY = frozenset({"", "identity"})
DECODED = ("gzip", "x-gzip", "deflate")


def encodings(value: str) -> list[str]:
    """The codings named in a Content-Encoding header (several headers arrive newline-joined), in the
    order they were applied; ``identity`` names none. Refuses one the gateway cannot decode."""
    named = [c.strip().lower() for c in value.replace("\n", ",").split(",")]
    codings = [c for c in named if c not in IDENTITY]
    for c in codings:
        if c not in DECODED:
            raise UnsupportedEncoding(f"The request body is sent with Content-Encoding {c!r}; the gateway reads "
                                      f"gzip, deflate or an unencoded body.")
    return codings


def decode(body: bytes, codings: list[str], limit: int) -> bytes:
    """``body`` with its codings undone, last applied first; 413 once the result would pass ``limit``."""
    for coding in reversed(codings):
        body = _inflate(body, coding, limit)
    return body


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    if coding == "deflate":
        # The zlib wrapper when it is there (its first byte names the method), else a bare stream.
        bits = _ZLIB if body[:1] and body[0] & 0x0F == 8 and int.from_bytes(body[:2], "big") % 31 == 0 else _RAW
    else:
        bits = _GZIP
    inflater = zlib.decompressobj(bits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise InvalidRequest(f"The request body is not valid {coding} data.") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"The request body decodes to more than the limit of {limit} bytes.")
    if not inflater.eof or inflater.unused_data:
        raise InvalidRequest(f"The request body is not one complete {coding} stream.")
    return out
