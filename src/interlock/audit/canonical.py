"""The one byte encoding of an audit record, so a record hashes the same everywhere, forever.

The rules (docs/audit.md gives the reasons): UTF-8, object keys sorted by code point, no whitespace,
non-ASCII written as itself, only ``"`` ``\\`` and control characters escaped, integers exactly,
finite floats in their shortest round-trip form, NaN and infinities refused.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import msgspec

# Sorting by code point is the same as sorting the UTF-8 bytes, so any language can reproduce it.
_encode = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.Decoder().decode


class NonCanonicalValue(ValueError):
    """A value that has no canonical encoding (a NaN or infinite float, a non-string key)."""


def canonical_json(obj: Any) -> bytes:
    """Encode a JSON-able value in the canonical form that leaf hashes are computed over."""
    try:
        out = _encode(obj)
    except (TypeError, UnicodeEncodeError) as exc:
        raise NonCanonicalValue(f"the audit record cannot be encoded canonically: {exc}; use only str keys "
                                "and JSON values (str, int, finite float, bool, None, list, dict)") from None
    # msgspec writes NaN and infinities as null; only then is the (rare) full walk worth doing.
    if b"null" in out:
        _reject_non_finite(obj)
    return out


def parse_canonical(data: bytes) -> Any:
    """Decode record bytes, refusing any that are not exactly in canonical form."""
    value = _decode(data)
    if _encode(value) != data:
        raise NonCanonicalValue("the record bytes are valid JSON but not in canonical form "
                                "(key order, whitespace, escaping or number format differ)")
    return value


def payload_hash(body: bytes) -> bytes:
    """The SHA-256 a record commits to for its separately stored (erasable) payload."""
    return hashlib.sha256(body).digest()


def _reject_non_finite(obj: Any) -> None:
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                raise NonCanonicalValue(f"the audit record holds a non-finite number ({value!r}); "
                                        "record it as null or a string instead")
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
