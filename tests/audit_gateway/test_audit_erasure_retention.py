"""Erasing a payload (a data-subject request) and expiring payloads past retention leave every record,
every proof and verification intact."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from types import ModuleType

import pytest
from audit_gateway_support import KEY_NAME, AuditEnv, payload_for, record_for

from interlock.audit.export import ProofBundleError, verify_proof_bundle
from interlock.merkle.checkpoint import verifier_key
from support.aio import run_async
from support.app import Engine
from support.engines import running_engine
from support.modules import load_module


def independent_verifier() -> ModuleType:
    """tests/audit/independent_verifier.py: a second reading of the RFC that imports nothing of ours."""
    path = Path(__file__).resolve().parent.parent / "audit" / "independent_verifier.py"
    return load_module("audit_log_independent_verifier", path)


async def append_with_payloads(engine: Engine, count: int, start: int = 0) -> list[str]:
    rids = []
    for i in range(start, start + count):
        record = record_for(i)
        await engine.writer.append(record, payload_for(i))
        rids.append(record["request_id"])
    return rids


def payload_of(env: AuditEnv, request_id: str) -> tuple[bytes, bytes | None]:
    """(the record's payload_hash column, the stored body or None)."""
    rows = env.query("SELECT l.payload_hash, p.body FROM audit_log l LEFT JOIN audit_payload p "
                     "ON p.hash = l.payload_hash WHERE l.request_id = ?", request_id)
    assert len(rows) == 1
    h, body = rows[0]
    return bytes(h), None if body is None else bytes(body)


def test_erase_removes_the_payload_and_keeps_record_proof_and_verification(audit_env: AuditEnv,
                                                                            tmp_path: Path) -> None:
    env = audit_env

    async def write() -> list[str]:
        async with running_engine(env.settings()) as engine:
            rids = await append_with_payloads(engine, 12)
            assert await engine.audit.checkpoint() is not None
            return rids

    rids = run_async(write())
    target = rids[5]
    digest, body = payload_of(env, target)
    assert body is not None
    assert json.loads(body) == payload_for(5)
    before = {rid: rec for _, rid, _, rec in env.rows()}
    assert json.loads(before[target])["payload_hash"] == digest.hex()

    done = env.cli("audit", "erase", target)
    assert done.returncode == 0, done.stderr
    assert f"erased the payload of {target}" in done.stdout

    # The body is gone, every other one stays, and no record changed (it still commits to the hash).
    assert payload_of(env, target) == (digest, None)
    assert env.payload_count() == 11
    assert all(payload_of(env, rid)[1] is not None for rid in rids if rid != target)
    assert {rid: rec for _, rid, _, rec in env.rows()} == before

    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 records" in done.stdout

    # Erasing again finds nothing to erase.
    again = env.cli("audit", "erase", target)
    assert again.returncode == 1
    assert "no stored payload" in again.stderr

    # The record's proof still checks out, with our verifier and with the independent one.
    out = tmp_path / "proof.json"
    done = env.cli("audit", "prove", target, "--out", str(out))
    assert done.returncode == 0, done.stderr
    bundle = json.loads(out.read_text())
    assert bundle["record"].encode() == before[target]
    assert bundle["leaf_index"] == 5
    assert bundle["tree_size"] == 12
    public_key = env.public_key()
    assert bundle["public_key"] == verifier_key(KEY_NAME, public_key)
    checkpoint = verify_proof_bundle(bundle, public_key)
    assert checkpoint.tree_size == 12

    iv = independent_verifier()
    raw_key = base64.b64decode(bundle["public_key"].split("+", 2)[2])[1:]
    size, root = iv.check_note(bundle["checkpoint"], KEY_NAME, raw_key)
    assert size == 12
    proof = [base64.b64decode(p) for p in bundle["inclusion_proof"]]
    leaf = iv.hash_leaf(bundle["record"].encode("utf-8"))
    assert iv.check_inclusion(leaf, bundle["leaf_index"], size, proof, root)
    # ... and the root is the tree of the stored leaves, recomputed from the records themselves.
    assert root == iv.mth([rec for _, _, _, rec in env.rows()])

    # The same bundle with the record altered fails both.
    altered = dict(bundle, record=bundle["record"].replace('"status":200', '"status":201'))
    assert altered["record"] != bundle["record"]
    with pytest.raises(ProofBundleError):
        verify_proof_bundle(altered, public_key)
    assert not iv.check_inclusion(iv.hash_leaf(altered["record"].encode()), 5, size, proof, root)


def test_payloads_past_retention_are_purged_and_the_log_still_verifies(audit_env: AuditEnv) -> None:
    env = audit_env
    retention_seconds = 1.0
    env.tree["audit"]["payload_retention_days"] = retention_seconds / 86400
    env.write()

    async def write() -> tuple[list[str], list[str], int]:
        async with running_engine(env.settings()) as engine:
            old = await append_with_payloads(engine, 6)
            await asyncio.sleep(retention_seconds + 0.3)
            new = await append_with_payloads(engine, 4, start=6)
            purged = await engine.store.purge_expired_payloads(time.time())
            return old, new, purged

    old, new, purged = run_async(write())
    assert purged == 6
    assert all(payload_of(env, rid)[1] is None for rid in old)
    assert all(payload_of(env, rid)[1] is not None for rid in new)
    assert len(env.rows()) == 10
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 records" in done.stdout


@pytest.mark.parametrize("signing", ["working", "failing"])
def test_the_running_gateway_purges_expired_payloads_by_itself(audit_env: AuditEnv, signing: str) -> None:
    """The background task purges on its own: no operator action is needed for retention to happen, and
    a checkpoint that cannot be stored (here: its table renamed away) does not hold the purge up."""
    env = audit_env
    env.tree["audit"]["payload_retention_days"] = 0.5 / 86400
    env.tree["audit"]["checkpoint_interval_seconds"] = 0.2
    env.write()

    async def write() -> tuple[int, int]:
        async with running_engine(env.settings()) as engine:
            if signing == "failing":
                env.execute("ALTER TABLE audit_checkpoint RENAME TO audit_checkpoint_x")
            await append_with_payloads(engine, 5)
            stored = env.payload_count()
            for _ in range(150):
                if not env.payload_count():
                    break
                await asyncio.sleep(0.1)
            left = env.payload_count()
        if signing == "failing":
            env.execute("ALTER TABLE audit_checkpoint_x RENAME TO audit_checkpoint")
        return stored, left

    stored, left = run_async(write())
    assert stored == 5
    assert left == 0
    assert len(env.rows()) == 5
    assert all(json.loads(rec)["payload_hash"] for _, _, _, rec in env.rows())
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    # The same task signs checkpoints, when it can.
    signed = env.query("SELECT max(tree_size) FROM audit_checkpoint")[0][0]
    assert signed == (5 if signing == "working" else None)
