"""Proof bundles: one record plus everything a third party needs to check it was in the signed log.

A bundle is a JSON object (docs/audit.md walks through verifying it by hand)::

    format           "interlock-audit-proof/1"
    record           the canonical record, as text (its UTF-8 bytes are the leaf data)
    leaf_index       the record's seq
    tree_size        the checkpoint's tree size
    inclusion_proof  RFC 9162 audit path, base64 hashes, deepest first
    checkpoint       the complete signed note
    public_key       "<name>+<key hash>+<base64(0x01 || Ed25519 public key)>"
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from interlock.audit.canonical import canonical_json
from interlock.merkle.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_public_key,
    parse_note,
    verifier_key,
    verify_checkpoint,
)
from interlock.merkle.tree import SubtreeHash, inclusion_proof, leaf_hash, verify_inclusion

BUNDLE_FORMAT = "interlock-audit-proof/1"


class ProofBundleError(ValueError):
    """A proof bundle that does not prove what it claims; the message says which check failed."""


def proof_bundle(record: bytes, leaf_index: int, checkpoint: Checkpoint,
                 source: SubtreeHash | Sequence[bytes], public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Build the bundle for the record at ``leaf_index`` under ``checkpoint`` (which must cover it)."""
    if not 0 <= leaf_index < checkpoint.tree_size:
        raise ProofBundleError(f"record seq {leaf_index} is not covered by the checkpoint at tree size "
                               f"{checkpoint.tree_size}; wait for the next checkpoint, then export again")
    proof = inclusion_proof(source, leaf_index, checkpoint.tree_size)
    return {
        "format": BUNDLE_FORMAT,
        "record": record.decode("utf-8"),
        "leaf_index": leaf_index,
        "tree_size": checkpoint.tree_size,
        "inclusion_proof": [base64.b64encode(h).decode("ascii") for h in proof],
        "checkpoint": checkpoint.note(),
        "public_key": verifier_key(checkpoint.key_name, public_key),
    }


def bundle_json(bundle: Mapping[str, Any]) -> bytes:
    return canonical_json(dict(bundle))


def verify_proof_bundle(bundle: Mapping[str, Any], public_key: Ed25519PublicKey | None = None) -> Checkpoint:
    """Check a bundle end to end and return its verified checkpoint, or raise ``ProofBundleError``.

    Pass the ``public_key`` you already trust; without it the bundle's own key is used, which only shows
    the bundle is self-consistent, not that the operator you trust signed it.
    """
    try:
        if bundle["format"] != BUNDLE_FORMAT:
            raise ProofBundleError(f"unknown bundle format {bundle['format']!r}; expected {BUNDLE_FORMAT!r}")
        record = str(bundle["record"]).encode("utf-8")
        index = int(bundle["leaf_index"])
        size = int(bundle["tree_size"])
        proof = [base64.b64decode(h, validate=True) for h in bundle["inclusion_proof"]]
        checkpoint = parse_note(str(bundle["checkpoint"]))
        key = public_key or load_public_key(str(bundle["public_key"]))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ProofBundleError(f"the proof bundle is malformed ({exc}); export it again") from None
    try:
        verify_checkpoint(checkpoint, key)
    except CheckpointError as exc:
        raise ProofBundleError(str(exc)) from None
    if checkpoint.tree_size != size:
        raise ProofBundleError(f"the bundle claims tree size {size} but its checkpoint is for "
                               f"{checkpoint.tree_size}; the bundle was edited")
    if not verify_inclusion(leaf_hash(record), index, size, proof, checkpoint.root_hash):
        raise ProofBundleError(f"the record is not at seq {index} of the signed tree of size {size}: the "
                               "record, its index or the proof was altered")
    return checkpoint
