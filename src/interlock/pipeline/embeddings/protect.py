"""Stage: find sensitive data in every input to embed (and ``user``), and apply policy to it.

A vector keeps no placeholder a caller could map back, so ``redact`` replaces a value with its class
label (``[EMAIL]``), ``mask`` masks it as on the chat path, and ``block`` refuses the call naming the
class. Each input is embedded on its own, so inputs are scanned one by one (no value is looked for
across two of them).

Token ids cannot be read: each token-id input is a finding of class ``media.tokens`` over the whole
input, decided by policy like the other content the gateway cannot read (``media.*``). Allowed, it goes
as sent; redacted or masked, it is replaced by the label ``[TOKENS]``, text the model embeds instead.
"""

from __future__ import annotations

from typing import Any

from interlock.detect.finding import Finding
from interlock.pipeline.call import Call
from interlock.pipeline.embeddings.parse import TEXT, TEXTS, TOKEN_LISTS, TOKENS, input_kind
from interlock.pipeline.protect import INPUT, audit_policy
from interlock.redact import ActionPolicy
from interlock.redact.guard import DataGuard
from interlock.redact.labels import label_for
from interlock.redact.redactor import check_blocked, mask

MEDIA_TOKENS = "media.tokens"
_TOKENS_FINDING = Finding(MEDIA_TOKENS, 0, 0, 1.0, "embedding_input",
                          "an input given as token ids, which the gateway cannot read")


def labelled(text: str, findings: list[Finding], policy: ActionPolicy) -> str:
    """``text`` with each finding replaced by its class label (redact) or its mask (mask); allowed ones kept.
    ``findings`` are sorted and do not overlap (as the detector returns them)."""
    parts: list[str] = []
    cursor = 0
    for f in findings:
        action = policy.action_for(f.data_class)
        if action == "allow" or f.start < cursor:
            continue
        value = text[f.start:f.end]
        parts.append(text[cursor:f.start])
        parts.append(f"[{label_for(f.data_class)}]" if action == "redact" else mask(f.data_class, value))
        cursor = f.end
    parts.append(text[cursor:])
    return "".join(parts)


def _texts(body: dict[str, Any], kind: str) -> list[str]:
    texts = [body["input"]] if kind == TEXT else list(body["input"]) if kind == TEXTS else []
    user = body.get("user")
    return [*texts, user] if isinstance(user, str) and user else texts


def _rewritten(body: dict[str, Any], kind: str, texts: list[str], policy: ActionPolicy) -> dict[str, Any]:
    """The inputs and ``user`` as they go on: ``texts`` (in ``_texts`` order) and token ids as decided."""
    out = dict(body)
    tokens = f"[{label_for(MEDIA_TOKENS)}]" if policy.action_for(MEDIA_TOKENS) != "allow" else None
    count = len(texts)
    if isinstance(body.get("user"), str) and body["user"]:
        count -= 1
        out["user"] = texts[count]
    if kind == TEXT:
        out["input"] = texts[0]
    elif kind == TEXTS:
        out["input"] = texts[:count]
    elif tokens is not None:
        out["input"] = tokens if kind == TOKENS else [tokens] * len(body["input"])
    return out


class ProtectEmbeddingInput:
    name = "protect"

    def __init__(self, guard: DataGuard) -> None:
        self._guard = guard

    async def __call__(self, call: Call) -> None:
        body = call.body
        kind = input_kind(body["input"])
        texts = _texts(body, kind)
        found = await self._guard.scan_many(texts)
        everything = [f for findings in found for f in findings]
        if kind == TOKENS:
            everything.append(_TOKENS_FINDING)
        elif kind == TOKEN_LISTS:
            everything.extend(_TOKENS_FINDING for _ in body["input"])
        if not everything:
            call.payload = {"input": body["input"]}
            return
        policy = self._guard.actions(call.principal, call.app, call.model_alias, everything, call.decide)
        call.data_findings.update((f.data_class, policy.action_for(f.data_class), INPUT) for f in everything)
        check_blocked(everything, policy)
        # The audit payload keeps no raw value even where policy lets the model see it, nor token ids.
        kept = audit_policy(policy)
        at_rest = _rewritten(body, kind, [labelled(t, f, kept) if f else t for t, f in zip(texts, found, strict=True)],
                             ActionPolicy({MEDIA_TOKENS: "mask"}))
        call.payload = {"input": at_rest["input"]}
        call.body = _rewritten(body, kind, [labelled(t, f, policy) if f else t
                                            for t, f in zip(texts, found, strict=True)], policy)
