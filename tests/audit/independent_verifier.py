"""A second, deliberately separate reading of RFC 6962 / RFC 9162 and the checkpoint note format.

It imports nothing from interlock.audit and is written recursively, straight from the RFC's
definitions, so a mistake in the production code is unlikely to be repeated here.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_leaf(data: bytes) -> bytes:
    return sha256(bytes([0]) + data)


def hash_children(left: bytes, right: bytes) -> bytes:
    return sha256(bytes([1]) + left + right)


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaf_data: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 over the raw entries (not pre-hashed)."""
    n = len(leaf_data)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hash_leaf(leaf_data[0])
    k = largest_power_of_two_below(n)
    return hash_children(mth(leaf_data[:k]), mth(leaf_data[k:]))


def root_from_path(leaf: bytes, m: int, n: int, proof: list[bytes]) -> bytes | None:
    """Undo PATH(m, D[n]): the last proof element is the sibling nearest the root."""
    if n == 1:
        return leaf if not proof else None
    if not proof:
        return None
    k = largest_power_of_two_below(n)
    sibling, rest = proof[-1], proof[:-1]
    if m < k:
        left = root_from_path(leaf, m, k, rest)
        return None if left is None else hash_children(left, sibling)
    right = root_from_path(leaf, m - k, n - k, rest)
    return None if right is None else hash_children(sibling, right)


def check_inclusion(leaf: bytes, m: int, n: int, proof: list[bytes], root: bytes) -> bool:
    return 0 <= m < n and root_from_path(leaf, m, n, proof) == root


def _rebuild(m: int, n: int, whole: bool, proof: list[bytes], old_root: bytes) -> tuple[bytes, bytes] | None:
    """Undo SUBPROOF(m, D[n], whole): the (old subtree, new subtree) hashes this proof implies."""
    if m == n:
        if whole:
            return (old_root, old_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = largest_power_of_two_below(n)
    last, rest = proof[-1], proof[:-1]
    if m <= k:
        got = _rebuild(m, k, whole, rest, old_root)
        return None if got is None else (got[0], hash_children(got[1], last))
    got = _rebuild(m - k, n - k, False, rest, old_root)
    return None if got is None else (hash_children(last, got[0]), hash_children(last, got[1]))


def check_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    if not 0 < m < n:
        return m == n and old_root == new_root and not proof
    got = _rebuild(m, n, True, proof, old_root)
    return got is not None and got == (old_root, new_root)


def check_note(note: str, name: str, public_key_raw: bytes) -> tuple[int, bytes]:
    """Verify a checkpoint note per c2sp.org/signed-note; return (tree size, root hash) or raise."""
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    key_id = sha256(name.encode() + b"\n" + b"\x01" + public_key_raw)[:4]
    key = Ed25519PublicKey.from_public_bytes(public_key_raw)
    for line in signatures.splitlines():
        if not line.startswith("\u2014 " + name + " "):
            continue
        blob = base64.b64decode(line.split(" ")[2])
        if blob[:4] != key_id:
            continue
        try:
            key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise ValueError("bad signature") from None
        origin, size, root = text.split("\n")[:3]
        if origin != name:
            raise ValueError("wrong origin")
        return int(size), base64.b64decode(root)
    raise ValueError("no signature from the expected key")
