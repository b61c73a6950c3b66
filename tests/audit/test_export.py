from __future__ import annotations

import base64

import independent_verifier as ref
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sample_log import KEY_NAME, build_log

from interlock.audit.export import ProofBundleError, bundle_json, proof_bundle, verify_proof_bundle


def test_every_record_exports_a_bundle_a_third_party_can_verify() -> None:
    log = build_log(23, (23,))
    cp = log.checkpoints[0]
    leaves = [row.leaf_hash for row in log.rows]
    for row in log.rows:
        bundle = msgspec.json.decode(bundle_json(proof_bundle(row.record, row.seq, cp, leaves,
                                                              log.signer.public_key)))
        assert verify_proof_bundle(bundle, log.signer.public_key) == cp
        # The same bundle, checked only with the RFC-derived verifier and the published key.
        raw_key = base64.b64decode(bundle["public_key"].split("+", 2)[2])[1:]
        size, root = ref.check_note(bundle["checkpoint"], KEY_NAME, raw_key)
        proof = [base64.b64decode(h) for h in bundle["inclusion_proof"]]
        assert ref.check_inclusion(ref.hash_leaf(bundle["record"].encode()), bundle["leaf_index"], size,
                                   proof, root)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("record", '{"request_id":"forged"}', "not at seq"),
    ("leaf_index", 4, "not at seq"),
    ("tree_size", 9, "claims tree size"),
    ("format", "other/1", "unknown bundle format"),
    ("inclusion_proof", ["%%%"], "malformed"),
])
def test_a_tampered_bundle_is_refused(field: str, value: object, message: str) -> None:
    log = build_log(10, (10,))
    bundle = proof_bundle(log.rows[3].record, 3, log.checkpoints[0], [r.leaf_hash for r in log.rows],
                          log.signer.public_key)
    bundle[field] = value
    with pytest.raises(ProofBundleError, match=message):
        verify_proof_bundle(bundle, log.signer.public_key)


def test_a_bundle_signed_by_another_key_is_refused_when_the_key_is_pinned() -> None:
    log = build_log(4, (4,))
    bundle = proof_bundle(log.rows[0].record, 0, log.checkpoints[0], [r.leaf_hash for r in log.rows],
                          log.signer.public_key)
    verify_proof_bundle(bundle)
    with pytest.raises(ProofBundleError, match="key"):
        verify_proof_bundle(bundle, Ed25519PrivateKey.generate().public_key())


def test_a_record_beyond_the_checkpoint_cannot_be_exported() -> None:
    log = build_log(6, (4,))
    with pytest.raises(ProofBundleError, match="next checkpoint"):
        proof_bundle(log.rows[5].record, 5, log.checkpoints[0], [r.leaf_hash for r in log.rows],
                     log.signer.public_key)
