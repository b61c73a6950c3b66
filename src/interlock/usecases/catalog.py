"""The use cases a deployment serves, indexed once: which one a call belongs to, and what policy sees.

A call belongs to the use case its caller names in the use-case header (one the caller is a user,
application or tester of), else to the use case its application is bound to. With ``required`` a call
that belongs to none is refused; whether the use case's state lets this caller in is Cedar's to say
(``context.use_case``, the built-in ``usecases.cedar``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from interlock.errors import InvalidRequest, PolicyDenied
from interlock.identity.principal import Principal
from interlock.policy.decision import UseCaseFacts
from interlock.store import Store
from interlock.tasks import cancel_and_wait
from interlock.usecases.manifest import UseCase
from interlock.usecases.prompts import PromptVersion, approved_digests, approved_versions

# The audit records of the lifecycle: promotions and gate results carry this endpoint.
USE_CASE_ENDPOINT = "usecases"
# A call that misses an approved prompt reads the approvals again at most this often (a stream of
# unapproved prompts must not become a stream of store reads).
_MISS_REREAD_SECONDS = 0.25

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Bound:
    """A call's use case and the facts policy decides on."""

    use_case: UseCase
    facts: UseCaseFacts


class UseCaseCatalog:
    def __init__(self, use_cases: dict[str, UseCase], *, header: str, required: bool) -> None:
        self.use_cases = use_cases
        self.header = header
        self.required = required
        self._by_app = {app: uc for uc in use_cases.values() for app in uc.applications}
        # Filled by ``load_gates`` before the first call: a production use case serves only once the
        # gate result its manifest names is found in the audit log, for this manifest as it stands.
        self.gate_passed: dict[str, bool] = dict.fromkeys(use_cases, False)
        # Per use case, its approved prompt versions (filled by ``load_prompts``).
        self.prompts: dict[str, list[PromptVersion]] = {name: [] for name in use_cases}
        self._prompts_read = 0.0  # time.monotonic() of the last read that started
        self._reading: asyncio.Task[None] | None = None
        self._bound: dict[tuple[str, bool], Bound] = {}
        self._build_bound()

    @property
    def has_prompts(self) -> bool:
        return any(uc.doc.get("prompts") for uc in self.use_cases.values())

    def _build_bound(self) -> None:
        # Built once (and again when the gates are read): a call picks one, allocating nothing.
        self._bound = {(name, tester): Bound(uc, UseCaseFacts(name, uc.state, self.gate_passed[name], tester))
                       for name, uc in self.use_cases.items() for tester in (False, True)}

    async def load_gates(self, store: Store) -> None:
        for name, uc in self.use_cases.items():
            self.gate_passed[name] = await gate_vouches(store, uc)
        self._build_bound()

    async def load_prompts(self, store: Store) -> None:
        if not self.has_prompts:
            return
        self._prompts_read = time.monotonic()
        digests = await approved_digests(store)
        # Replaced whole: a call reading the versions meanwhile sees the old set or the new one.
        self.prompts = {name: approved_versions(uc, digests) for name, uc in self.use_cases.items()}

    def _read_prompts(self, store: Store) -> asyncio.Task[None]:
        """One read of the approved versions in flight at a time; calls arriving meanwhile share it."""
        if self._reading is None or self._reading.done():
            self._prompts_read = time.monotonic()
            self._reading = asyncio.create_task(self._reread(store), name="interlock-prompt-refresh")
        return self._reading

    async def _reread(self, store: Store) -> None:
        try:
            await self.load_prompts(store)
        except Exception:
            # The versions in force stay; the next interval tries again.
            log.exception("the approved prompt versions could not be read; keeping those in force")

    async def stop(self) -> None:
        """Cancel a read of the prompt versions in flight before the store closes."""
        if self._reading is not None:
            await cancel_and_wait(self._reading)
            self._reading = None

    async def refresh_prompts(self, store: Store, interval: float) -> None:
        """Per call, cheap (one clock read): when the versions were last read ``interval`` ago or more,
        read them again; the calls arriving meanwhile wait for that one read."""
        if time.monotonic() - self._prompts_read >= interval:
            await asyncio.shield(self._read_prompts(store))

    async def reread_after_miss(self, store: Store) -> bool:
        """A call found no approved version: read again now (unless a read started very recently) so a
        version approved a moment ago serves at once. True when a read was awaited."""
        if self._reading is not None and not self._reading.done():
            await asyncio.shield(self._reading)
            return True
        if time.monotonic() - self._prompts_read < _MISS_REREAD_SECONDS:
            return False
        await asyncio.shield(self._read_prompts(store))
        return True

    def prompt(self, use_case: str, name: str, version: int | None) -> PromptVersion | None:
        """The approved version asked for (the highest approved one when ``version`` is None)."""
        versions = [p for p in self.prompts.get(use_case, ()) if p.name == name
                    and (version is None or p.version == version)]
        return max(versions, key=lambda p: p.version) if versions else None

    def approved_text(self, use_case: str, text: str) -> PromptVersion | None:
        for p in self.prompts.get(use_case, ()):
            if p.text == text:
                return p
        return None

    def declares_prompts(self, use_case: str) -> bool:
        uc = self.use_cases.get(use_case)
        return bool(uc is not None and uc.doc.get("prompts"))

    def bind(self, principal: Principal, app: Principal | None, headers: dict[str, str]) -> Bound | None:
        caller_app = app if app is not None else principal
        named = headers.get(self.header)
        if named is not None:
            uc = self.use_cases.get(named.strip())
            if uc is None:
                raise InvalidRequest(f"The use case {named!r} named in {self.header} does not exist here; "
                                     f"ask its owner for the name (known: {', '.join(sorted(self.use_cases))}).",
                                     param=self.header)
            if not (uc.admits(principal.id, principal.groups) or caller_app.id in uc.applications):
                raise PolicyDenied(f"You are not a user of the use case {uc.name!r}; ask its owner "
                                   f"({uc.doc['owner']['email']}) to add you or your group.", param=self.header)
        else:
            found = self._by_app.get(caller_app.id)
            if found is None:
                if self.required:
                    raise PolicyDenied(f"This call belongs to no use case: name one in the {self.header} "
                                       f"header, or have your application bound to one in its manifest.",
                                       param=self.header)
                return None
            uc = found
        tester = uc.testers.admit(principal.id, principal.groups)
        return self._bound[(uc.name, tester)]


async def gate_vouches(store: Store, uc: UseCase) -> bool:
    """Does the gate result the manifest names exist in the audit log, pass, and cover this manifest?"""
    request_id = uc.lifecycle.get("gate_record")
    if not isinstance(request_id, str):
        return False
    found = await store.entry_for_request(request_id)
    if found is None:
        return False
    record = json.loads(found[1])
    return bool(record.get("endpoint") == USE_CASE_ENDPOINT and record.get("event") == "use_case.gate"
                and record.get("use_case") == uc.name and record.get("passed") is True
                and record.get("manifest_digest") == uc.digest)
