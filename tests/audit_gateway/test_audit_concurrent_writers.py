"""Several processes appending to one log at once get one gap-free total order.

Each writer is a separate ``python -c`` process with its own ``AuditWriter`` (group commit) and many
appending coroutines, against the same SQLite file or PostgreSQL database. They open the store, then
start appending together when a flag file appears, so their commits interleave.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from audit_gateway_support import KEY_NAME, AuditEnv, tree_frontier

from support.env import clean_env

WRITERS = 4
COROUTINES = 16
PER_COROUTINE = 25

WRITER = r"""
import asyncio, json, os, sys, time
from pathlib import Path
from interlock.audit.writer import AuditWriter
from interlock.settings import load_settings
from interlock.store import open_store

config, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
coroutines, per = int(sys.argv[4]), int(sys.argv[5])

async def main():
    settings = load_settings(Path(config), environ={})
    store = open_store(settings.store)
    await store.open()
    writer = AuditWriter(store, window_ms=1.0, batch_max=1024, timeout_seconds=30,
                         payload_retention_seconds=3600)
    await writer.start()
    print("ready", flush=True)
    while not go.exists():
        await asyncio.sleep(0.005)
    got = []

    async def appender(c):
        for i in range(per):
            rid = f"req_{name}_{c:02d}_{i:04d}"
            record = {"v": 1, "request_id": rid, "time": time.time(), "tenant": name, "principal": f"p{c}",
                      "model": "mock", "status": 200, "refusal_code": None, "writer": name, "n": i}
            seq = await writer.append(record, {"prompt": f"{rid} prompt", "output": "ok"})
            got.append((rid, seq))

    await asyncio.gather(*(appender(c) for c in range(coroutines)))
    await writer.stop()
    await store.close()
    print(json.dumps(got), flush=True)

asyncio.run(main())
"""


def test_concurrent_writer_processes_share_one_gap_free_order(audit_env: AuditEnv, tmp_path: Path) -> None:
    env = audit_env
    go = tmp_path / f"go-{env.kind}"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(env.config), f"w{n}", str(go),
                               str(COROUTINES), str(PER_COROUTINE)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
                              cwd=env.directory)
             for n in range(WRITERS)]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line.strip() == "ready", (line, p.stderr.read() if p.stderr else "")
        go.touch()
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    total = WRITERS * COROUTINES * PER_COROUTINE
    reported = {rid: seq for out in outputs for rid, seq in out}
    assert len(reported) == total

    rows = env.rows()
    seqs = [s for s, *_ in rows]
    assert seqs == list(range(total)), "seq must run 0..N-1 with no gap and no duplicate"
    stored = {rid: seq for seq, rid, _, _ in rows}
    assert len(stored) == total
    # Every record is there, at exactly the seq its writer was told.
    assert stored == reported
    # The writers really interleaved: no writer got one contiguous block of the log.
    by_writer = [[seq for rid, seq in reported.items() if rid.startswith(f"req_w{n}_")] for n in range(WRITERS)]
    assert all(max(s) - min(s) + 1 > len(s) for s in by_writer)
    # Each record names its own request id, and the integrated frontier is the tree of a prefix of these
    # leaves (the writers sequence; integration follows behind, and `audit checkpoint` below completes it).
    assert all(json.loads(rec)["request_id"] == rid for _, rid, _, rec in rows)
    integrated, frontier = env.frontier()
    assert integrated <= total
    assert frontier == tree_frontier([h for _, _, h, _ in rows[:integrated]])
    assert env.payload_count() == total

    # No gateway ever ran here, so there is no signing key yet: make one as an operator would.
    keygen = subprocess.run([sys.executable, "-m", "interlock", "audit", "keygen", "--name", KEY_NAME,
                             "--out", str(env.key_file)], capture_output=True, text=True, env=clean_env(),
                            timeout=60, check=False)
    assert keygen.returncode == 0, keygen.stderr
    assert keygen.stdout.startswith(KEY_NAME + "+")
    done = env.cli("audit", "checkpoint")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[1] == str(total)
    assert env.frontier() == (total, tree_frontier([h for _, _, h, _ in rows]))
    done = env.cli("audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{total} records, tree size {total}, 1 signed checkpoints match" in done.stdout
