"""A use case's system prompts: versioned in its manifest, each version in force only once approved.

A version is proposed through the approval service (a proposal titled ``Prompt USE_CASE/NAME vN``
whose details begin with ``sha256:<digest of the text>``, on the use case's review route) and decided
there by the route's approvers, never by whoever proposed it. The gateway reads the approved proposals
at start-up and again while it serves (``UseCaseCatalog.refresh_prompts``); a version is approved only
if its text in the manifest still has the digest that was approved. A call names a prompt (``x-interlock-prompt: NAME`` or ``NAME@VERSION``) and the gateway
supplies the text, or it sends a system prompt that must be an approved version's text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from interlock.approvals.model import decode
from interlock.store import Store
from interlock.usecases.manifest import UseCase

TITLE = re.compile(r"^Prompt ([a-z0-9][a-z0-9_-]{0,63})/([a-z0-9][a-z0-9_-]{0,63}) v([0-9]{1,9})$")
# Approved proposals read at start-up, newest first; more than this and the oldest are not seen.
_MAX_APPROVED = 100_000


@dataclass(frozen=True, slots=True)
class PromptVersion:
    use_case: str
    name: str
    version: int
    text: str

    @property
    def digest(self) -> str:
        return prompt_digest(self.text)


def prompt_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def declared(uc: UseCase) -> list[PromptVersion]:
    return [PromptVersion(uc.name, p["name"], int(p["version"]), p["text"]) for p in uc.doc.get("prompts") or ()]


def find(uc: UseCase, name: str, version: int | None = None) -> PromptVersion | None:
    """The declared version (the highest when ``version`` is None)."""
    versions = [p for p in declared(uc) if p.name == name and (version is None or p.version == version)]
    return max(versions, key=lambda p: p.version) if versions else None


def proposal(version: PromptVersion) -> tuple[str, str]:
    """The title and details of the approval request for a version: approvers read the whole text."""
    return (f"Prompt {version.use_case}/{version.name} v{version.version}",
            f"sha256:{version.digest}\n\n{version.text}")


async def approved_digests(store: Store) -> set[tuple[str, str, int, str]]:
    """(use case, prompt, version, digest) of every approved prompt proposal."""
    out = set()
    for row in await store.approvals_query(tenant=None, state="approved", limit=_MAX_APPROVED):
        approval = decode(row.doc)
        match = TITLE.match(approval.title) if approval.kind == "proposal" else None
        first = approval.details.split("\n", 1)[0]
        if match and first.startswith("sha256:"):
            out.add((match[1], match[2], int(match[3]), first[len("sha256:"):]))
    return out


def approved_versions(uc: UseCase, digests: set[tuple[str, str, int, str]]) -> list[PromptVersion]:
    return [p for p in declared(uc) if (uc.name, p.name, p.version, p.digest) in digests]
