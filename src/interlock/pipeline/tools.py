"""Stage: judge every tool call the model proposes before the caller sees it.

Runs after ``reveal``, so a call is judged with its arguments as they would be executed (placeholders
restored for callers allowed to see the values: the recipients an ``email_domains`` bound reads are
the real ones). Each call goes through the tool gate (``tools/gate.py``) and then:

- ``allow``: it reaches the caller unchanged;
- ``deny``: it is removed;
- ``approve``: an approval request is created (approvers see the arguments with every sensitive value
  masked; the real ones are sealed) and the call is removed until it is approved and resumed
  (``pipeline/resume.py``).

When a call is removed, the answer carries an ``interlock`` object saying what happened to each call.
A choice left with no call ends with ``finish_reason: "stop"`` and a short explanation appended to its
text, so an agent framework shows it and stops instead of waiting for a tool result that never comes.

Streams: tool-call fragments are held back per choice (text keeps flowing as it comes) and judged at
that choice's ``finish_reason``, or at the end of the stream. The calls that may run then go out whole,
renumbered from 0; no fragment of a removed call ever reaches the caller.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from interlock.approvals import Approval, ApprovalService
from interlock.detect.finding import Finding
from interlock.pipeline.call import Call
from interlock.pipeline.resume import RESUME_HEADER
from interlock.redact import mask_json
from interlock.tools.gate import TOOL_ARGUMENTS_INVALID, ToolArgumentsError, ToolGate, ToolVerdict, parse_arguments

Scan = Callable[[str], list[Finding]]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
UNUSABLE_NAME = "[not a tool name]"
_OUTCOMES = {"allow": "allowed", "deny": "refused", "approve": "held"}


@dataclass(slots=True)
class Proposed:
    """One tool call as the model proposed it. ``legacy``: the older ``function_call`` form."""

    id: str = ""
    name: str = ""
    arguments: str = ""
    legacy: bool = False

    def wire(self, index: int | None = None) -> dict[str, Any]:
        fn = {"name": self.name, "arguments": self.arguments}
        if self.legacy:
            return fn
        out: dict[str, Any] = {"id": self.id, "type": "function", "function": fn}
        return out if index is None else {"index": index, **out}


@dataclass(slots=True)
class Judged:
    proposed: Proposed
    verdict: ToolVerdict
    approval: Approval | None = None

    @property
    def kept(self) -> bool:
        return self.verdict.allowed

    def entry(self, choice: int) -> dict[str, Any]:
        """This call in the answer's ``interlock`` object."""
        p, v, a = self.proposed, self.verdict, self.approval
        return {
            "id": p.id or None, "name": p.name, "choice": choice, "outcome": _OUTCOMES[v.outcome],
            "code": v.code or None, "message": self.explanation() if not self.kept else v.message,
            "policy_ids": list(v.policy_ids),
            "approval_id": a.id if a else None, "approval_state": a.state if a else None,
            "resume": {"header": RESUME_HEADER, "value": a.id, "status": f"/v1/approvals/{a.id}",
                       "wait": f"/v1/approvals/{a.id}/wait"} if a else None,
        }

    def explanation(self) -> str:
        """What happened, in words a person reading the chat understands (never an argument value)."""
        if self.approval is not None:
            return (f"The call to {self.proposed.name!r} needs a person's approval and has not run. "
                    f"Approval request {self.approval.id} is waiting for a decision; once it is approved, "
                    f"send this conversation again with the header {RESUME_HEADER}: {self.approval.id} "
                    f"to receive the approved call.")
        return self.verdict.message or f"The call to {self.proposed.name!r} was refused ({self.verdict.code})."


def explanation_text(removed: list[Judged]) -> str:
    return "\n".join(j.explanation() for j in removed)


class CheckTools:
    name = "tools"

    def __init__(self, gate: ToolGate, approvals: ApprovalService, scan: Scan) -> None:
        self._gate = gate
        self._approvals = approvals
        self._scan = scan

    async def __call__(self, call: Call) -> None:
        if call.resumed_approvals:
            return  # the answer is the approved calls themselves: judged, and decided by a person
        if call.stream_iter is not None:
            call.stream_iter = self._stream(call, call.stream_iter)
            return
        if call.response is None:
            return
        entries: list[dict[str, Any]] = []
        removed_any = False
        for position, choice in enumerate(call.response.get("choices") or ()):
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            proposed = _proposed(message)
            if not proposed:
                continue
            index = choice.get("index", position)
            judged = [await self._judge(call, p) for p in proposed]
            entries += [j.entry(index) for j in judged]
            removed = [j for j in judged if not j.kept]
            if not removed:
                continue
            removed_any = True
            kept = [j.proposed for j in judged if j.kept]
            calls = [p.wire() for p in kept if not p.legacy]
            message.pop("tool_calls", None)
            message.pop("function_call", None)
            if calls:
                message["tool_calls"] = calls
            legacy = [p for p in kept if p.legacy]
            if legacy:
                message["function_call"] = legacy[0].wire()
            if not kept:
                message["content"] = _appended(message.get("content"), explanation_text(removed))
                choice["finish_reason"] = "stop"
        if removed_any:
            call.response["interlock"] = {"tool_calls": entries}
            first = (call.response.get("choices") or [{}])[0]
            if isinstance(first, dict) and first.get("finish_reason"):
                call.finish_reason = str(first["finish_reason"])

    async def _judge(self, call: Call, proposed: Proposed) -> Judged:
        assert call.principal is not None
        if proposed.name not in self._gate.registry and (
                not _TOOL_NAME.match(proposed.name) or self._scan(proposed.name)):
            # The name is model output too: one that is no tool name at all (or holds a value) is not
            # repeated to the caller or kept in the record.
            proposed.name = UNUSABLE_NAME
        arguments: dict[str, Any] | None
        try:
            arguments = parse_arguments(proposed.arguments)
        except ToolArgumentsError as exc:
            arguments = None
            if proposed.name in self._gate.registry:
                verdict = ToolVerdict(proposed.name, "deny", TOOL_ARGUMENTS_INVALID,
                                      f"The arguments of {proposed.name!r} cannot be used: {exc}.")
            else:  # an unknown tool is refused as such, whatever its arguments look like
                verdict = self._gate.check(call.principal, call.app, proposed.name, proposed.arguments,
                                           use_case=call.use_case)
        else:
            verdict = self._gate.check(call.principal, call.app, proposed.name, arguments, use_case=call.use_case)
        view: Any = self._masked(arguments if arguments is not None else proposed.arguments)
        approval = None
        if verdict.outcome == "approve" and arguments is not None:
            approval = await self._approvals.request_tool_call(
                call.principal, call.app, tool=proposed.name, route=verdict.route, arguments=arguments,
                arguments_view=view, policy_ids=verdict.policy_ids, reason=verdict.message,
                request_id=call.request_id, tool_call_id=proposed.id or None)
        call.decide(self.name, verdict.outcome, f"{proposed.name}: {verdict.message}", verdict.policy_ids)
        recorded = verdict.as_record()
        if proposed.id:
            recorded["id"] = proposed.id
        if approval is not None:
            recorded["approval_id"] = approval.id
        call.tool_verdicts.append(recorded)
        if call.payload is None:
            call.payload = {}
        call.payload.setdefault("tool_calls", []).append(
            {"id": proposed.id, "name": proposed.name, "outcome": _OUTCOMES[verdict.outcome], "arguments": view})
        return Judged(proposed, verdict, approval)

    def _masked(self, value: Any) -> Any:
        """A copy of a JSON value with every sensitive value found masked: what approvers and the audit see."""
        return mask_json(value, self._scan)

    # ---- streams

    async def _stream(self, call: Call, chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        held: dict[int, _Held] = {}
        last: dict[str, Any] = {}
        async for chunk in chunks:
            choices = chunk.get("choices")
            if not isinstance(choices, list) or not choices:
                yield chunk
                continue
            last = chunk
            out: list[Any] = []
            entries: list[dict[str, Any]] = []
            for position, choice in enumerate(choices):
                if not isinstance(choice, dict):
                    out.append(choice)
                    continue
                index = int(choice.get("index", position) or 0)
                buffer = held.get(index)
                if buffer is None:
                    buffer = held[index] = _Held()
                delta = choice.get("delta")
                took = isinstance(delta, dict) and buffer.take(delta)
                if choice.get("finish_reason") and buffer.calls:
                    entries += await self._release(call, choice, held.pop(index))
                elif took and isinstance(delta, dict) and all(v is None for v in delta.values()) \
                        and not choice.get("finish_reason"):
                    continue  # only tool-call fragments: nothing goes out until the call is judged
                out.append(choice)
            if not out and not chunk.get("usage"):
                continue
            chunk["choices"] = out
            if entries:
                chunk["interlock"] = {"tool_calls": entries}
            yield chunk
        # A stream that ended without a finish_reason still has its calls judged (and sent, if allowed).
        for index, buffer in sorted(held.items()):
            if not buffer.calls:
                continue
            final: dict[str, Any] = {"index": index, "delta": {}, "logprobs": None, "finish_reason": None}
            entries = await self._release(call, final, buffer)
            tail: dict[str, Any] = {"id": last.get("id", ""), "object": "chat.completion.chunk",
                                    "created": last.get("created", 0), "model": call.model_alias,
                                    "choices": [final]}
            if entries:
                tail["interlock"] = {"tool_calls": entries}
            yield tail

    async def _release(self, call: Call, choice: dict[str, Any], buffer: _Held) -> list[dict[str, Any]]:
        """Judge one choice's held calls and write the verdict into its final chunk; entries if any was removed."""
        index = int(choice.get("index") or 0)
        judged = [await self._judge(call, p) for p in buffer.proposed()]
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        kept = [j.proposed for j in judged if j.kept]
        calls = [p.wire(i) for i, p in enumerate(p for p in kept if not p.legacy)]
        if calls:
            delta["tool_calls"] = calls
        legacy = [p for p in kept if p.legacy]
        if legacy:
            delta["function_call"] = legacy[0].wire()
        removed = [j for j in judged if not j.kept]
        if removed and not kept:
            before = delta.get("content") if isinstance(delta.get("content"), str) else ""
            sep = "\n\n" if buffer.had_text or before else ""
            delta["content"] = f"{before}{sep}{explanation_text(removed)}"
            choice["finish_reason"] = "stop"
        elif not choice.get("finish_reason"):
            choice["finish_reason"] = "tool_calls" if calls else "function_call"
        if index == 0:
            call.finish_reason = str(choice["finish_reason"])
        return [j.entry(index) for j in judged] if removed else []


@dataclass(slots=True)
class _Held:
    """One choice's tool-call fragments, by the index the model gave each call, in arrival order."""

    calls: dict[int | str, Proposed] = field(default_factory=dict)
    pieces: dict[int | str, list[str]] = field(default_factory=dict)
    had_text: bool = False

    def take(self, delta: dict[str, Any]) -> bool:
        """Move the tool-call fragments out of ``delta``; whether there were any."""
        if isinstance(delta.get("content"), str) and delta["content"]:
            self.had_text = True
        took = False
        fragments = delta.pop("tool_calls", None)
        if isinstance(fragments, list):
            took = True
            for fragment in fragments:
                if isinstance(fragment, dict):
                    self._add(fragment.get("index", 0), fragment, legacy=False)
        legacy = delta.pop("function_call", None)
        if isinstance(legacy, dict):
            took = True
            self._add("function_call", {"function": legacy}, legacy=True)
        return took

    def _add(self, key: Any, fragment: dict[str, Any], *, legacy: bool) -> None:
        key = key if isinstance(key, int | str) else 0
        proposed = self.calls.get(key)
        if proposed is None:
            proposed = self.calls[key] = Proposed(legacy=legacy)
            self.pieces[key] = []
        if isinstance(fragment.get("id"), str) and fragment["id"] and not proposed.id:
            proposed.id = fragment["id"]
        fn = fragment.get("function")
        if isinstance(fn, dict):
            if isinstance(fn.get("name"), str):
                proposed.name += fn["name"]
            if isinstance(fn.get("arguments"), str):
                self.pieces[key].append(fn["arguments"])

    def proposed(self) -> list[Proposed]:
        out = []
        for key, p in self.calls.items():
            p.arguments = "".join(self.pieces[key])
            out.append(p)
        return out


def _proposed(message: dict[str, Any]) -> list[Proposed]:
    """The tool calls of a complete assistant message."""
    out = []
    for tc in message.get("tool_calls") or ():
        if not isinstance(tc, dict):
            out.append(Proposed())  # not a call anyone can judge: refused as an unknown tool
            continue
        fn = tc.get("function")
        if not isinstance(fn, dict):
            fn = {}
        arguments = fn.get("arguments")
        if not isinstance(arguments, str):
            arguments = msgspec.json.encode(arguments).decode() if arguments is not None else ""
        out.append(Proposed(str(tc.get("id") or ""), str(fn.get("name") or ""), arguments))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        arguments = legacy.get("arguments")
        out.append(Proposed("", str(legacy.get("name") or ""), arguments if isinstance(arguments, str) else "",
                            legacy=True))
    return out


def _appended(content: Any, text: str) -> str:
    if isinstance(content, str) and content:
        return f"{content}\n\n{text}"
    return text
