from __future__ import annotations

import base64
import dataclasses
import hashlib
import random
from pathlib import Path

import independent_verifier as ref
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from interlock.merkle.checkpoint import (
    CheckpointError,
    CheckpointSigner,
    keygen,
    load_private_key,
    load_private_key_env,
    load_private_key_file,
    load_public_key,
    parse_note,
    verify_checkpoint,
)

NAME = "audit.example.test/interlock"
ROOT = hashlib.sha256(b"root").digest()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate(), NAME)


def test_signed_checkpoint_verifies_and_its_note_verifies_independently(signer: CheckpointSigner) -> None:
    cp = signer.sign(42, ROOT, 1_718_000_000.1234)
    verify_checkpoint(cp, signer.public_key)
    assert cp.timestamp == 1_718_000_000.123
    note = cp.note()
    sig = base64.b64encode(bytes.fromhex(cp.key_id[-8:]) + cp.signature).decode()
    assert note == (f"{NAME}\n42\n{base64.b64encode(ROOT).decode()}\ntimestamp 1718000000123\n\n"
                    f"\u2014 {NAME} {sig}\n")
    assert ref.check_note(note, NAME, raw_public(signer.public_key)) == (42, ROOT)
    assert parse_note(note) == cp


@pytest.mark.parametrize("change", [
    {"tree_size": 43}, {"root_hash": hashlib.sha256(b"other").digest()}, {"timestamp": 1_718_000_001.0},
    {"signature": bytes(64)},
])
def test_any_change_to_a_checkpoint_breaks_its_signature(signer: CheckpointSigner,
                                                         change: dict[str, object]) -> None:
    cp = dataclasses.replace(signer.sign(42, ROOT, 1_718_000_000.0), **change)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="altered or forged"):
        verify_checkpoint(cp, signer.public_key)
    with pytest.raises(ValueError, match="bad signature"):
        ref.check_note(cp.note(), NAME, raw_public(signer.public_key))


def test_a_checkpoint_checked_with_another_key_is_refused(signer: CheckpointSigner) -> None:
    cp = signer.sign(1, ROOT, 0.0)
    with pytest.raises(CheckpointError, match="key that signed it"):
        verify_checkpoint(cp, Ed25519PrivateKey.generate().public_key())


def test_bad_key_names_and_malformed_notes_are_refused() -> None:
    with pytest.raises(CheckpointError, match="key name"):
        CheckpointSigner(Ed25519PrivateKey.generate(), "has space")
    with pytest.raises(CheckpointError, match="key name"):
        CheckpointSigner(Ed25519PrivateKey.generate(), "a+b")
    with pytest.raises(CheckpointError, match="not an Interlock checkpoint"):
        parse_note("hello\n")
    with pytest.raises(CheckpointError, match="no Ed25519 signature"):
        parse_note(f"{NAME}\n1\n{base64.b64encode(ROOT).decode()}\ntimestamp 0\n\n\u2014 other abc\n")


def test_keys_load_from_pem_raw_base64_and_the_environment(tmp_path: Path) -> None:
    material = keygen(NAME)
    key = load_private_key(material.private_pem)
    seed = base64.b64decode(material.private_base64)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "k.pem").write_bytes(material.private_pem)
    (tmp_path / "k.raw").write_bytes(seed)
    loaded = [
        load_private_key_file(tmp_path / "k.pem"),
        load_private_key_file(tmp_path / "k.raw"),
        load_private_key(material.private_base64.encode() + b"\n"),
        load_private_key(base64.b64encode(der)),
        load_private_key_env(environ={"INTERLOCK_AUDIT_SIGNING_KEY": material.private_base64}),
    ]
    expected = raw_public(key.public_key())
    assert all(raw_public(k.public_key()) == expected for k in loaded)
    for public in (material.public_pem, material.verifier_key, expected, base64.b64encode(expected)):
        assert raw_public(load_public_key(public)) == expected
    assert material.verifier_key.startswith(material.key_id + "+")
    cp = CheckpointSigner(key, NAME).sign(3, ROOT, 5.0)
    verify_checkpoint(cp, load_public_key(material.verifier_key))


def test_key_loading_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not set"):
        load_private_key_env(environ={})
    with pytest.raises(CheckpointError, match="keygen"):
        load_private_key(b"not a key at all")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_private_key_file(tmp_path / "missing.pem")
    with pytest.raises(CheckpointError, match="public key"):
        load_public_key("garbage!")


def test_plain_base64_public_keys_load_whatever_their_plus_signs() -> None:
    # Base64 may hold '+' where a verifier key's separators would be ("xxxx+8chars+rest"): such a key is
    # still read as plain base64, not refused as a malformed verifier key.
    rng = random.Random(7)
    tricky = []
    for _ in range(5000):
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)).public_key()
        text = base64.b64encode(raw_public(key)).decode()
        parts = text.split("+", 2)
        if len(parts) == 3 and len(parts[1]) == 8:
            tricky.append((text, raw_public(key)))
    assert tricky, "no key of that shape among 5000: widen the search"
    for text, raw in tricky:
        assert raw_public(load_public_key(text)) == raw
