from __future__ import annotations

import hashlib

import msgspec
import pytest
from sample_log import SampleLog, build_log

from interlock.audit.canonical import canonical_json
from interlock.audit.verify import LeafRow, TrustedState, verify_log
from interlock.merkle.tree import MerkleAccumulator, leaf_hash

CHECKPOINTS = (10, 20, 32, 40)


@pytest.fixture
def log() -> SampleLog:
    return build_log(40, CHECKPOINTS)


def edited(row: LeafRow, **fields: object) -> bytes:
    record: dict[str, object] = msgspec.json.decode(row.record)
    record.update(fields)
    return canonical_json(record)


def test_an_untouched_log_verifies(log: SampleLog) -> None:
    report = verify_log(log.rows, log.checkpoints, log.signer.public_key)
    assert report.ok, report.summary()
    assert (report.records_checked, report.tree_size, report.checkpoints_checked) == (40, 40, 4)
    assert report.latest is not None
    assert report.latest.checkpoint.tree_size == 40
    assert report.root_hash == log.checkpoints[-1].root_hash
    assert "40 records" in report.summary()


def test_an_empty_log_verifies(log: SampleLog) -> None:
    report = verify_log([], [], log.signer.public_key)
    assert report.ok
    assert report.tree_size == 0


def test_an_edited_record_is_named(log: SampleLog) -> None:
    rows = log.rows
    rows[7] = rows[7]._replace(record=edited(rows[7], model="gpt-4o"))
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq, report.first.request_id) == ("leaf_mismatch", 7, "req-0007")
    # The record problem explains the checkpoint failure; it is not reported twice.
    assert [p.kind for p in report.problems] == ["leaf_mismatch"]
    assert "seq 7 (request req-0007)" in report.summary()


def test_an_edited_record_with_a_recomputed_hash_fails_at_the_next_checkpoint(log: SampleLog) -> None:
    rows = log.rows
    body = edited(rows[13], refusal_code="policy_denied")
    rows[13] = rows[13]._replace(record=body, leaf_hash=leaf_hash(body))
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    first = report.first
    assert first is not None
    assert first.kind == "root_mismatch"
    assert (first.seq, first.request_id) == (10, "req-0010")
    assert "tree size 20" in first.message
    assert "seq 10..19" in first.message
    # Later checkpoints fail too: the tree above the change is different.
    assert [p.kind for p in report.problems] == ["root_mismatch"] * 3


def test_a_deleted_record_leaves_a_gap(log: SampleLog) -> None:
    rows = log.rows[:15] + log.rows[16:]
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("missing_record", 15)
    assert "seq 16 (request req-0016)" in report.first.message


def test_a_deleted_and_renumbered_record_fails_the_checkpoint(log: SampleLog) -> None:
    rows = [r._replace(seq=i) for i, r in enumerate(log.rows[:25] + log.rows[26:])]
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq, report.first.request_id) == ("root_mismatch", 20, "req-0020")


def test_two_records_swapped_under_their_hashes_are_named(log: SampleLog) -> None:
    rows = log.rows
    rows[5], rows[6] = rows[5]._replace(record=rows[6].record), rows[6]._replace(record=rows[5].record)
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("leaf_mismatch", 5)


def test_two_whole_rows_reordered_fail_the_checkpoint(log: SampleLog) -> None:
    rows = log.rows
    rows[5], rows[6] = rows[6]._replace(seq=5), rows[5]._replace(seq=6)
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq, report.first.request_id) == ("root_mismatch", 0, "req-0000")


def test_rows_out_of_seq_order_are_refused(log: SampleLog) -> None:
    rows = [*log.rows[:9], log.rows[4], *log.rows[9:]]
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("out_of_order", 4)


def test_a_tail_truncated_after_a_checkpoint_is_detected(log: SampleLog) -> None:
    report = verify_log(log.rows[:35], log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("truncated", 35)
    assert "seq 35..39" in report.first.message


def test_a_swapped_payload_is_named(log: SampleLog) -> None:
    rows = log.rows
    forged = b"redacted prompt 9: nothing to see"
    rows[9] = rows[9]._replace(payload=forged, payload_hash=hashlib.sha256(forged).digest())
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    first = report.first
    assert (first.kind, first.seq, first.request_id) == ("payload_mismatch", 9, "req-0009")
    assert [p.kind for p in report.problems] == ["payload_mismatch"]


def test_a_payload_column_pointing_elsewhere_is_named(log: SampleLog) -> None:
    rows = log.rows
    rows[3] = rows[3]._replace(payload_hash=rows[6].payload_hash)
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("payload_mismatch", 3)


def test_a_payload_on_a_record_without_one_is_named(log: SampleLog) -> None:
    rows = log.rows
    rows[4] = rows[4]._replace(payload=b"smuggled", payload_hash=hashlib.sha256(b"smuggled").digest())
    report = verify_log(rows, log.checkpoints, log.signer.public_key)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("payload_mismatch", 4)


def test_erased_payloads_keep_the_log_verifiable(log: SampleLog) -> None:
    rows = [r._replace(payload=None) for r in log.rows]
    assert sum(r.payload_hash is not None for r in rows) == 14
    assert verify_log(rows, log.checkpoints, log.signer.public_key).ok


def test_a_forged_checkpoint_is_reported(log: SampleLog) -> None:
    cps = list(log.checkpoints)
    cps[1] = cps[1].__class__(cps[1].tree_size, bytes(32), cps[1].timestamp, cps[1].key_id, cps[1].signature)
    report = verify_log(log.rows, cps, log.signer.public_key)
    assert report.first is not None
    assert report.first.kind == "bad_signature"
    assert "tree size 20" in report.first.message


def test_incremental_verification_resumes_from_the_last_trusted_checkpoint() -> None:
    full = build_log(40, CHECKPOINTS)
    early = verify_log(full.rows[:20], full.checkpoints[:2], full.signer.public_key)
    assert early.ok
    assert early.latest is not None
    assert early.latest.checkpoint.tree_size == 20
    later = verify_log(full.rows[20:], full.checkpoints, full.signer.public_key, trusted=early.latest)
    assert later.ok, later.summary()
    assert (later.records_checked, later.tree_size) == (20, 40)
    assert later.latest is not None
    assert later.latest.checkpoint.tree_size == 40


def test_incremental_verification_catches_history_rewritten_and_re_signed() -> None:
    full = build_log(40, CHECKPOINTS)
    trusted = verify_log(full.rows[:20], full.checkpoints[:2], full.signer.public_key).latest
    assert trusted is not None
    # Same key, different history: the operator rebuilt the log with record 3 altered and re-signed.
    rows = full.rows
    body = edited(rows[3], tenant="other")
    rows[3] = rows[3]._replace(record=body, leaf_hash=leaf_hash(body))
    acc = MerkleAccumulator()
    resigned = []
    for r in rows:
        acc.append(r.leaf_hash)
        if acc.size in (32, 40):
            resigned.append(full.signer.sign(acc.size, acc.root(), 9.0))
    report = verify_log(rows[20:], resigned, full.signer.public_key, trusted=trusted)
    assert report.first is not None
    assert report.first.kind == "root_mismatch"
    assert report.first.seq == 20
    assert "tree size 32" in report.first.message
    # Given the forked checkpoint at the trusted size itself, the fork is named outright.
    acc20 = MerkleAccumulator()
    acc20.extend(r.leaf_hash for r in rows[:20])
    fork = verify_log(rows[20:], [full.signer.sign(20, acc20.root(), 9.0)], full.signer.public_key,
                      trusted=trusted)
    assert fork.first is not None
    assert fork.first.kind == "fork"


def test_a_trusted_checkpoint_held_outside_the_store_must_match(log: SampleLog) -> None:
    kept = log.checkpoints[1]
    assert verify_log(log.rows, log.checkpoints[2:], log.signer.public_key, trusted=kept).ok
    rows = log.rows
    rows[2], rows[1] = rows[1]._replace(seq=2), rows[2]._replace(seq=1)
    report = verify_log(rows, [], log.signer.public_key, trusted=kept)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("root_mismatch", 0)


def test_a_corrupt_saved_state_is_refused(log: SampleLog) -> None:
    state = verify_log(log.rows[:20], log.checkpoints[:2], log.signer.public_key).latest
    assert state is not None
    bad = TrustedState(state.checkpoint, state.frontier[:8] + bytes(32) * 2)
    report = verify_log(log.rows[20:], log.checkpoints, log.signer.public_key, trusted=bad)
    assert report.first is not None
    assert report.first.kind == "bad_frontier"


def test_problems_are_capped(log: SampleLog) -> None:
    rows = [r._replace(leaf_hash=bytes(32)) for r in log.rows]
    report = verify_log(rows, log.checkpoints, log.signer.public_key, max_problems=5)
    assert len(report.problems) == 5
    assert all(p.kind == "leaf_mismatch" for p in report.problems)


def _root_of(log: SampleLog, size: int) -> bytes:
    acc = MerkleAccumulator()
    acc.extend(row.leaf_hash for row in log.rows[:size])
    return acc.root()


def test_records_sequenced_past_the_integrated_frontier_are_reported_not_lost(log: SampleLog) -> None:
    # The integrator has folded 32 records in; 8 more are sequenced (checkpoints only up to 32 here).
    report = verify_log(log.rows, log.checkpoints[:3], log.signer.public_key, integrated=(32, _root_of(log, 32)))
    assert report.ok, report.summary()
    assert (report.tree_size, report.integrated_size, report.unintegrated) == (40, 32, 8)
    assert "8 records (seq 32..39) are sequenced but not yet integrated" in report.summary()
    whole = verify_log(log.rows, log.checkpoints, log.signer.public_key, integrated=(40, _root_of(log, 40)))
    assert whole.ok
    assert whole.unintegrated == 0
    assert "not yet integrated" not in whole.summary()


def test_an_integrated_frontier_that_does_not_match_the_records_is_a_problem(log: SampleLog) -> None:
    report = verify_log(log.rows, log.checkpoints[:2], log.signer.public_key, integrated=(25, _root_of(log, 24)))
    assert not report.ok
    assert report.first is not None
    assert report.first.kind == "frontier_mismatch"
    assert report.first.seq == 24


def test_records_integrated_and_then_removed_from_the_end_are_a_problem(log: SampleLog) -> None:
    report = verify_log(log.rows[:30], log.checkpoints[:2], log.signer.public_key, integrated=(33, _root_of(log, 33)))
    assert not report.ok
    assert report.first is not None
    assert report.first.kind == "truncated"
    assert "seq 30..32" in report.first.message
