"""The vault: placeholder maps sealed with AES-GCM at rest, with a time to live and erasure.

The conversation id is the associated data, so a sealed map copied to another conversation's row
fails to open instead of leaking into it.

Turns of one conversation may run at the same time, each adding values to the map it read. A map is
stored only in place of the version it was read as (compare-and-set on the sealed bytes, which differ
on every save by their nonce). A turn that finds another's version stored meanwhile adds its new
entries to that one, and is told which of them it cannot keep as numbered: another turn stored a
different value under the same placeholder, or the same value under another one. The protect stage
then redoes its texts with the merged map before anything reaches the model, so a placeholder never
means two values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from interlock.redact.placeholders import Entry, PlaceholderMap

_VERSION = b"\x01"
_NONCE = 12


# Compare-and-set attempts before a save gives up (each one follows another turn's save).
SAVE_ATTEMPTS = 8


class VaultError(Exception):
    """A sealed map could not be opened: wrong key, wrong conversation, or tampered data."""


class VaultBusy(Exception):
    """Other turns of the conversation kept storing their maps first; nothing of this one was stored."""


class VaultCipher:
    def __init__(self, key_b64: str) -> None:
        try:
            key = base64.b64decode(key_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("vault key must be base64 (generate one with: openssl rand -base64 32)") from exc
        if len(key) != 32:
            raise ValueError(f"vault key must decode to 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._key = key

    def derive(self, label: str) -> str:
        """A secret for ``label`` that every process holding this key derives alike (HMAC-SHA256), so a
        deployment needs no second key file for it; it reveals nothing of the key."""
        return hmac.new(self._key, label.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()

    def seal_bytes(self, data: bytes, bound_to: str) -> bytes:
        """Encrypt ``data``; it opens only with this key and the same ``bound_to`` (authenticated, not secret)."""
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, bound_to.encode())

    def open_bytes(self, blob: bytes, bound_to: str) -> bytes:
        if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
            raise VaultError("sealed data has an unknown format")
        nonce, sealed = blob[1:1 + _NONCE], blob[1 + _NONCE:]
        try:
            return self._aead.decrypt(nonce, sealed, bound_to.encode())
        except InvalidTag as exc:
            raise VaultError(f"sealed data does not open with this key for {bound_to!r}") from exc

    def seal(self, mapping: PlaceholderMap) -> bytes:
        payload = json.dumps(
            [[e.placeholder, e.data_class, e.value] for e in mapping.entries()], ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        return self.seal_bytes(payload, mapping.conversation_id)

    def open(self, blob: bytes, conversation_id: str) -> PlaceholderMap:
        payload = self.open_bytes(blob, conversation_id)
        mapping = PlaceholderMap(conversation_id)
        for placeholder, data_class, value in json.loads(payload):
            mapping.add(Entry(placeholder, data_class, value))
        return mapping


class VaultStore(Protocol):
    """Where sealed maps live. Implementations: in memory (tests), SQLite, PostgreSQL."""

    async def get(self, conversation_id: str) -> bytes | None: ...

    async def put(self, conversation_id: str, blob: bytes, ttl_seconds: float, expected: bytes | None) -> bool:
        """Store ``blob`` only if what is stored now (unexpired) is ``expected`` (None: nothing); False if not."""
        ...

    async def erase(self, conversation_id: str) -> bool: ...

    async def purge_expired(self) -> int: ...


class InMemoryVaultStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rows: dict[str, tuple[bytes, float]] = {}

    async def get(self, conversation_id: str) -> bytes | None:
        row = self._rows.get(conversation_id)
        if row is None:
            return None
        if row[1] <= self._clock():
            del self._rows[conversation_id]
            return None
        return row[0]

    async def put(self, conversation_id: str, blob: bytes, ttl_seconds: float, expected: bytes | None) -> bool:
        if await self.get(conversation_id) != expected:
            return False
        self._rows[conversation_id] = (blob, self._clock() + ttl_seconds)
        return True

    async def erase(self, conversation_id: str) -> bool:
        return self._rows.pop(conversation_id, None) is not None

    async def purge_expired(self) -> int:
        now = self._clock()
        expired = [cid for cid, (_, deadline) in self._rows.items() if deadline <= now]
        for cid in expired:
            del self._rows[cid]
        return len(expired)


class Vault:
    """Cipher + store: load a conversation's map (a fresh one if none or expired), save it, erase it."""

    def __init__(self, cipher: VaultCipher, store: VaultStore, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("vault ttl_seconds must be positive")
        self._cipher = cipher
        self._store = store
        self._ttl = ttl_seconds

    async def load(self, conversation_id: str) -> PlaceholderMap:
        blob = await self._store.get(conversation_id)
        if blob is None:
            return PlaceholderMap(conversation_id)
        mapping = self._cipher.open(blob, conversation_id)
        mapping.mark_stored(blob)
        return mapping

    async def save(self, mapping: PlaceholderMap) -> list[Entry]:
        """Store the entries added to ``mapping`` since it was read, beside whatever another turn stored
        meanwhile; ``mapping`` becomes what is stored. Returns the added entries that could not be kept
        as numbered (see the module docstring): texts written with them must be redone with the map as
        it now is. Raises :class:`VaultBusy` if other turns kept saving first."""
        cid = mapping.conversation_id
        clashes: list[Entry] = []
        for _ in range(SAVE_ATTEMPTS):
            if not mapping.new_entries():
                return clashes
            sealed = self._cipher.seal(mapping)
            if await self._store.put(cid, sealed, self._ttl, mapping.stored_as):
                mapping.mark_stored(sealed)
                return clashes
            latest = await self.load(cid)
            for entry in mapping.new_entries():
                known = latest.placeholder_of(entry.data_class, entry.value)
                if known is None and latest.lookup(entry.placeholder) is None:
                    latest.add(entry)
                elif known != entry.placeholder:
                    clashes.append(entry)
            mapping.adopt(latest)
        raise VaultBusy(f"the placeholder map of conversation {cid!r} kept changing; nothing was stored")

    async def erase(self, conversation_id: str) -> bool:
        return await self._store.erase(conversation_id)
