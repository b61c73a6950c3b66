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
    # Who created the key ("cli:<user>" or an administrator's id), and whether over another principal's
    # existing keys (a deliberate, recorded choice: the new key acts as that principal).
    created_by: str = ""
    forced: bool = False

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
            now: float | None = None, created_by: str = "", forced: bool = False) -> tuple[str, ApiKeyRecord]:
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
        created_by=created_by,
        forced=forced,
    )
    return key, record


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX) and len(token) > PREFIX_LEN + 16


def matches(record: ApiKeyRecord, presented: str) -> bool:
    return hmac.compare_digest(record.hash, hash_key(presented))


class KeyRequestError(ValueError):
    """A key that must not be created as asked; the message says what to change."""


def check_key_request(principal: Principal, *, known_roles: frozenset[str], ttl_seconds: float | None,
                      holds_keys: bool, force: bool) -> None:
    """Refuse a key that would borrow an identity or name what the catalogue does not know.

    ``holds_keys``: the principal already holds keys. A new key for them acts as them, so it needs
    ``force`` (key rotation is the usual reason), which is recorded in the key.
    """
    if ttl_seconds is not None and not ttl_seconds > 0:
        raise KeyRequestError(f"the lifetime must be a positive number of seconds, not {ttl_seconds!r}")
    unknown = sorted(principal.roles - known_roles)
    if unknown:
        raise KeyRequestError(f"unknown role(s) {', '.join(unknown)}: the policy catalogue knows "
                              f"{', '.join(sorted(known_roles)) or 'no roles'} (entities.yaml or policy.roles)")
    if holds_keys and not force:
        raise KeyRequestError(f"the principal {principal.id!r} already holds keys: a new key would act as them. "
                              f"To add a key for them (rotation), ask again with force; it is recorded")
    if (principal.act_for_ids or principal.act_for_groups) and not principal.may_act_for:
        raise KeyRequestError("act_for bounds are given for a principal that may not act for end users")
