"""Build small, realistic audit logs in memory for the audit tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interlock.audit.canonical import canonical_json
from interlock.audit.verify import LeafRow
from interlock.merkle.checkpoint import Checkpoint, CheckpointSigner
from interlock.merkle.tree import MerkleAccumulator, leaf_hash

KEY_NAME = "audit.example.test/interlock"


def sample_record(seq: int, payload: bytes | None) -> dict[str, object]:
    record: dict[str, object] = {
        "request_id": f"req-{seq:04d}",
        "time": 1_718_000_000 + seq / 8,
        "principal": {"kind": "app", "id": "billing-bot", "on_behalf_of": "ana@example.com"},
        "tenant": "acme",
        "model": "gpt-4o-mini",
        "decisions": [{"action": "redact", "policy_ids": ["pii-default"], "data_class": "pii.email"}],
        "tool_calls": [],
        "refusal_code": None,
        "stages_ms": {"authorize": 0.041, "classify": 0.183},
        "tokens": {"prompt": 120 + seq, "completion": 40},
        "cost_usd": 0.00031,
    }
    if payload is not None:
        record["payload_hash"] = hashlib.sha256(payload).hexdigest()
    return record


@dataclass
class SampleLog:
    signer: CheckpointSigner
    rows: list[LeafRow] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)


def build_log(size: int, checkpoint_at: tuple[int, ...], key: Ed25519PrivateKey | None = None) -> SampleLog:
    """Every third record carries a payload; checkpoints are signed at the given sizes."""
    signer = CheckpointSigner(key or Ed25519PrivateKey.generate(), KEY_NAME)
    log = SampleLog(signer)
    acc = MerkleAccumulator()
    for seq in range(size):
        payload = f"redacted prompt {seq}: contact [EMAIL_1]".encode() if seq % 3 == 0 else None
        body = canonical_json(sample_record(seq, payload))
        h = leaf_hash(body)
        ph = hashlib.sha256(payload).digest() if payload is not None else None
        log.rows.append(LeafRow(seq, f"req-{seq:04d}", h, body, ph, payload))
        acc.append(h)
        if acc.size in checkpoint_at:
            log.checkpoints.append(signer.sign(acc.size, acc.root(), 1_718_000_100.0 + seq))
    return log
