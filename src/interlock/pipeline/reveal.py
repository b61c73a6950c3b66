"""Stage: inspect what the model returned, then restore placeholders for those allowed to see them.

Values the model emits on its own (a card number it saw elsewhere, a key) are found and handled by
the same policy as input: blocked (the answer is refused), masked, or replaced by a placeholder.
Then placeholders are restored only for classes this caller may see; others keep the placeholder.
Streams are handled chunk by chunk, holding back only what may still be part of a value or a
placeholder, so one split across chunks is still caught and prose reaches the caller as it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from interlock.detect.finding import Finding
from interlock.pipeline.call import Call
from interlock.pipeline.protect import audit_policy
from interlock.redact import Action, ActionPolicy, PlaceholderMap, StreamingRedactor, StreamingRestorer, redact
from interlock.redact.guard import DataGuard, RestoreRights
from interlock.redact.redactor import Restorer, check_blocked

log = logging.getLogger("interlock.pipeline")

# How much of a streamed answer is kept for the audit payload.
_PAYLOAD_CHARS = 64 * 1024


class RevealOutput:
    name = "reveal"

    def __init__(self, guard: DataGuard, scan_output: bool) -> None:
        self._guard = guard
        self._scan = scan_output
        self._restorer = Restorer()

    async def __call__(self, call: Call) -> None:
        mapping = call.mapping if call.mapping is not None else PlaceholderMap(call.request_id)
        rights = self._guard.restore_rights(call.principal, call.app)
        if call.stream_iter is not None:
            call.stream_iter = self._stream(call, call.stream_iter, mapping, rights)
            return
        if call.response is None:
            return
        outputs: list[str] = []
        slots: list[tuple[dict[str, Any], str]] = []
        for choice in call.response.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            if isinstance(message.get("content"), str):
                slots.append((message, "content"))
            # Tool calls, and the older single ``function_call``: arguments are model output like any other.
            functions = [t.get("function") if isinstance(t, dict) else None for t in message.get("tool_calls") or ()]
            for fn in [*functions, message.get("function_call")]:
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    slots.append((fn, "arguments"))
        texts = [holder[key] for holder, key in slots]
        found = await self._guard.scan_many(texts) if self._scan else [[] for _ in texts]
        for (holder, key), text, findings in zip(slots, texts, found, strict=True):
            holder[key] = self._inspect(call, text, findings, mapping, rights, outputs)
        self._finish(call, outputs)
        await self._save(call, mapping)

    async def _save(self, call: Call, mapping: PlaceholderMap) -> None:
        """Store the placeholders the answer added. The answer has gone out with them, so one another
        turn numbered otherwise meanwhile cannot be rewritten: the stored map keeps the other turn's
        entry, and the clash is logged (class only, never a value)."""
        clashes = await self._guard.save(call.request_id, mapping)
        if clashes:
            log.warning("call %s: %d placeholder(s) of its answer (%s) were numbered otherwise by another turn of "
                        "its conversation meanwhile; the stored map keeps the other turn's", call.request_id,
                        len(clashes), ", ".join(sorted({e.data_class for e in clashes})))

    def _inspect(self, call: Call, text: str, found: list[Finding], mapping: PlaceholderMap, rights: RestoreRights,
                 outputs: list[str]) -> str:
        if self._scan:
            findings = [f for f in found if not _is_placeholder(text, f, mapping)]
            if findings:
                policy = self._guard.actions(call.principal, call.app, call.model_alias, findings, call.decide)
                call.data_findings.update((f.data_class, policy.action_for(f.data_class), "output") for f in findings)
                check_blocked(findings, policy, answer=True)
                outputs.append(redact(text, findings, audit_policy(policy), mapping).text)
                text = redact(text, findings, policy, mapping).text
            else:
                outputs.append(text)
        else:
            outputs.append(text)
        return self._restorer.restore(text, mapping, rights)

    def _finish(self, call: Call, outputs: list[str]) -> None:
        if call.payload is None:
            call.payload = {}
        call.payload["output"] = "\n".join(outputs)[:_PAYLOAD_CHARS]

    async def _stream(self, call: Call, chunks: AsyncIterator[dict[str, Any]], mapping: PlaceholderMap,
                      rights: RestoreRights) -> AsyncIterator[dict[str, Any]]:
        # One text stream per choice's content (tool index -1), per tool call's arguments, and for the
        # arguments of an older-style ``function_call`` (index -2).
        redactors: dict[tuple[int, int], StreamingRedactor] = {}
        restorers: dict[tuple[int, int], StreamingRestorer] = {}
        kept: dict[tuple[int, int], list[str]] = {}
        kept_len = 0

        def through(key: tuple[int, int], text: str, final: bool) -> str:
            nonlocal kept_len
            red = redactors.get(key)
            if red is None and self._scan:
                red = redactors[key] = StreamingRedactor(
                    self._guard.detector, ActionPolicy(_LazyActions(self._guard, call), default="block"), mapping)
            res = restorers.get(key)
            if res is None:
                res = restorers[key] = StreamingRestorer(mapping, rights, self._restorer)
            safe = text if red is None else red.feed(text) + (red.flush() if final else "")
            if kept_len < _PAYLOAD_CHARS:
                kept.setdefault(key, []).append(safe)
                kept_len += len(safe)
            return res.feed(safe) + (res.flush() if final else "")

        def legacy_tail_of(index: int) -> str:
            key = (index, _LEGACY)
            return through(key, "", True) if key in redactors or key in restorers else ""

        def tool_tails(index: int) -> list[dict[str, Any]]:
            """What the argument streams of one choice still hold, as tool-call deltas."""
            out = []
            for key in sorted(set(redactors) | set(restorers)):
                if key[0] == index and key[1] >= 0:
                    tail = through(key, "", True)
                    if tail:
                        out.append({"index": key[1], "function": {"arguments": tail}})
            return out

        async for chunk in chunks:
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                index = int(choice.get("index") or 0)
                delta = choice.get("delta")
                final = bool(choice.get("finish_reason"))
                if not isinstance(delta, dict):
                    continue
                if isinstance(delta.get("content"), str):
                    delta["content"] = through((index, -1), delta["content"], final)
                elif final:
                    tail = through((index, -1), "", True)
                    if tail:
                        delta["content"] = tail
                for tool_call in delta.get("tool_calls") or ():
                    fn = tool_call.get("function") if isinstance(tool_call, dict) else None
                    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                        fn["arguments"] = through((index, int(tool_call.get("index") or 0)), fn["arguments"], False)
                legacy = delta.get("function_call")
                if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
                    legacy["arguments"] = through((index, _LEGACY), legacy["arguments"], False)
                if final:
                    tails = tool_tails(index)
                    if tails:
                        delta["tool_calls"] = [*(delta.get("tool_calls") or ()), *tails]
                    legacy_tail = legacy_tail_of(index)
                    if legacy_tail:
                        delta["function_call"] = _with_tail(delta.get("function_call"), legacy_tail)
            yield chunk
        # A stream that ended without a finish_reason still releases what it held back.
        for index in sorted({key[0] for key in set(redactors) | set(restorers)}):
            tail = through((index, -1), "", True)
            rest: dict[str, Any] = {"content": tail} if tail else {}
            tails = tool_tails(index)
            if tails:
                rest["tool_calls"] = tails
            legacy_tail = legacy_tail_of(index)
            if legacy_tail:
                rest["function_call"] = {"arguments": legacy_tail}
            if rest:
                yield {"id": "", "object": "chat.completion.chunk", "created": 0, "model": call.model_alias,
                       "choices": [{"index": index, "delta": rest, "finish_reason": None}]}
        texts = ["".join(kept[key]) for key in sorted(kept)]
        self._finish(call, [self._at_rest(call, text, mapping) for text in texts if text])
        await self._save(call, mapping)

    def _at_rest(self, call: Call, text: str, mapping: PlaceholderMap) -> str:
        """A streamed answer as it may be kept in the audit payload: values the policy allowed are masked."""
        findings = [f for f in self._guard.scan(text) if not _is_placeholder(text, f, mapping)]
        if not findings:
            return text
        policy = ActionPolicy({f.data_class: "mask" for f in findings}, default="mask")
        return redact(text, findings, policy, mapping).text


_LEGACY = -2  # the stream key of a choice's older-style function_call arguments


def _with_tail(function_call: Any, tail: str) -> dict[str, Any]:
    """A final delta's function_call with the held-back end of its arguments appended."""
    if not isinstance(function_call, dict):
        return {"arguments": tail}
    return {**function_call, "arguments": str(function_call.get("arguments") or "") + tail}


class _LazyActions(Mapping[str, Action]):
    """Per-class actions decided by Cedar the first time a streamed answer reveals a class."""

    def __init__(self, guard: DataGuard, call: Call) -> None:
        self._guard = guard
        self._call = call
        self._decided: dict[str, Action] = {}

    def __getitem__(self, data_class: str) -> Action:
        if data_class.endswith(".*"):
            raise KeyError(data_class)  # families are decided by Cedar itself, per class
        action = self._decided.get(data_class)
        if action is None:
            call = self._call
            action = self._guard.actions(call.principal, call.app, call.model_alias, [_probe(data_class)],
                                         call.decide).action_for(data_class)
            self._decided[data_class] = action
            self._call.data_findings[(data_class, action, "output")] += 1
        return action

    def __iter__(self) -> Iterator[str]:
        return iter(self._decided)

    def __len__(self) -> int:
        return len(self._decided)


def _probe(data_class: str) -> Finding:
    return Finding(data_class, 0, 0, 1.0, "stream", "")


def _is_placeholder(text: str, finding: Finding, mapping: PlaceholderMap) -> bool:
    return mapping.lookup(text[finding.start:finding.end]) is not None
