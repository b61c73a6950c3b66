"""Console sessions: an API key exchanged for a sealed, expiring cookie, and the CSRF token it carries.

The cookie holds the key, the session's CSRF token and its expiry, encrypted and authenticated with
AES-GCM under a secret derived from the vault key, so every worker of a deployment opens it and nobody
can read or forge it. It is HTTP-only, SameSite=Strict, scoped to /console, and Secure unless the
settings say the console is served over plain HTTP.

Signing out ends the session on the server too: the session's id is written to the store (``SignOuts``)
for as long as its cookie could still be presented, and every request checks it, so a copy of the
cookie taken before sign-out is refused afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION_COOKIE = "interlock_console"
# Before sign-in there is no session to carry the CSRF token: the sign-in form's token is checked
# against this cookie instead (double submit), so another site cannot sign a browser in.
SIGNIN_COOKIE = "interlock_console_signin"
COOKIE_PATH = "/console"
_NONCE = 12


@dataclass(frozen=True)
class Session:
    key: str
    csrf: str
    expires: float
    principal: str
    tenant: str
    roles: tuple[str, ...]
    # Random, and what a sign-out names in the store.
    id: str = ""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class Sessions:
    """Seals and opens session cookies; ``secret`` is 32 bytes or more, ``lifetime`` in seconds."""

    def __init__(self, secret: bytes, lifetime: float, *, secure: bool) -> None:
        self._aead = AESGCM(hashlib.sha256(secret).digest())
        self.lifetime = lifetime
        self.secure = secure

    def new(self, key: str, principal: str, tenant: str, roles: tuple[str, ...],
            expires: float | None = None) -> Session:
        """A session for ``key`` (an API key, or an ID token), ending after the lifetime or at ``expires``
        if that is sooner."""
        end = time.time() + self.lifetime
        return Session(key, secrets.token_urlsafe(32), end if expires is None else min(end, expires), principal,
                       tenant, roles, secrets.token_urlsafe(24))

    def seal_text(self, text: str, purpose: str) -> str:
        """``text`` encrypted and authenticated for one ``purpose`` (a cookie's name)."""
        nonce = os.urandom(_NONCE)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, text.encode(), purpose.encode())).decode()

    def open_text(self, sealed: str | None, purpose: str) -> str | None:
        """What ``seal_text`` sealed for ``purpose``; None when missing, forged or damaged."""
        if not sealed:
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode()).decode()
        except (ValueError, InvalidTag):
            return None

    def seal(self, session: Session) -> str:
        return self.seal_text(json.dumps({"k": session.key, "c": session.csrf, "e": session.expires,
                                          "p": session.principal, "t": session.tenant, "r": list(session.roles),
                                          "i": session.id}), SESSION_COOKIE)

    def open(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session in ``cookie``, or None when it is missing, forged, damaged or expired."""
        text = self.open_text(cookie, SESSION_COOKIE)
        if text is None:
            return None
        try:
            data = json.loads(text)
            session = Session(str(data["k"]), str(data["c"]), float(data["e"]), str(data["p"]), str(data["t"]),
                              tuple(str(r) for r in data["r"]), str(data["i"]))
        except (ValueError, KeyError, TypeError, InvalidTag):
            return None
        return session if session.expires > (time.time() if now is None else now) else None

    def cookie(self, name: str, value: str, max_age: int, same_site: str = "Strict") -> str:
        """A Set-Cookie value: HTTP-only, SameSite=Strict (unless said), the console's path, Secure when configured."""
        parts = [f"{name}={value}", f"Path={COOKIE_PATH}", f"Max-Age={max_age}", "HttpOnly", f"SameSite={same_site}"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


class SignOutStore(Protocol):
    """The store's time-limited blobs (the vault's table): a sign-out is one row that expires with its cookie."""

    async def vault_get(self, conversation_id: str) -> bytes | None: ...

    async def vault_put(self, conversation_id: str, blob: bytes, ttl_seconds: float,
                        expected: bytes | None) -> bool: ...


# The rows live beside the vault's maps under their own prefix, named by a hash of the session id, so
# the store never holds the id a cookie carries. No new table: a row is read once per console request
# and purged with the vault's expired rows once the cookie it names has expired anyway. The vault's own
# names start with a base64 scope, which never holds a colon, so the two cannot meet.
_SIGNED_OUT_PREFIX = "console-signed-out:"


class SignOuts:
    def __init__(self, store: SignOutStore) -> None:
        self._store = store

    @staticmethod
    def _name(session: Session) -> str:
        return _SIGNED_OUT_PREFIX + hashlib.sha256(session.id.encode()).hexdigest()

    async def add(self, session: Session) -> None:
        left = session.expires - time.time()
        if left > 0:
            await self._store.vault_put(self._name(session), b"1", left + 60, None)

    async def ended(self, session: Session) -> bool:
        return await self._store.vault_get(self._name(session)) is not None


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given).encode(), expected.encode())
