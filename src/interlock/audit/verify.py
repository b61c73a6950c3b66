"""Full and incremental verification of the audit log against its signed checkpoints.

Rows stream through once, in seq order, in O(log n) memory: each record is re-hashed, chained into
the Merkle accumulator, and the root is compared with every signed checkpoint as the log reaches its
size. Problems name the first record a person should look at and what to do about it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from interlock.audit.gap import GAP_PREFIX, gap_problem
from interlock.merkle.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from interlock.merkle.tree import MerkleAccumulator


class LeafRow(NamedTuple):
    """One ``audit_log`` row, with its payload body if still stored (None once erased)."""

    seq: int
    request_id: str
    leaf_hash: bytes
    record: bytes
    payload_hash: bytes | None = None
    payload: bytes | None = None


RowLike = tuple[int, str, bytes, bytes, bytes | None, bytes | None]
"""A ``LeafRow`` or any plain tuple in its field order, such as a database cursor row."""


@dataclass(frozen=True, slots=True)
class TrustedState:
    """A verified checkpoint plus the Merkle frontier at its size: where the next verification resumes."""

    checkpoint: Checkpoint
    frontier: bytes


@dataclass(frozen=True, slots=True)
class Problem:
    """``kind`` is stable for programs; ``message`` is for the person who must act on it."""

    kind: str
    message: str
    seq: int | None = None
    request_id: str | None = None


@dataclass(slots=True)
class VerifyReport:
    records_checked: int = 0
    tree_size: int = 0
    root_hash: bytes = b""
    checkpoints_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    latest: TrustedState | None = None
    # How much of the log the integrator has folded into the tree (None: not told). Records past it are
    # sequenced (durable, ordered) but covered by no checkpoint yet.
    integrated_size: int | None = None
    # Indexes reserved but never written, each filled by the integrator with a gap record signed by the
    # log's key (checked): no record was ever acknowledged there.
    gaps: list[int] = field(default_factory=list)
    # A reserved index not written yet, past the integrated tree: (first missing seq, next stored seq).
    # Its batch is on its way, or its writer died and the integrator fills it with a gap after a timeout.
    hole: tuple[int, int] | None = None

    @property
    def unintegrated(self) -> int:
        return max(0, self.tree_size - self.integrated_size) if self.integrated_size is not None else 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        if self.ok:
            pending = ""
            if self.unintegrated:
                pending = (f"; {self.unintegrated} records (seq {self.tree_size - self.unintegrated}.."
                           f"{self.tree_size - 1}) are sequenced but not yet integrated, so no checkpoint "
                           "covers them yet (the integrator folds them in within seconds while an instance runs)")
            gaps = ""
            if self.gaps:
                shown = ", ".join(str(seq) for seq in self.gaps[:10]) + (", ..." if len(self.gaps) > 10 else "")
                gaps = (f"; {len(self.gaps)} indexes were reserved but never written (seq {shown}): a writer "
                        "died or its transaction failed before it committed, and the integrator recorded each "
                        "as a signed gap, so no acknowledged record is missing there")
            if self.hole is not None:
                a, b = self.hole
                gaps += (f"; the log holds records from seq {b} on, after seq {a}..{b - 1}, reserved but not "
                         "written yet (a batch on its way, or a writer that died: the integrator fills those "
                         "with signed gaps after audit.gap_timeout_seconds); run verify again to check them")
            return (f"audit log verified: {self.records_checked} records, tree size {self.tree_size}, "
                    f"{self.checkpoints_checked} signed checkpoints match{pending}{gaps}")
        more = f" ({len(self.problems) - 1} more problems follow)" if len(self.problems) > 1 else ""
        assert self.first is not None
        return f"audit log verification FAILED: {self.first.message}{more}"


class _PayloadRef(msgspec.Struct):
    payload_hash: str | None = None


_payload_ref = msgspec.json.Decoder(_PayloadRef).decode


def verify_log(rows: Iterable[RowLike], checkpoints: Iterable[Checkpoint], public_key: Ed25519PublicKey, *,
               trusted: Checkpoint | TrustedState | None = None, max_problems: int = 100,
               integrated: tuple[int, bytes] | None = None) -> VerifyReport:
    """Verify the log read in seq order against the signed checkpoints.

    ``trusted`` as a ``TrustedState`` (from an earlier report's ``latest``) makes the run incremental:
    ``rows`` then start at its tree size and the log must extend it. A bare ``Checkpoint`` kept outside
    the store (by an auditor, say) must be matched by the log too; ``rows`` then start at seq 0.
    ``integrated`` is the integrator's (size, root): the records up to that size must hash to it, and the
    report tells how many records past it are sequenced but not yet integrated.
    """
    report = VerifyReport()
    if integrated is not None:
        report.integrated_size = integrated[0]
    problems = report.problems
    signed: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        try:
            verify_checkpoint(cp, public_key)
        except CheckpointError as exc:
            problems.append(Problem("bad_signature", str(exc)))
        else:
            signed[cp.tree_size] = cp

    acc = MerkleAccumulator()
    start = 0
    if trusted is not None:
        anchor = trusted.checkpoint if isinstance(trusted, TrustedState) else trusted
        try:
            verify_checkpoint(anchor, public_key)
        except CheckpointError as exc:
            problems.append(Problem("bad_signature", f"the trusted checkpoint is not valid: {exc}"))
            return report
        other = signed.get(anchor.tree_size)
        if other is not None and other.root_hash != anchor.root_hash:
            problems.append(Problem(
                "fork", f"the store holds a checkpoint at tree size {anchor.tree_size} with a different root "
                "from the trusted one, both validly signed: the log was rewritten and re-signed (a fork); "
                "treat the signing key as compromised and compare against an independent copy",
                anchor.tree_size))
            return report
        signed[anchor.tree_size] = anchor
        if isinstance(trusted, TrustedState):
            try:
                acc = MerkleAccumulator.from_bytes(trusted.frontier)
            except ValueError as exc:
                problems.append(Problem("bad_frontier", f"the saved verification state is unusable ({exc}); "
                                        "run a full verification"))
                return report
            if acc.size != anchor.tree_size or acc.root() != anchor.root_hash:
                problems.append(Problem("bad_frontier", "the saved verification state does not match its "
                                        "checkpoint; run a full verification"))
                return report
            start = acc.size
            report.latest = trusted

    pending = sorted(size for size in signed if size > start)
    report.checkpoints_checked = sum(1 for size in signed if size <= start)
    if start == 0 and 0 in signed and signed[0].root_hash != acc.root():
        problems.append(Problem("root_mismatch", "the checkpoint at tree size 0 does not hold the empty root",
                                0))

    _walk(rows, acc, start, signed, pending, report, max_problems, integrated, public_key)
    return report


def _walk(rows: Iterable[RowLike], acc: MerkleAccumulator, start: int, signed: dict[int, Checkpoint],
          pending: list[int], report: VerifyReport, max_problems: int,
          integrated: tuple[int, bytes] | None = None, public_key: Ed25519PublicKey | None = None) -> None:
    problems = report.problems
    sha256 = hashlib.sha256
    append = acc.append
    cp_index = 0
    next_cp = pending[0] if pending else -1
    expected = start
    good_size = start  # the largest size known to match a checkpoint (or the trusted start)
    good_rid: str | None = None
    record_trouble = False  # a record-level problem already explains a later root mismatch
    stopped = False
    for row in rows:
        seq = row[0]
        if seq != expected:
            if seq > expected and integrated is not None and expected >= integrated[0]:
                # Past the integrated tree an index may be reserved and not written yet: not a deletion.
                report.hole = (expected, seq)
                stopped = True
                break
            if seq > expected:
                gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
                problems.append(Problem(
                    "missing_record", f"record {gap} is missing: the log jumps from seq {expected - 1} to "
                    f"seq {seq} (request {row[1]}); it was deleted, restore it from a backup or export",
                    expected, None))
            else:
                problems.append(Problem(
                    "out_of_order", f"seq {seq} (request {row[1]}) comes after seq {expected - 1}: rows must "
                    "be read in ascending seq order with each seq once; a duplicated or re-inserted record "
                    "means the log table was edited", seq, row[1]))
            stopped = True
            break
        if seq == good_size:
            good_rid = row[1]
        record = row[3]
        h = sha256(b"\x00" + record).digest()
        if h != row[2]:
            record_trouble = True
            problems.append(Problem(
                "leaf_mismatch", f"record seq {seq} (request {row[1]}) does not match its leaf hash: the "
                f"record bytes hash to {h.hex()[:16]}… but the log committed to {row[2].hex()[:16]}…; the "
                "record (or its hash) was edited after it was written, so treat it as untrustworthy and "
                "recover the original from a backup or export", seq, row[1]))
        if public_key is not None and row[1].startswith(GAP_PREFIX):
            message = gap_problem(record, seq, public_key)
            if message is None:
                report.gaps.append(seq)
            else:
                record_trouble = True
                problems.append(Problem("bad_gap", f"record seq {seq} ({row[1]}) is named as a gap record but "
                                        f"{message}; a record may have been replaced to hide it, so compare "
                                        "that index with a backup or export", seq, row[1]))
        payload = row[5]
        if payload is not None:
            message = _payload_problem(record, row[4], payload)
            if message is not None:
                record_trouble = True
                problems.append(Problem("payload_mismatch", f"record seq {seq} (request {row[1]}): {message}",
                                        seq, row[1]))
        append(h)
        expected += 1
        # A problem already named (a bad record, a checkpoint not matched at this size) explains a frontier
        # that does not match either; only an otherwise unexplained one is a problem of its own.
        explained = record_trouble or len(problems) > 0
        if expected == next_cp:
            cp = signed[next_cp]
            if acc.root() == cp.root_hash:
                report.checkpoints_checked += 1
                if not problems:
                    report.latest = TrustedState(cp, acc.to_bytes())
                good_size = expected
                record_trouble = False
            elif not record_trouble:
                problems.append(Problem(
                    "root_mismatch", "the log does not match the signed checkpoint at tree size "
                    f"{cp.tree_size}: records seq {good_size}..{cp.tree_size - 1} are not the ones that were "
                    "signed (one was deleted, inserted, reordered or rewritten together with its hash); "
                    f"compare that range with a backup or export, from seq {good_size} (request {good_rid})",
                    good_size, good_rid))
                good_size = expected
            else:
                good_size = expected
            cp_index += 1
            next_cp = pending[cp_index] if cp_index < len(pending) else -1
        if integrated is not None and expected == integrated[0] and not explained and not problems \
                and acc.root() != integrated[1]:
            problems.append(Problem(
                "frontier_mismatch", f"the integrated Merkle frontier (tree size {expected}) does not match "
                f"records seq 0..{expected - 1}: a record was changed after it was integrated, or the frontier "
                "row was edited; compare the log with a backup or export", expected - 1, row[1]))
        if len(problems) >= max_problems:
            stopped = True
            break
    report.records_checked = expected - start
    report.tree_size = expected
    report.root_hash = acc.root()
    if not stopped and cp_index < len(pending):
        last = pending[-1]
        problems.append(Problem(
            "truncated", f"the log ends at seq {expected - 1} ({expected} records) but a checkpoint was "
            f"signed at tree size {last}: records seq {expected}..{last - 1} were removed from the end; "
            "restore them from a backup or export", expected, None))

    # A signed checkpoint past the end names the truncation first; else the integrated size does.
    if not stopped and integrated is not None and integrated[0] > expected and not problems:
        problems.append(Problem(
            "truncated", f"the log ends at seq {expected - 1} ({expected} records) but the integrator had "
            f"folded {integrated[0]} records into the tree: records seq {expected}..{integrated[0] - 1} were "
            "removed from the end; restore them from a backup or export", expected, None))

def _payload_problem(record: bytes, column: bytes | None, payload: bytes) -> str | None:
    try:
        ref = _payload_ref(record).payload_hash
    except msgspec.DecodeError:
        return "the record is not valid JSON, so its payload reference cannot be read"
    if ref is None:
        return "a payload is stored for this record but the record does not reference one"
    actual = hashlib.sha256(payload).digest()
    if actual.hex() != ref:
        return (f"the stored payload hashes to {actual.hex()[:16]}… but the record committed to "
                f"{ref[:16]}…; the payload was replaced, so do not trust or restore it")
    if column != actual:
        return "the payload_hash column differs from the hash the record commits to; the row was edited"
    return None
