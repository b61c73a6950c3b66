"""The audit commands and the signing key: an auditor verifies with the public key alone, and no command
ever makes up a signing key of its own (its checkpoints would fail every later verification)."""

from __future__ import annotations

from pathlib import Path

from audit_gateway_support import KEY_NAME, AuditEnv, record_for

from interlock.merkle.checkpoint import verifier_key
from support.aio import run_async
from support.engines import running_engine


async def write(env: AuditEnv, count: int, *, checkpoint: bool) -> list[str]:
    async with running_engine(env.settings()) as engine:
        rids = []
        for i in range(count):
            record = record_for(i)
            await engine.writer.append(record)
            rids.append(record["request_id"])
        if checkpoint:
            assert await engine.audit.checkpoint() is not None
    return rids


def test_commands_without_the_signing_key_refuse_to_sign_and_create_none(audit_env: AuditEnv,
                                                                          tmp_path: Path) -> None:
    env = audit_env
    run_async(write(env, 6, checkpoint=True))
    public = tmp_path / "verifier.key"
    public.write_text(verifier_key(KEY_NAME, env.public_key()))

    # The operator's shell lacks the key (it lives in the gateway's environment or secret store).
    hidden = env.key_file.rename(tmp_path / "elsewhere.key")
    assert not env.key_file.exists()

    # An auditor with the published verifier key can verify.
    done = env.cli("audit", "verify", "--public-key", str(public))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 records" in done.stdout

    # The gateway runs on (here: restarted with the key in place, then the key hidden again) and
    # appends past the last checkpoint. Nothing may sign it with a key of its own making.
    hidden.rename(env.key_file)
    rids = run_async(write(env, 3, checkpoint=False))
    env.key_file.rename(hidden)
    checkpoints = env.query("SELECT tree_size FROM audit_checkpoint ORDER BY tree_size")

    for argv in (("audit", "checkpoint"), ("audit", "prove", rids[-1]), ("audit", "verify")):
        done = env.cli(*argv)
        assert done.returncode == 1, f"{argv}: {done.stdout}{done.stderr}"
        assert "signing_key_file" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert not env.key_file.exists(), f"{' '.join(argv)} created a signing key"
    assert env.query("SELECT tree_size FROM audit_checkpoint ORDER BY tree_size") == checkpoints

    # With the key back, the same commands work and the log verifies with the published key.
    hidden.rename(env.key_file)
    done = env.cli("audit", "checkpoint")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[1] == "9"
    done = env.cli("audit", "verify", "--public-key", str(public))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 records, tree size 9, 2 signed checkpoints match" in done.stdout
