"""Signed checkpoints: a tree size and root, signed with Ed25519 as a C2SP signed note.

A checkpoint commits the operator to every record below its size. The note text is::

    <key name>\\n
    <tree size, decimal>\\n
    <root hash, base64>\\n
    timestamp <unix milliseconds, decimal>\\n

followed by a blank line and ``— <key name> base64(key hash[4] || signature[64])``. The key name
doubles as the log's origin line, and ``key_id`` is ``<key name>+<key hash, 8 hex digits>``, so the
stored row (size, root, ts, key_id, signature) rebuilds the exact signed bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from interlock.merkle.tree import HASH_SIZE

#: The environment variable holding a base64 Ed25519 private key (32-byte seed or PKCS#8 DER).
SIGNING_KEY_ENV = "INTERLOCK_AUDIT_SIGNING_KEY"

_ED25519_TYPE = b"\x01"
_SIG_PREFIX = "\u2014 "


class CheckpointError(ValueError):
    """A checkpoint or key that cannot be trusted; the message says why and what to check."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    timestamp: float
    key_id: str
    signature: bytes

    @property
    def key_name(self) -> str:
        return self.key_id.rpartition("+")[0]

    def body(self) -> bytes:
        """The exact bytes the signature covers."""
        return _body(self.key_name, self.tree_size, self.root_hash, self.timestamp)

    def note(self) -> str:
        """The complete signed note, ready for any C2SP signed-note verifier."""
        key_hash = bytes.fromhex(self.key_id.rpartition("+")[2])
        sig = base64.b64encode(key_hash + self.signature).decode("ascii")
        return f"{self.body().decode('utf-8')}\n{_SIG_PREFIX}{self.key_name} {sig}\n"


def _body(name: str, tree_size: int, root_hash: bytes, timestamp: float) -> bytes:
    root = base64.b64encode(root_hash).decode("ascii")
    return f"{name}\n{tree_size}\n{root}\ntimestamp {round(timestamp * 1000)}\n".encode()


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise CheckpointError(f"the key name {name!r} is not usable: it must be non-empty, with no spaces "
                              "or '+'; use something like 'audit.example.com/interlock'")


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte C2SP key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + _ED25519_TYPE + raw).digest()[:4]


def key_id(name: str, public_key: Ed25519PublicKey) -> str:
    _check_name(name)
    return f"{name}+{key_hash(name, public_key).hex()}"


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """``<name>+<key hash hex>+<base64(0x01 || public key)>``: the public key in the form note tools read."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{key_id(name, public_key)}+{base64.b64encode(_ED25519_TYPE + raw).decode('ascii')}"


class CheckpointSigner:
    """Signs checkpoints with one private key under one key name (the log's origin)."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(name, self.public_key)
        self.name = name

    def sign(self, tree_size: int, root_hash: bytes, timestamp: float) -> Checkpoint:
        if tree_size < 0 or len(root_hash) != HASH_SIZE:
            raise CheckpointError("a checkpoint needs a tree size >= 0 and a 32-byte SHA-256 root")
        # The note carries milliseconds; rounding here makes the stored value match what was signed.
        ts = round(timestamp * 1000) / 1000
        signature = self._key.sign(_body(self.name, tree_size, root_hash, ts))
        return Checkpoint(tree_size, root_hash, ts, self.key_id, signature)

    def sign_statement(self, context: bytes, data: bytes) -> bytes:
        """Sign another statement of the log (a gap record, say) under ``context``, which keeps such a
        signature from ever passing for a checkpoint's or another kind of statement's."""
        return self._key.sign(b"interlock statement\n" + context + b"\n" + data)


def verify_statement(public_key: Ed25519PublicKey, signature: bytes, context: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, b"interlock statement\n" + context + b"\n" + data)
    except InvalidSignature:
        return False
    return True


def verify_checkpoint(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
    """Raise ``CheckpointError`` unless ``public_key`` signed exactly this checkpoint."""
    name = checkpoint.key_name
    expected = key_id(name, public_key) if name else ""
    if checkpoint.key_id != expected:
        raise CheckpointError(f"checkpoint at tree size {checkpoint.tree_size} names key "
                              f"{checkpoint.key_id!r}, but the public key given is "
                              f"{expected or 'different'!r}; verify with the key that signed it")
    try:
        public_key.verify(checkpoint.signature, checkpoint.body())
    except InvalidSignature:
        raise CheckpointError(f"checkpoint at tree size {checkpoint.tree_size}: the signature does not "
                              "match its size, root or timestamp: it was altered or forged") from None


def parse_note(text: str) -> Checkpoint:
    """Read a signed checkpoint note (as written by ``Checkpoint.note``); the signature is not yet checked."""
    body, sep, sigs = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) != 4 or not lines[3].startswith("timestamp "):
        raise CheckpointError("not an Interlock checkpoint note: expected origin, tree size, root and "
                              "timestamp lines, a blank line, then a signature line")
    name = lines[0]
    try:
        tree_size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
        ts = int(lines[3].removeprefix("timestamp ")) / 1000
    except (ValueError, binascii.Error):
        raise CheckpointError("the checkpoint note's size, root or timestamp line is malformed") from None
    for line in sigs.splitlines():
        signer, _, blob = line.removeprefix(_SIG_PREFIX).partition(" ")
        if not line.startswith(_SIG_PREFIX) or signer != name:
            continue
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            continue
        if len(raw) == 68:
            return Checkpoint(tree_size, root, ts, f"{name}+{raw[:4].hex()}", raw[4:])
    raise CheckpointError(f"the checkpoint note has no Ed25519 signature line from {name!r}")


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(data: bytes) -> Ed25519PrivateKey:
    """A private key from PEM (PKCS#8), a raw 32-byte seed, or base64 of either the seed or PKCS#8 DER."""
    if len(data) != 32:
        data = data.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        elif len(data) == 32:
            key = Ed25519PrivateKey.from_private_bytes(data)
        else:
            raw = base64.b64decode(data, validate=True)
            key = (Ed25519PrivateKey.from_private_bytes(raw) if len(raw) == 32
                   else serialization.load_der_private_key(raw, password=None))
    except (ValueError, TypeError, binascii.Error):
        raise CheckpointError("the audit signing key is not an Ed25519 private key in PEM, raw 32-byte or "
                              "base64 form; create one with `interlock audit keygen`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError("the audit signing key is not an Ed25519 key; create one with "
                              "`interlock audit keygen`")
    return key


def load_private_key_file(path: str | Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the audit signing key file {path}: {exc.strerror}") from None
    return load_private_key(data)


def load_private_key_env(var: str = SIGNING_KEY_ENV,
                         environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    value = (os.environ if environ is None else environ).get(var)
    if not value:
        raise CheckpointError(f"the environment variable {var} is not set; put a base64 Ed25519 key in it "
                              "(from `interlock audit keygen`) or configure a key file")
    return load_private_key(value.encode("ascii", "replace"))


def load_public_key(data: bytes | str) -> Ed25519PublicKey:
    """A public key from PEM, raw 32 bytes, base64 of 32 bytes, or a ``verifier_key`` string."""
    blob = data.encode() if isinstance(data, str) else data
    try:
        if blob.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(blob)
            if isinstance(key, Ed25519PublicKey):
                return key
            raise ValueError("not Ed25519")
        if len(blob) == 32:
            return Ed25519PublicKey.from_public_bytes(blob)
        text = blob.decode("ascii").strip()
        # Plain base64 of the 32 key bytes first: it may hold '+' anywhere, even where a verifier key's
        # separators would be, but a verifier key ("name+hash+base64 of 33 bytes") never decodes to 32 bytes.
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            parts = text.split("+", 2)
            # Key names and key hashes hold no '+'.
            if len(parts) != 3 or len(parts[1]) != 8:
                raise ValueError("neither base64 of 32 bytes nor a verifier key")
            raw = base64.b64decode(parts[2], validate=True)
            if raw[:1] != _ED25519_TYPE:
                raise ValueError("not an Ed25519 verifier key")
            raw = raw[1:]
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise CheckpointError("the audit public key is not an Ed25519 public key in PEM, raw, base64 or "
                              "verifier-key form; print it with `interlock audit keygen`") from None


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """What ``interlock audit keygen`` prints or writes: keep the private PEM secret, publish the rest."""

    private_pem: bytes
    private_base64: str
    public_pem: bytes
    verifier_key: str
    key_id: str


def keygen(name: str) -> KeyMaterial:
    key = generate_private_key()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    public = key.public_key()
    return KeyMaterial(private_key_pem(key), base64.b64encode(seed).decode("ascii"), public_key_pem(public),
                       verifier_key(name, public), key_id(name, public))
