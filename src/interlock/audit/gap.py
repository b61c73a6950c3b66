"""Gap records: what fills a log index that was reserved but never written.

A batch reserves its indexes before it is inserted; if its writer dies in between, or its transaction
fails, those indexes stay empty and integration (which folds records in index order) would stop there.
After a timeout the integrator fills each such index with a gap record signed by the log's key, so the
tree goes on and a verifier sees, signed, that nothing was ever acknowledged at that index. A gap record
is a leaf like any other: checkpoints cover it, and ``audit verify`` checks its signature and lists it.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from interlock.audit.canonical import canonical_json
from interlock.audit.writer import entry_for
from interlock.merkle.checkpoint import CheckpointSigner, verify_statement
from interlock.store.base import LogEntry

# Request ids the gateway makes start "req_"; a gap record's names its index.
GAP_PREFIX = "gap_"
_CONTEXT = b"audit gap"


def gap_entry(signer: CheckpointSigner, seq: int, waited: float) -> LogEntry:
    body: dict[str, Any] = {
        "event": "audit.gap", "request_id": f"{GAP_PREFIX}{seq}", "seq": seq, "time": round(time.time(), 3),
        "waited_seconds": round(waited, 3), "key_id": signer.key_id,
        "reason": "index reserved but never written: its writer died or its transaction failed before commit",
    }
    body["signature"] = base64.b64encode(signer.sign_statement(_CONTEXT, canonical_json(body))).decode()
    return entry_for(body)


def gap_problem(record: bytes, seq: int, public_key: Ed25519PublicKey) -> str | None:
    """Why a row named as a gap is not a valid one (None if it is): signed by the log's key for its index."""
    try:
        body = msgspec.json.decode(record)
    except msgspec.DecodeError:
        return "it is not valid JSON"
    if not isinstance(body, dict) or body.get("event") != "audit.gap" or body.get("seq") != seq:
        return f"it is not a gap record for seq {seq}"
    signature = body.pop("signature", None)
    try:
        raw = base64.b64decode(signature, validate=True) if isinstance(signature, str) else b""
    except ValueError:
        raw = b""
    if not verify_statement(public_key, raw, _CONTEXT, canonical_json(body)):
        return "its signature does not verify with the log's key: it was forged or altered"
    return None
