from __future__ import annotations

import base64

import pytest

from interlock.redact import InMemoryVaultStore, PlaceholderMap, Vault, VaultCipher, VaultError


def _mapping() -> PlaceholderMap:
    m = PlaceholderMap("conv-1")
    m.placeholder_for("pii.email", "jane@example.com")
    m.placeholder_for("pii.email", "bob@example.com")
    m.placeholder_for("secret.password", "hunter2")
    return m


def test_seal_open_roundtrip_and_numbering_continues() -> None:
    cipher = VaultCipher(VaultCipher.generate_key())
    blob = cipher.seal(_mapping())
    assert b"jane@example.com" not in blob
    opened = cipher.open(blob, "conv-1")
    assert [(e.placeholder, e.value) for e in opened.entries()] == [
        ("[EMAIL_1]", "jane@example.com"), ("[EMAIL_2]", "bob@example.com"), ("[PASSWORD_1]", "hunter2")]
    assert opened.placeholder_for("pii.email", "new@example.com") == "[EMAIL_3]"
    assert opened.placeholder_for("pii.email", "jane@example.com") == "[EMAIL_1]"


def test_conversation_id_is_bound() -> None:
    cipher = VaultCipher(VaultCipher.generate_key())
    with pytest.raises(VaultError):
        cipher.open(cipher.seal(_mapping()), "conv-2")


def test_tampering_and_wrong_key_detected() -> None:
    cipher = VaultCipher(VaultCipher.generate_key())
    blob = bytearray(cipher.seal(_mapping()))
    blob[-1] ^= 1
    with pytest.raises(VaultError):
        cipher.open(bytes(blob), "conv-1")
    with pytest.raises(VaultError):
        VaultCipher(VaultCipher.generate_key()).open(cipher.seal(_mapping()), "conv-1")


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"short").decode()])
def test_bad_keys_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="vault key"):
        VaultCipher(key)


async def test_store_ttl_erase_and_purge() -> None:
    now = [1000.0]
    store = InMemoryVaultStore(clock=lambda: now[0])
    vault = Vault(VaultCipher(VaultCipher.generate_key()), store, ttl_seconds=60)
    await vault.save(_mapping())
    assert len(await vault.load("conv-1")) == 3
    assert len(await vault.load("other")) == 0
    now[0] += 61
    assert len(await vault.load("conv-1")) == 0
    await vault.save(_mapping())
    assert await vault.erase("conv-1") is True
    assert await vault.erase("conv-1") is False
    await store.put("a", b"x", 10)
    await store.put("b", b"y", 100)
    now[0] += 50
    assert await store.purge_expired() == 1
    assert await store.get("b") == b"y"
