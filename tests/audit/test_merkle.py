from __future__ import annotations

import hashlib

import independent_verifier as ref
import pytest

from interlock.merkle.tree import (
    EMPTY_ROOT,
    CachingSubtrees,
    MemoryLeaves,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    subtree_from_leaf_reader,
    verify_consistency,
    verify_inclusion,
)

# The eight-entry tree used by the certificate-transparency test suites, with its roots at each size.
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def entries(n: int) -> list[bytes]:
    return [f"record {i}".encode() for i in range(n)]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert MerkleAccumulator().root() == EMPTY_ROOT
    assert merkle_root([]) == EMPTY_ROOT


def test_small_trees_by_hand() -> None:
    la, lb, lc = (hashlib.sha256(b"\x00" + x).digest() for x in (b"a", b"b", b"c"))
    assert leaf_hash(b"a") == la
    assert node_hash(la, lb) == hashlib.sha256(b"\x01" + la + lb).digest()
    assert merkle_root([la]) == la
    ab = hashlib.sha256(b"\x01" + la + lb).digest()
    assert merkle_root([la, lb]) == ab
    # Three leaves split 2 + 1: the odd leaf is promoted, never duplicated.
    assert merkle_root([la, lb, lc]) == hashlib.sha256(b"\x01" + ab + lc).digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_certificate_transparency_known_roots(size: int) -> None:
    assert merkle_root([leaf_hash(x) for x in CT_LEAVES[:size]]).hex() == CT_ROOTS[size - 1]
    assert ref.mth(CT_LEAVES[:size]).hex() == CT_ROOTS[size - 1]


def test_accumulator_matches_recursive_tree_hash_for_every_size_to_300() -> None:
    data = entries(300)
    acc = MerkleAccumulator()
    assert acc.root() == ref.mth([])
    for n in range(1, 301):
        acc.append(leaf_hash(data[n - 1]))
        assert acc.size == n
        assert acc.root() == ref.mth(data[:n]), n


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 64, 255, 1000])
def test_frontier_round_trip_resumes_to_the_same_roots(size: int) -> None:
    leaves = [leaf_hash(x) for x in entries(size + 20)]
    acc = MerkleAccumulator()
    acc.extend(leaves[:size])
    resumed = MerkleAccumulator.from_bytes(acc.to_bytes())
    assert resumed.size == size
    assert resumed.root() == acc.root()
    resumed.extend(leaves[size:])
    assert resumed.root() == merkle_root(leaves)
    assert len(acc.to_bytes()) == 8 + 32 * size.bit_count()


def test_corrupt_frontier_is_refused() -> None:
    acc = MerkleAccumulator()
    acc.extend(leaf_hash(x) for x in entries(5))
    with pytest.raises(ValueError, match="corrupt"):
        MerkleAccumulator.from_bytes(acc.to_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        MerkleAccumulator.from_bytes(b"\x00")


def test_inclusion_proofs_for_every_index_and_size_to_64() -> None:
    data = entries(64)
    leaves = [leaf_hash(x) for x in data]
    for n in range(1, 65):
        root = ref.mth(data[:n])
        for i in range(n):
            proof = inclusion_proof(leaves, i, n)
            assert ref.check_inclusion(leaves[i], i, n, proof, root), (i, n)
            assert verify_inclusion(leaves[i], i, n, proof, root), (i, n)
            if proof:
                bad = [*proof[:-1], bytes(32)]
                assert not verify_inclusion(leaves[i], i, n, bad, root)
                assert not verify_inclusion(leaves[i], i, n, [*proof, bytes(32)], root)
            if n > 1:
                assert not verify_inclusion(leaves[i], (i + 1) % n, n, proof, root)
            assert not verify_inclusion(leaf_hash(b"forged"), i, n, proof, root)


def test_consistency_proofs_for_every_pair_of_sizes_to_64() -> None:
    data = entries(64)
    leaves = [leaf_hash(x) for x in data]
    roots = [ref.mth(data[:n]) for n in range(65)]
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = consistency_proof(leaves, m, n)
            assert ref.check_consistency(m, n, roots[m], roots[n], proof), (m, n)
            assert verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if m < n:
                assert not verify_consistency(m, n, roots[m - 1] if m > 1 else bytes(32), roots[n], proof)
                assert not verify_consistency(m, n, roots[m], roots[n - 1], proof)
                assert not verify_consistency(m, n, roots[m], roots[n], proof[:-1])


def test_consistency_edge_cases() -> None:
    assert consistency_proof(MemoryLeaves([leaf_hash(b"x")]), 0, 1) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, bytes(32), [])
    assert not verify_consistency(3, 2, bytes(32), bytes(32), [])
    with pytest.raises(ValueError, match="smaller"):
        consistency_proof([leaf_hash(b"x")], 2, 1)
    with pytest.raises(IndexError):
        inclusion_proof([leaf_hash(b"x")], 1, 1)


def test_streaming_and_caching_subtree_sources_give_the_same_proofs() -> None:
    leaves = [leaf_hash(x) for x in entries(300)]
    reads: list[tuple[int, int]] = []

    def read(a: int, b: int) -> list[bytes]:
        reads.append((a, b))
        return leaves[a:b]

    streaming = subtree_from_leaf_reader(read)
    cached = CachingSubtrees(streaming, min_size=16)
    for n in (1, 17, 64, 200, 300):
        for i in (0, n // 2, n - 1):
            assert inclusion_proof(cached, i, n) == inclusion_proof(leaves, i, n)
            assert inclusion_proof(streaming, i, n) == inclusion_proof(leaves, i, n)
        for m in (1, n // 3 or 1, n):
            assert consistency_proof(cached, m, n) == consistency_proof(leaves, m, n)
    reads.clear()
    inclusion_proof(cached, 5, 300)
    # Complete subtrees were remembered: only the young edge beyond the cache size is read again.
    assert all(b - a < 16 for a, b in reads)


def test_streaming_source_refuses_a_short_log() -> None:
    source = subtree_from_leaf_reader(lambda a, b: [leaf_hash(b"x")] * max(0, min(b, 3) - a))
    with pytest.raises(LookupError, match="shorter"):
        inclusion_proof(source, 0, 8)
