"""API keys: random, shown once, stored only as a hash, found by prefix, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from interlock.identity.principal import Principal

KEY_PREFIX = "il_"
# Characters of the key (after "il_") that are stored in the clear to find the row.
_LOOKUP_CHARS = 8
PREFIX_LEN = len(KEY_PREFIX) + _LOOKUP_CHARS


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    prefix: str
    hash: bytes
    name: str
    principal: Principal
    created: float
    expires: float | None = None
    revoked: float | None = None

    def state(self, now: float) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"


def hash_key(key: str) -> bytes:
    # Keys carry 256 bits of randomness, so a fast hash suffices: there is nothing to brute-force.
    return hashlib.sha256(key.encode("utf-8")).digest()


def new_key(name: str, principal: Principal, *, ttl_seconds: float | None = None,
            now: float | None = None) -> tuple[str, ApiKeyRecord]:
    """A fresh key and the record to store. The key itself is returned once and never stored."""
    created = time.time() if now is None else now
    body = secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")
    key = KEY_PREFIX + body
    record = ApiKeyRecord(
        id="key_" + secrets.token_hex(8),
        prefix=key[:PREFIX_LEN],
        hash=hash_key(key),
        name=name,
        principal=principal,
        created=created,
        expires=None if ttl_seconds is None else created + ttl_seconds,
    )
    return key, record


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX) and len(token) > PREFIX_LEN + 16


def matches(record: ApiKeyRecord, presented: str) -> bool:
    return hmac.compare_digest(record.hash, hash_key(presented))
