"""What protecting and revealing share: the detector, the policy's data decisions, the vault.

``DataGuard.actions`` asks Cedar once per call for every class found and turns the answers into an
``ActionPolicy`` whose default is ``block``: a class the policy did not decide never passes.

The guard serves the pipeline's stages, the tool gate and the approvals surface alike, so it takes
plain values (who is calling, which model, which conversation) rather than the pipeline's ``Call``.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from interlock.detect import Detector
from interlock.detect.finding import Finding
from interlock.detect.parallel import ParallelScanner
from interlock.errors import InvalidRequest, ServiceUnavailable
from interlock.identity.principal import Principal
from interlock.keyfile import load_or_create
from interlock.policy.holder import PolicyHolder
from interlock.redact import ActionPolicy, Entry, PlaceholderMap, Vault, VaultBusy, VaultCipher
from interlock.settings import ConfigError, RedactionSettings
from interlock.store.base import Store, StoreVault

CONVERSATION_HEADER = "x-interlock-conversation-id"
# Records one decision the policy took: (stage, outcome, reason, policy ids), as ``Call.decide`` does.
Decide = Callable[[str, str, str, tuple[str, ...]], None]
_MAX_CONVERSATION_ID = 200


def vault_cipher(settings: RedactionSettings, default_dir: Path) -> VaultCipher:
    raw = os.environ.get(settings.vault_key_env)
    if not raw:
        path = settings.vault_key_file or default_dir / "interlock-vault.key"
        raw = load_or_create(path, lambda: VaultCipher.generate_key().encode(), "placeholder vault key").decode().strip()
    try:
        return VaultCipher(raw)
    except ValueError as exc:
        raise ConfigError(f"redaction: the vault key is unusable: {exc}") from None


class RestoreRights:
    """``data_class in rights``: may this caller see values of that class again? Asked lazily, once."""

    def __init__(self, policy: PolicyHolder, principal: Principal, app: Principal | None) -> None:
        self._engine = policy.engine
        self._principal = principal
        self._app = app
        self._known: dict[str, bool] = {}

    def __contains__(self, data_class: object) -> bool:
        if not isinstance(data_class, str):
            return False
        allowed = self._known.get(data_class)
        if allowed is None:
            allowed = self._known[data_class] = self._engine.may_restore(self._principal, data_class,
                                                                         self._app).allowed
        return allowed


# Texts up to this size have their findings remembered: system prompts and conversation history are
# sent again on every turn, and scanning the same text twice gives the same findings.
_CACHE_TEXT_MAX = 16 * 1024
_CACHE_ENTRIES = 4096


class DataGuard:
    def __init__(self, detector: Detector, policy: PolicyHolder, store: Store, settings: RedactionSettings,
                 key_dir: Path, *, offload_chars: int = 64 * 1024, scan_threads: int = 2,
                 scan_processes: int = 0) -> None:
        self.detector = detector
        self._scanned: OrderedDict[str, list[Finding]] = OrderedDict()
        self._offload_chars = offload_chars
        self._scan_threads = scan_threads
        self._pool: ThreadPoolExecutor | None = None
        self.scanner = ParallelScanner(detector, scan_processes) if scan_processes else None
        self.policy = policy
        self._settings = settings
        self._store = store
        self._key_dir = key_dir
        self._vault_instance: Vault | None = None

    @property
    def _vault(self) -> Vault:
        # Built on first use: deployments that never name a conversation need no vault key.
        if self._vault_instance is None:
            self._vault_instance = Vault(vault_cipher(self._settings, self._key_dir), StoreVault(self._store),
                                         self._settings.vault_ttl_seconds)
        return self._vault_instance

    def is_large(self, chars: int) -> bool:
        """Is work over this many characters of text worth taking off the event loop?"""
        return chars > self._offload_chars

    async def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings for each text. Small calls are scanned here, where a hand-off costs more than it saves.
        Large calls go to the scan processes (cut into segments scanned at once), so neither the event
        loop nor the GIL is held meanwhile; without scan processes, to a scan thread (the detector is
        immutable and safe from any thread; the cache of small texts is not, and large texts skip it)."""
        if sum(len(t) for t in texts) <= self._offload_chars:
            return [self.scan(t) for t in texts]
        if self.scanner is not None:
            return await self.scanner.scan_many(texts)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._scan_threads, thread_name_prefix="interlock-scan")
        detector = self.detector
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: [detector.scan(t) for t in texts])

    def close(self) -> None:
        if self.scanner is not None:
            self.scanner.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def scan(self, text: str) -> list[Finding]:
        if len(text) > _CACHE_TEXT_MAX:
            return self.detector.scan(text)
        found = self._scanned.get(text)
        if found is not None:
            self._scanned.move_to_end(text)
            return found
        found = self.detector.scan(text)
        self._scanned[text] = found
        if len(self._scanned) > _CACHE_ENTRIES:
            self._scanned.popitem(last=False)
        return found

    def actions(self, principal: Principal | None, app: Principal | None, model: str, findings: Iterable[Finding],
                decide: Decide) -> ActionPolicy:
        """What to do with each class found, for this caller and model; each decision goes to ``decide``."""
        return self.actions_for(principal, app, model, {f.data_class for f in findings}, decide)

    def actions_for(self, principal: Principal | None, app: Principal | None, model: str, classes: Collection[str],
                    decide: Decide) -> ActionPolicy:
        """``actions`` for the classes found (each once)."""
        if not classes:
            return ActionPolicy({}, default="block")
        assert principal is not None
        decided = self.policy.engine.data_actions(principal, app, model, sorted(classes))
        by_class = {}
        for data_class, d in decided.items():
            by_class[data_class] = d.action
            decide("data", d.action, f"{data_class}: {d.reason}", d.policy_ids)
        return ActionPolicy(by_class, default="block")

    def restore_rights(self, principal: Principal | None, app: Principal | None) -> RestoreRights:
        assert principal is not None
        return RestoreRights(self.policy, principal, app)

    @staticmethod
    def _vault_key(principal: Principal | None, conversation: str | None) -> str | None:
        conv = conversation
        if conv is None:
            return None
        conv = conv.strip()
        if not conv or len(conv) > _MAX_CONVERSATION_ID or not conv.isprintable():
            raise InvalidRequest(f"The {CONVERSATION_HEADER} header must be a printable id of at most "
                                 f"{_MAX_CONVERSATION_ID} characters.")
        assert principal is not None
        # Scoped to the caller: nobody can open another principal's conversation map by guessing its id.
        p = principal
        scope = base64.urlsafe_b64encode(f"{p.tenant}\x00{p.kind}\x00{p.id}".encode()).decode()
        return f"{scope}/{conv}"

    async def mapping(self, request_id: str, principal: Principal | None, conversation: str | None) -> PlaceholderMap:
        """The placeholder map of the caller's conversation (the value of ``CONVERSATION_HEADER``), or a
        fresh one of this request alone when no conversation is named."""
        key = self._vault_key(principal, conversation)
        if key is None:
            return PlaceholderMap(request_id)
        return await self._vault.load(key)

    async def save(self, request_id: str, mapping: PlaceholderMap) -> list[Entry]:
        """Store what the request added to its conversation's map (nothing without a conversation). Returns
        the added entries another turn's save left numbered otherwise (see ``Vault.save``)."""
        if mapping.conversation_id == request_id or not mapping.new_entries():
            return []
        try:
            return await self._vault.save(mapping)
        except VaultBusy:
            raise ServiceUnavailable("Other requests in this conversation kept changing its placeholder map at "
                                     "the same moment, so this one was refused. Retry it.") from None
