from __future__ import annotations

import base64

import pytest

from interlock.redact import Entry, InMemoryVaultStore, PlaceholderMap, Vault, VaultBusy, VaultCipher, VaultError


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
    assert await store.put("a", b"x", 10, None)
    assert await store.put("b", b"y", 100, None)
    now[0] += 50
    assert await store.purge_expired() == 1
    assert await store.get("b") == b"y"


# -- turns of one conversation at the same time ------------------------------------------------------


def _vault(store: InMemoryVaultStore | None = None) -> Vault:
    return Vault(VaultCipher(VaultCipher.generate_key()), store or InMemoryVaultStore(), ttl_seconds=60)


async def test_two_turns_adding_different_classes_both_keep_theirs() -> None:
    vault = _vault()
    await vault.save(_mapping())
    a, b = await vault.load("conv-1"), await vault.load("conv-1")
    assert a.placeholder_for("pii.email", "ann@example.com") == "[EMAIL_3]"
    assert b.placeholder_for("pii.phone_number", "+44 20 7946 0000") == "[PHONE_NUMBER_1]"
    assert await vault.save(a) == []
    assert await vault.save(b) == []
    # The second turn's map became what is stored: both turns' entries.
    assert b.lookup("[EMAIL_3]") is not None
    stored = await vault.load("conv-1")
    assert {e.placeholder: e.value for e in stored.entries()} == {
        "[EMAIL_1]": "jane@example.com", "[EMAIL_2]": "bob@example.com", "[PASSWORD_1]": "hunter2",
        "[EMAIL_3]": "ann@example.com", "[PHONE_NUMBER_1]": "+44 20 7946 0000"}
    assert stored.new_entries() == []


async def test_a_placeholder_another_turn_took_is_a_clash_and_never_means_two_values() -> None:
    vault = _vault()
    await vault.save(_mapping())
    a, b = await vault.load("conv-1"), await vault.load("conv-1")
    assert a.placeholder_for("pii.email", "ann@example.com") == "[EMAIL_3]"
    assert b.placeholder_for("pii.email", "cat@example.com") == "[EMAIL_3]"
    # Both turns found the same value: the same number, no clash.
    assert a.placeholder_for("pii.email", "dan@example.com") == "[EMAIL_4]"
    assert b.placeholder_for("pii.email", "dan@example.com") == "[EMAIL_4]"
    assert await vault.save(a) == []
    clashes = await vault.save(b)
    assert [(e.placeholder, e.value) for e in clashes] == [("[EMAIL_3]", "cat@example.com")]
    # b now holds what is stored, where [EMAIL_3] is a's value; numbering its own value again gives a new one.
    assert b.lookup("[EMAIL_3]") == Entry("[EMAIL_3]", "pii.email", "ann@example.com")
    assert b.placeholder_for("pii.email", "cat@example.com") == "[EMAIL_5]"
    assert await vault.save(b) == []
    stored = await vault.load("conv-1")
    values = [e.value for e in stored.entries()]
    assert len(values) == len(set(values)) == 6
    assert stored.lookup("[EMAIL_5]") == Entry("[EMAIL_5]", "pii.email", "cat@example.com")


async def test_a_value_another_turn_numbered_otherwise_is_a_clash() -> None:
    vault = _vault()
    a, b = await vault.load("conv-1"), await vault.load("conv-1")
    a.placeholder_for("pii.email", "ann@example.com")
    a.placeholder_for("pii.email", "cat@example.com")
    assert b.placeholder_for("pii.email", "cat@example.com") == "[EMAIL_1]"
    assert await vault.save(a) == []
    clashes = await vault.save(b)
    assert [(e.placeholder, e.value) for e in clashes] == [("[EMAIL_1]", "cat@example.com")]
    assert b.placeholder_for("pii.email", "cat@example.com") == "[EMAIL_2]"


class _AlwaysChanged(InMemoryVaultStore):
    """Another turn stores its map first every time."""

    async def put(self, conversation_id: str, blob: bytes, ttl_seconds: float, expected: bytes | None) -> bool:
        return False


async def test_a_save_that_keeps_losing_gives_up_and_stores_nothing() -> None:
    store = _AlwaysChanged()
    vault = _vault(store)
    with pytest.raises(VaultBusy):
        await vault.save(_mapping())
    assert await store.get("conv-1") is None
