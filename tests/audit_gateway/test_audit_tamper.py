"""Tampering with the stored log is caught by ``interlock audit verify``, run as the real command.

The log is written by the engine in-process (real calls through the mock model, plus records with
payloads appended through the writer), checkpoints are signed at tree sizes 8, 16 and 24, and then the
tables are edited with plain SQL, as someone with database access could.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from audit_gateway_support import (
    KEY_NAME,
    AuditEnv,
    chat,
    payload_for,
    record_for,
    tree_frontier,
)

from interlock.merkle.checkpoint import CheckpointSigner, load_private_key
from interlock.merkle.tree import MerkleAccumulator
from support.aio import run_async
from support.engines import add_key, running_engine

SIZE = 24
CHECKPOINT_EVERY = 8


async def write_log(env: AuditEnv, count: int, *, start: int = 0) -> None:
    """``count`` records: every third a real call through the mock model, the rest with a payload;
    a checkpoint is signed whenever the log reaches a multiple of 8."""
    async with running_engine(env.settings()) as engine:
        key = await add_key(engine.store, "writer")
        for i in range(start, start + count):
            if i % 3 == 0:
                call, refused = await chat(engine, key, f"question {i}")
                assert refused is None, refused
                assert call.status == 200
            else:
                await engine.writer.append(record_for(i), payload_for(i))
            if (i + 1) % CHECKPOINT_EVERY == 0:
                cp = await engine.audit.checkpoint()
                assert cp is not None
                assert cp.tree_size == i + 1


@pytest.fixture
def written(audit_env: AuditEnv) -> AuditEnv:
    run_async(write_log(audit_env, SIZE))
    assert [s for s, *_ in audit_env.rows()] == list(range(SIZE))
    sizes = [int(r[0]) for r in audit_env.query("SELECT tree_size FROM audit_checkpoint ORDER BY tree_size")]
    assert sizes == [8, 16, 24]
    return audit_env


def verify(env: AuditEnv, *extra: str) -> tuple[int, str]:
    done = env.cli("audit", "verify", *extra)
    return done.returncode, done.stdout + done.stderr


def test_an_untouched_log_verifies(written: AuditEnv) -> None:
    code, out = verify(written)
    assert code == 0, out
    assert f"audit log verified: {SIZE} records, tree size {SIZE}, 3 signed checkpoints match" in out
    # The frontier kept beside the log is exactly the tree of the stored leaves.
    assert written.frontier() == (SIZE, tree_frontier([h for _, _, h, _ in written.rows()]))


# -- each tamper, what verify must say --------------------------------------------------------------
# A tamper returns the fragments the failure message must contain.

Tamper = Callable[[AuditEnv, list[str]], list[str]]


def edit_record_bytes(env: AuditEnv, rids: list[str]) -> list[str]:
    (record,) = env.query("SELECT record FROM audit_log WHERE seq = 5")[0]
    edited = bytes(record).replace(b'"status":200', b'"status":403')
    assert edited != bytes(record)
    env.execute(("UPDATE audit_log SET record = ? WHERE seq = 5", (edited,)))
    return [f"record seq 5 (request {rids[5]}) does not match its leaf hash"]


def delete_record(env: AuditEnv, rids: list[str]) -> list[str]:
    env.execute("DELETE FROM audit_log WHERE seq = 10")
    # The deleted record's request id is gone with it; the message names the gap and where it ends.
    return ["record seq 10 is missing", f"jumps from seq 9 to seq 11 (request {rids[11]})"]


def swap_two_records(env: AuditEnv, rids: list[str]) -> list[str]:
    env.execute("UPDATE audit_log SET seq = -1 WHERE seq = 16",
                "UPDATE audit_log SET seq = 16 WHERE seq = 17",
                "UPDATE audit_log SET seq = 17 WHERE seq = -1")
    # Each record still matches its own hash; only the signed root shows the order changed. The
    # message names the checkpoint interval and the record now at its first seq.
    return ["does not match the signed checkpoint at tree size 24", "records seq 16..23",
            f"from seq 16 (request {rids[17]})"]


def truncate_after_checkpoint(env: AuditEnv, rids: list[str]) -> list[str]:
    env.execute("DELETE FROM audit_log WHERE seq >= 20")
    return ["the log ends at seq 19 (20 records)", "signed at tree size 24",
            "records seq 20..23 were removed from the end"]


def swap_payload(env: AuditEnv, rids: list[str]) -> list[str]:
    (h1, b2) = env.query("SELECT a.payload_hash, p.body FROM audit_log a, audit_log b "
                         "JOIN audit_payload p ON p.hash = b.payload_hash WHERE a.seq = 1 AND b.seq = 2")[0]
    env.execute(("UPDATE audit_payload SET body = ? WHERE hash = ?", (bytes(b2), bytes(h1))))
    return [f"record seq 1 (request {rids[1]})", "the payload was replaced"]


def rewrite_record_and_its_hash(env: AuditEnv, rids: list[str]) -> list[str]:
    (record,) = env.query("SELECT record FROM audit_log WHERE seq = 9")[0]
    edited = bytes(record).replace(b'"outcome":"ok"', b'"outcome":"refused"')
    assert edited != bytes(record)
    env.execute(("UPDATE audit_log SET record = ?, leaf_hash = ? WHERE seq = 9",
                 (edited, hashlib.sha256(b"\x00" + edited).digest())))
    # Consistent with itself, so only the checkpoint at 16 catches it: the range since the last good one.
    return ["does not match the signed checkpoint at tree size 16", "records seq 8..15",
            f"from seq 8 (request {rids[8]})"]


def forge_checkpoint(env: AuditEnv, rids: list[str]) -> list[str]:
    env.execute(("UPDATE audit_checkpoint SET root_hash = ? WHERE tree_size = 16", (b"\x07" * 32,)))
    return ["checkpoint at tree size 16: the signature does not"]


TAMPERS: dict[str, Tamper] = {
    "edit-record-bytes": edit_record_bytes,
    "delete-record": delete_record,
    "swap-two-records": swap_two_records,
    "truncate-after-checkpoint": truncate_after_checkpoint,
    "swap-payload-body": swap_payload,
    "rewrite-record-and-hash": rewrite_record_and_its_hash,
    "forge-checkpoint-root": forge_checkpoint,
}


@pytest.mark.parametrize("tamper", list(TAMPERS.values()), ids=list(TAMPERS))
def test_verify_catches_the_tamper_and_names_where(written: AuditEnv, tamper: Tamper) -> None:
    rids = written.request_ids()
    expected = tamper(written, rids)
    code, out = verify(written)
    assert code == 1, out
    errors = [line for line in out.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, out
    first = errors[0]
    assert first.startswith("Error: audit log verification FAILED: "), out
    for fragment in expected:
        assert fragment in first, f"{fragment!r} not in the first problem reported:\n{out}"


# -- incremental verification -----------------------------------------------------------------------

def _state(path: Path) -> tuple[str, int]:
    doc = json.loads(path.read_text())
    return doc["checkpoint"], int(doc["checkpoint"].split("\n")[1])


def test_incremental_verification_and_what_it_sees_of_the_earlier_part(written: AuditEnv, tmp_path: Path) -> None:
    """With ``--trusted`` only the rows after the saved state are read. Observed:

    * editing an earlier record (bytes, or bytes and hash) is NOT seen by an incremental run (a full
      run sees it): those rows are not read again, by design;
    * rewriting the earlier part and re-signing it with the (stolen) key IS seen, because the store's
      checkpoints then contradict the saved state: ``fork`` when one is at the saved size, else
      ``root_mismatch`` on the first new checkpoint;
    * removing records below the saved size, with the checkpoints that covered them, IS seen
      (``truncated``): the log no longer reaches the size the saved state vouches for.
    """
    env = written
    s24 = tmp_path / "state-24.json"
    code, out = verify(env, "--save-state", str(s24))
    assert code == 0, out
    assert _state(s24)[1] == 24

    # More records and checkpoints (32, 40); the incremental run reads only those 16.
    run_async(write_log(env, 16, start=SIZE))
    s40 = tmp_path / "state-40.json"
    code, out = verify(env, "--trusted", str(s24), "--save-state", str(s40))
    assert code == 0, out
    assert "verified: 16 records, tree size 40" in out
    assert _state(s40)[1] == 40

    # 1. An earlier record edited in place: the full run sees it, the incremental one does not.
    (record,) = env.query("SELECT record FROM audit_log WHERE seq = 3")[0]
    env.execute(("UPDATE audit_log SET record = ? WHERE seq = 3", (bytes(record) + b" ",)))
    code, out = verify(env)
    assert code == 1
    assert "record seq 3" in out
    code, out = verify(env, "--trusted", str(s24))
    assert code == 0, out
    env.execute(("UPDATE audit_log SET record = ? WHERE seq = 3", (bytes(record),)))

    # 2. The earlier part rewritten and every checkpoint re-signed with the real key: a full run is
    #    fooled (nothing in the store contradicts itself), the saved states are not.
    (rec7,) = env.query("SELECT record FROM audit_log WHERE seq = 7")[0]
    forged = bytes(rec7).replace(b'"status":200', b'"status":403')
    assert forged != bytes(rec7)
    env.execute(("UPDATE audit_log SET record = ?, leaf_hash = ? WHERE seq = 7",
                 (forged, hashlib.sha256(b"\x00" + forged).digest())))
    genuine = env.query("SELECT tree_size, root_hash, ts, key_id, signature FROM audit_checkpoint")
    leaves = [h for _, _, h, _ in env.rows()]
    signer = CheckpointSigner(load_private_key(env.key_file.read_bytes()), KEY_NAME)
    resigned = [signer.sign(n, _root(leaves[:n]), 1_800_000_000.0) for n in (24, 40)]
    env.execute("DELETE FROM audit_checkpoint",
                *[("INSERT INTO audit_checkpoint (tree_size, root_hash, ts, key_id, signature) "
                   "VALUES (?, ?, ?, ?, ?)", (c.tree_size, c.root_hash, c.timestamp, c.key_id, c.signature))
                  for c in resigned])
    # The integrated frontier kept beside the log still holds the tree of the real records: a full run
    # sees that much. An attacker who rewrites it too leaves nothing in the store that contradicts itself.
    code, out = verify(env)
    assert code == 1
    assert "the integrated Merkle frontier (tree size 40) does not match" in out
    genuine_frontier = env.frontier()
    _set_frontier(env, len(leaves), tree_frontier(leaves))
    code, out = verify(env)
    assert code == 0, "a full run cannot tell a consistent re-signed history from the real one:\n" + out
    code, out = verify(env, "--trusted", str(s24))
    assert code == 1
    assert "fork" in out
    assert "tree size 24" in out
    env.execute("DELETE FROM audit_checkpoint WHERE tree_size = 24")
    code, out = verify(env, "--trusted", str(s24))
    assert code == 1
    assert "does not match the signed checkpoint at tree size 40" in out

    # 3. Put history back, then cut the log below the saved size along with the checkpoints over it.
    _set_frontier(env, *genuine_frontier)
    env.execute(("UPDATE audit_log SET record = ?, leaf_hash = ? WHERE seq = 7",
                 (bytes(rec7), hashlib.sha256(b"\x00" + bytes(rec7)).digest())),
                "DELETE FROM audit_checkpoint",
                *[("INSERT INTO audit_checkpoint (tree_size, root_hash, ts, key_id, signature) "
                   "VALUES (?, ?, ?, ?, ?)", tuple(row)) for row in genuine])
    code, out = verify(env, "--trusted", str(s24))
    assert code == 0, out
    env.execute("DELETE FROM audit_checkpoint WHERE tree_size >= 24")
    code, out = verify(env, "--trusted", str(s24))
    assert code == 0, out
    env.execute("DELETE FROM audit_log WHERE seq >= 20")
    code, out = verify(env)
    assert code == 1
    assert "the integrator had folded 40 records into the tree: records seq 20..39 were removed" in out
    _set_frontier(env, 20, tree_frontier([h for _, _, h, _ in env.rows()]))
    code, out = verify(env)
    assert code == 0, "checkpoints 8 and 16 still match; the unsigned tail is not covered:\n" + out
    code, out = verify(env, "--trusted", str(s24))
    assert code == 1, out
    assert "the log no longer holds seq 23, but the trusted state vouches for tree size 24" in out


def _set_frontier(env: AuditEnv, size: int, frontier: bytes) -> None:
    env.execute(("UPDATE audit_frontier SET size = ?, frontier = ? WHERE id = 1", (size, frontier)))


def _root(leaves: list[bytes]) -> bytes:
    acc = MerkleAccumulator()
    acc.extend(leaves)
    return acc.root()
