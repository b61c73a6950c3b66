"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Proofs are built over a ``SubtreeHash``: a callable giving the Merkle Tree Hash of leaves [a, b). A
store backs it with a range read of leaf hashes (``subtree_from_leaf_reader``), so a proof for a
large log never needs every leaf in memory; ``CachingSubtrees`` remembers complete subtrees, which
never change once full, so repeated proofs read only the young edge of the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
_sha256 = hashlib.sha256

#: The Merkle Tree Hash of the empty tree: SHA-256 of the empty string.
EMPTY_ROOT = _sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]
"""The Merkle Tree Hash of leaves [a, b) of the log, with 0 <= a < b <= tree size."""


def leaf_hash(data: bytes) -> bytes:
    # The 0x00 / 0x01 prefixes keep a leaf from ever being passed off as an interior node.
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2): where RFC 6962 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleAccumulator:
    """The root of a growing log in O(log n) memory: one hash per complete subtree on the right edge.

    The frontier holds, largest first, the roots of the perfect subtrees that the binary form of the
    size describes; ``to_bytes`` lets a writer resume after a restart without re-reading the log.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (already ``leaf_hash``-ed)."""
        n = self._size
        frontier = self._frontier
        h = leaf
        # Each trailing 1 bit of the old size is a complete subtree that the new leaf now pairs with.
        while n & 1:
            h = _sha256(b"\x01" + frontier.pop() + h).digest()
            n >>= 1
        frontier.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        frontier = self._frontier
        if not frontier:
            return EMPTY_ROOT
        h = frontier[-1]
        for left in reversed(frontier[:-1]):
            h = _sha256(b"\x01" + left + h).digest()
        return h

    def copy(self) -> MerkleAccumulator:
        other = MerkleAccumulator()
        other._size = self._size
        other._frontier = list(self._frontier)
        return other

    def to_bytes(self) -> bytes:
        """8-byte big-endian size, then the frontier hashes, largest subtree first."""
        return self._size.to_bytes(8, "big") + b"".join(self._frontier)

    @classmethod
    def from_bytes(cls, data: bytes) -> MerkleAccumulator:
        if len(data) < 8:
            raise ValueError("a Merkle frontier is at least 8 bytes (the tree size); this one is truncated")
        size = int.from_bytes(data[:8], "big")
        count = size.bit_count()
        if len(data) != 8 + HASH_SIZE * count:
            raise ValueError(f"a Merkle frontier for {size} leaves holds {count} hashes "
                             f"({8 + HASH_SIZE * count} bytes), not {len(data)} bytes; it is corrupt")
        acc = cls()
        acc._size = size
        acc._frontier = [data[8 + i * HASH_SIZE: 8 + (i + 1) * HASH_SIZE] for i in range(count)]
        return acc


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """The Merkle Tree Hash over leaf hashes."""
    acc = MerkleAccumulator()
    acc.extend(leaves)
    return acc.root()


class MemoryLeaves:
    """A ``SubtreeHash`` over leaf hashes held in memory (tests, small logs)."""

    __slots__ = ("_leaves",)

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._leaves = leaves

    def __len__(self) -> int:
        return len(self._leaves)

    def __call__(self, start: int, end: int) -> bytes:
        _check_range(start, end, len(self._leaves))
        return merkle_root(self._leaves[start:end])


def subtree_from_leaf_reader(read: Callable[[int, int], Iterable[bytes]]) -> SubtreeHash:
    """Adapt ``read(a, b)``, which yields the leaf hashes of seq a..b-1 in order, into a ``SubtreeHash``.

    The leaves stream through an accumulator, so memory stays O(log n) whatever the range.
    """

    def subtree(start: int, end: int) -> bytes:
        acc = MerkleAccumulator()
        acc.extend(read(start, end))
        if acc.size != end - start:
            raise LookupError(f"the log returned {acc.size} leaf hashes for seq {start}..{end - 1}, "
                              f"expected {end - start}; the log is shorter than the requested tree")
        return acc.root()

    return subtree


class CachingSubtrees:
    """Wraps a ``SubtreeHash``, remembering complete aligned subtrees of at least ``min_size`` leaves.

    Proof ranges always start on a boundary aligned to their size, so each splits into complete
    subtrees (cacheable forever) and a short young tail read through ``inner``.
    """

    def __init__(self, inner: SubtreeHash, *, min_size: int = 256) -> None:
        if min_size < 1 or min_size & (min_size - 1):
            raise ValueError("min_size must be a power of two")
        self._inner = inner
        self._min = min_size
        self._cache: dict[tuple[int, int], bytes] = {}

    def __call__(self, start: int, end: int) -> bytes:
        pieces: list[bytes] = []
        pos = start
        while end - pos >= self._min:
            size = 1 << ((end - pos).bit_length() - 1)
            if pos % size:
                # Not a proof-shaped range; nothing here is safe to cache.
                return self._inner(start, end)
            key = (pos, size)
            h = self._cache.get(key)
            if h is None:
                h = self._cache[key] = self._inner(pos, pos + size)
            pieces.append(h)
            pos += size
        if pos < end:
            pieces.append(self._inner(pos, end))
        h = pieces[-1]
        for left in reversed(pieces[:-1]):
            h = node_hash(left, h)
        return h


def _check_range(start: int, end: int, size: int) -> None:
    if not 0 <= start < end <= size:
        raise IndexError(f"subtree [{start}, {end}) is outside a log of {size} leaves")


def _source(source: SubtreeHash | Sequence[bytes]) -> SubtreeHash:
    return MemoryLeaves(source) if isinstance(source, Sequence) else source


def inclusion_proof(source: SubtreeHash | Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 section 2.1.3.1 audit path of leaf ``index`` in the tree of the first ``tree_size`` leaves."""
    if not 0 <= index < tree_size:
        raise IndexError(f"leaf {index} is not in a tree of {tree_size} leaves")
    subtree = _source(source)
    path: list[bytes] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index - lo < k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(source: SubtreeHash | Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 section 2.1.4.1 proof that the first ``old_size`` leaves are a prefix of ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to the smaller size {new_size}")
    if old_size in (0, new_size):
        return []
    subtree = _source(source)
    path: list[bytes] = []
    lo, hi, m, whole = 0, new_size, old_size, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        path.append(subtree(lo, hi))
    path.reverse()
    return path


def root_from_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` implies for ``leaf`` at ``index``, or None if the proof has the wrong shape."""
    if not 0 <= index < tree_size:
        return None
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: is ``leaf`` at ``index`` in the ``tree_size``-leaf tree with ``root``?"""
    return root_from_inclusion(leaf, index, tree_size, proof) == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree (``old_size``, ``old_root``) a prefix of the new one?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
