"""The audit log as a service: integration, signed checkpoints, verification, proofs, erasure, retention.

Appends go through ``AuditWriter`` (group commit): that is *sequencing*, a record durable with its
index when its call's response completes. *Integration* folds sequenced records into the Merkle tree
in index order; one process of the deployment does it at a time (``Store.integrate`` hands the lease
to whoever asks while nobody holds it), and that process signs the checkpoints. SQLite integrates
inline with every append, so there the two stages coincide. A record's inclusion proof exists once it
is integrated and a checkpoint covers it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from interlock.audit.export import proof_bundle
from interlock.audit.gap import gap_entry
from interlock.audit.verify import Problem, TrustedState, VerifyReport, verify_log
from interlock.keyfile import load_or_create
from interlock.merkle.checkpoint import (
    SIGNING_KEY_ENV,
    Checkpoint,
    CheckpointSigner,
    generate_private_key,
    load_private_key,
    load_private_key_env,
    private_key_pem,
)
from interlock.merkle.tree import CachingSubtrees, MerkleAccumulator, subtree_from_leaf_reader
from interlock.settings import AuditSettings, ConfigError
from interlock.store.base import Integration, LogRow, Store
from interlock.tasks import cancel_and_wait

log = logging.getLogger("interlock.audit")

_ROW_BATCH = 20_000
_INTEGRATE_BATCH = 20_000
# Expired payloads are purged this often (every instance tries; the delete is idempotent).
_PURGE_SECONDS = 10.0


def load_signing_key(settings: AuditSettings, *, create: bool) -> Ed25519PrivateKey:
    """The checkpoint signing key: from the environment, else the key file (created if allowed)."""
    if os.environ.get(SIGNING_KEY_ENV):
        try:
            return load_private_key_env()
        except ValueError as exc:
            raise ConfigError(f"{SIGNING_KEY_ENV}: {exc}") from None
    path = settings.signing_key_file or Path("interlock-audit.key")
    if not create and not path.exists():
        raise ConfigError(f"audit.signing_key_file {path} does not exist; create one with "
                          "'interlock audit keygen' or start the gateway once")
    pem = load_or_create(path, lambda: private_key_pem(generate_private_key()), "audit signing key")
    try:
        return load_private_key(pem)
    except ValueError as exc:
        raise ConfigError(f"audit.signing_key_file {path}: {exc}") from None


class AuditLog:
    def __init__(self, store: Store, settings: AuditSettings, *, create_key: bool = True) -> None:
        self._store = store
        self.settings = settings
        # The gateway creates the key on first start; tools must not, or they sign with a key nobody has.
        self._create_key = create_key
        self._signer: CheckpointSigner | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_size = -1
        # Whether this process was the integrator at its last attempt (for /readyz and the logs).
        self.integrator = False
        self._integrated_at = 0
        self._policy = Integration(
            lease_seconds=settings.integrator_lease_seconds, gap_timeout_seconds=settings.gap_timeout_seconds,
            gap_entry=lambda seq, waited: gap_entry(self.signer, seq, waited))

    @property
    def signer(self) -> CheckpointSigner:
        if self._signer is None:
            self._signer = CheckpointSigner(load_signing_key(self.settings, create=self._create_key),
                                            self.settings.key_name)
        return self._signer

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signer.public_key

    async def start(self) -> None:
        _ = self.signer  # a missing or broken key stops start-up, not the first checkpoint
        self._task = asyncio.create_task(self._background(), name="interlock-audit-checkpoints")

    async def stop(self) -> None:
        """Integrate and sign what this process can (as integrator, if it is or can become it), then let
        the lease go so another instance takes over at once."""
        await cancel_and_wait(self._task)
        self._task = None
        try:
            await self.checkpoint()
        except Exception:
            log.exception("final audit checkpoint failed")
        try:
            await self._store.release_integration()
        except Exception:
            log.exception("releasing the audit integrator's lease failed")

    async def _background(self) -> None:
        signed_at = time.monotonic()
        purged_at = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.integrate_interval_seconds)
            now = time.monotonic()
            try:
                state = await self.integrate()
                if state is not None and now - signed_at >= self.settings.checkpoint_interval_seconds:
                    signed_at = now
                    await self._sign(*state)
            except Exception:
                log.exception("audit integration or checkpoint failed; will retry")
            # Retention does not wait on signing: a failing checkpoint must not keep payloads past their time.
            if now - purged_at >= _PURGE_SECONDS:
                purged_at = now
                try:
                    await self._store.purge_expired_payloads(time.time())
                except Exception:
                    log.exception("purging expired audit payloads failed; will retry")

    async def integrate(self) -> tuple[int, bytes] | None:
        """Fold every sequenced record into the tree if this process is (or now becomes) the integrator;
        the integrated size and frontier, or None while another process integrates."""
        while True:
            try:
                state = await self._store.integrate(_INTEGRATE_BATCH, self._policy)
            except Exception:
                self.integrator = False
                raise
            if state is None:
                if self.integrator:
                    log.info("another process integrates the audit log now")
                self.integrator = False
                return None
            if not self.integrator:
                log.info("this process integrates the audit log")
            self.integrator = True
            size, _ = state
            if size - max(self._integrated_at, 0) < _INTEGRATE_BATCH:
                self._integrated_at = size
                return state
            self._integrated_at = size

    async def checkpoint(self, *, settle: bool = False) -> Checkpoint | None:
        """Integrate what can be, then sign the integrated log, unless nothing changed since the last one.

        With ``settle``, first wait until everything sequenced now is integrated, by whoever integrates:
        after a crash that can take a lease's time (until the dead holder's lease lapses) plus the gap
        timeout (until its unwritten indexes are filled). Gives up after that and signs what is there."""
        state = await self.integrate()
        if settle:
            target = await self._store.sequenced_size()
            interval = self.settings.integrate_interval_seconds
            rounds = int((self.settings.integrator_lease_seconds + self.settings.gap_timeout_seconds) / interval) + 10
            for _ in range(rounds):
                size = state[0] if state is not None else (await self._store.frontier())[0]
                if size >= target:
                    break
                await asyncio.sleep(interval)
                state = await self.integrate()
        if state is None:
            state = await self._store.frontier()
        return await self._sign(*state)

    async def _sign(self, size: int, frontier: bytes) -> Checkpoint | None:
        if size == 0 or size == self._last_size:
            return None
        root = MerkleAccumulator.from_bytes(frontier).root()
        cp = self.signer.sign(size, root, time.time())
        await self._store.add_checkpoint(cp)
        self._last_size = size
        return cp

    async def verify(self, public_key: Ed25519PublicKey, trusted: TrustedState | None = None) -> VerifyReport:
        """Verify the whole log (or from a trusted state on), streaming rows in bounded memory."""
        loop = asyncio.get_running_loop()
        checkpoints = await self._store.checkpoints()
        start = trusted.checkpoint.tree_size - 1 if trusted is not None else -1

        def rows() -> Iterator[LogRow]:
            after = start
            while True:
                batch = asyncio.run_coroutine_threadsafe(self._store.log_rows(after, _ROW_BATCH), loop).result()
                if not batch:
                    return
                yield from batch
                after = batch[-1][0]

        size, frontier = await self._store.frontier()
        integrated = (size, MerkleAccumulator.from_bytes(frontier).root())
        report = await asyncio.to_thread(verify_log, rows(), checkpoints, public_key, trusted=trusted,
                                         integrated=integrated)
        if trusted is not None:
            # The rows before the trusted size are not read again, but they must all still be there:
            # a log cut back below that size does not extend the trusted checkpoint.
            size = trusted.checkpoint.tree_size
            if size > 0 and not await self._store.leaf_hashes(size - 1, size):
                report.problems.insert(0, Problem(
                    "truncated", f"the log no longer holds seq {size - 1}, but the trusted state vouches for "
                    f"tree size {size}: records were removed from the end of the log; restore them from a "
                    "backup or export", size - 1, None))
        return report

    async def prove(self, request_id: str) -> dict[str, Any]:
        """A proof bundle for one call's record under the newest checkpoint (signed now if needed)."""
        found = await self._store.entry_for_request(request_id)
        if found is None:
            raise LookupError(f"no audit record has request id {request_id!r}")
        seq, record = found
        checkpoints = await self._store.checkpoints()
        latest = checkpoints[-1] if checkpoints else None
        if latest is None or latest.tree_size <= seq:
            latest = await self.checkpoint()
            if latest is None or latest.tree_size <= seq:
                raise LookupError(f"the record of {request_id} (seq {seq}) is sequenced but not yet integrated "
                                  "into the Merkle tree, so no checkpoint covers it; the integrator folds it in "
                                  "within seconds while an instance runs; try again shortly")
        loop = asyncio.get_running_loop()

        def read(a: int, b: int) -> list[bytes]:
            return asyncio.run_coroutine_threadsafe(self._store.leaf_hashes(a, b), loop).result()

        source = CachingSubtrees(subtree_from_leaf_reader(read))
        return await asyncio.to_thread(proof_bundle, record, seq, latest, source, self.public_key)

    async def erase(self, request_id: str) -> bool:
        """Remove a call's stored payload (a data-subject request); its record and every proof remain."""
        return await self._store.erase_payload(request_id)
