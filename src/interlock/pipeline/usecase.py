"""Stage: which use case this call belongs to (only in the pipeline when use cases are configured)."""

from __future__ import annotations

from typing import Any

from interlock.errors import InvalidRequest, PolicyDenied
from interlock.pipeline.call import Call
from interlock.store import Store
from interlock.usecases.catalog import UseCaseCatalog
from interlock.usecases.prompts import PromptVersion

# The header a call names one of its use case's prompts with: NAME, or NAME@VERSION.
PROMPT_HEADER = "x-interlock-prompt"


class BindUseCase:
    name = "use_case"

    def __init__(self, catalog: UseCaseCatalog) -> None:
        self._catalog = catalog

    async def __call__(self, call: Call) -> None:
        assert call.principal is not None
        bound = self._catalog.bind(call.principal, call.app, call.headers)
        if bound is not None:
            # The record carries use_case and use_case_state; no decision entry is added for it.
            call.use_case = bound.facts


def _system_text(messages: list[Any]) -> str | None:
    """The system prompt as sent: the system (or developer) messages' text, joined; None without any."""
    texts = []
    for m in messages:
        if isinstance(m, dict) and m.get("role") in ("system", "developer"):
            content = m.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            texts.append(content if isinstance(content, str) else "")
    return "\n".join(texts) if texts else None


class ApplyPrompt:
    """Stage (after parse, when some use case declares prompts): the system prompt is an approved version
    of one of the use case's prompts, supplied by name or checked as sent; the call records which.

    The approved versions are read again from the store every ``refresh_seconds`` (by the first call
    after that, the calls arriving meanwhile sharing its read) and at once when a call misses one, so a newly approved version takes effect
    without a restart on every worker."""

    name = "prompt"

    def __init__(self, catalog: UseCaseCatalog, store: Store, refresh_seconds: float) -> None:
        self._catalog = catalog
        self._store = store
        self._refresh = refresh_seconds

    async def _chosen(self, use_case: str, name: str, version: int | None) -> PromptVersion | None:
        chosen = self._catalog.prompt(use_case, name, version)
        if chosen is None and await self._catalog.reread_after_miss(self._store):
            chosen = self._catalog.prompt(use_case, name, version)
        return chosen

    async def _approved(self, use_case: str, text: str) -> PromptVersion | None:
        found = self._catalog.approved_text(use_case, text)
        if found is None and await self._catalog.reread_after_miss(self._store):
            found = self._catalog.approved_text(use_case, text)
        return found

    async def __call__(self, call: Call) -> None:
        uc = call.use_case
        if uc is None or not self._catalog.declares_prompts(uc.name):
            return
        messages = call.body.get("messages")
        if not isinstance(messages, list):
            return
        await self._catalog.refresh_prompts(self._store, self._refresh)
        sent = _system_text(messages)
        named = call.headers.get(PROMPT_HEADER)
        if named is not None:
            if sent is not None:
                raise InvalidRequest(f"Send either a system prompt or {PROMPT_HEADER}, not both: the gateway "
                                     f"supplies the named prompt.", param=PROMPT_HEADER)
            name, _, raw_version = named.strip().partition("@")
            version = int(raw_version) if raw_version.isdigit() else None
            if raw_version and version is None:
                raise InvalidRequest(f"{PROMPT_HEADER} is NAME or NAME@VERSION (a whole number).", param=PROMPT_HEADER)
            chosen = await self._chosen(uc.name, name, version)
            if chosen is None:
                which = f"{name} v{version}" if version is not None else name
                raise PolicyDenied(f"The prompt {which} of use case {uc.name!r} has no approved version; its owner "
                                   f"proposes it (interlock usecases propose-prompt) and an approver of its review "
                                   f"route approves it.", param=PROMPT_HEADER)
            messages.insert(0, {"role": "system", "content": chosen.text})
        else:
            if sent is None:
                return
            found = await self._approved(uc.name, sent)
            if found is None:
                raise PolicyDenied(f"The system prompt is not an approved version of a prompt of use case "
                                   f"{uc.name!r}; name one with {PROMPT_HEADER} or have this text approved.")
            chosen = found
        call.prompt_version = (chosen.name, chosen.version)
        call.decide(self.name, "allow", f"prompt {chosen.name} v{chosen.version}")
