"""The audit log as a service: signed checkpoints, verification, proofs, erasure and retention.

Appends go through ``AuditWriter`` (group commit); every append advances the Merkle frontier in
the same transaction, so any worker of any instance can sign a checkpoint of the whole log.
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
from interlock.store.base import LogRow, Store
from interlock.tasks import cancel_and_wait

log = logging.getLogger("interlock.audit")

_ROW_BATCH = 20_000


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
        await cancel_and_wait(self._task)
        self._task = None
        try:
            await self.checkpoint()
        except Exception:
            log.exception("final audit checkpoint failed")

    async def _background(self) -> None:
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval_seconds)
            try:
                await self.checkpoint()
            except Exception:
                log.exception("audit checkpoint failed; will retry")
            # Retention does not wait on signing: a failing checkpoint must not keep payloads past their time.
            try:
                await self._store.purge_expired_payloads(time.time())
            except Exception:
                log.exception("purging expired audit payloads failed; will retry")

    async def checkpoint(self) -> Checkpoint | None:
        """Sign the log as it stands, unless nothing was appended since the last checkpoint."""
        size, frontier = await self._store.frontier()
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

        report = await asyncio.to_thread(verify_log, rows(), checkpoints, public_key, trusted=trusted)
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
            if latest is None:
                raise LookupError("the log has no checkpoint covering this record yet")
        loop = asyncio.get_running_loop()

        def read(a: int, b: int) -> list[bytes]:
            return asyncio.run_coroutine_threadsafe(self._store.leaf_hashes(a, b), loop).result()

        source = CachingSubtrees(subtree_from_leaf_reader(read))
        return await asyncio.to_thread(proof_bundle, record, seq, latest, source, self.public_key)

    async def erase(self, request_id: str) -> bool:
        """Remove a call's stored payload (a data-subject request); its record and every proof remain."""
        return await self._store.erase_payload(request_id)
