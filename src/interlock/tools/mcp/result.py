"""What an upstream MCP tool answered, inspected before the caller sees it.

Every text in the result is scanned: text blocks, embedded text resources, resource links and every
string of the structured content. For each data class found, policy is asked two questions:

1. ``send_data_to_tool``: may values of this class come back from this tool at all? If not, the
   whole result is withheld (``data_blocked``), naming the class, never the value.
2. ``restore_data``: may this caller see values of this class? If so the value passes; if not it is
   masked irreversibly (``[REDACTED:API_KEY]``, a card keeps its last four digits).

Instruction-like text (``detect.injection``, class ``threat.prompt_injection``) is asked the first
question only: forbidden, the result is withheld; permitted, it passes as written and the result is
flagged (``_meta["interlock/flags"]`` and the audit record), so the caller knows what it hands its model.

Content that cannot be scanned (images, audio, binary resources) withholds the result: an answer
nobody could inspect does not pass. The audit payload keeps the result with every value masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types

from interlock.detect.finding import Finding
from interlock.detect.injection import PROMPT_INJECTION, PromptInjectionRecognizer
from interlock.errors import DataBlocked, Refusal
from interlock.identity.principal import Principal
from interlock.policy.holder import PolicyHolder
from interlock.redact import Action, ActionPolicy, PlaceholderMap, redact

Scan = Callable[[str], list[Finding]]

MASK_ALL = ActionPolicy({}, default="mask")
# What the audit payload keeps: every value masked; an injected instruction is evidence, kept as it was.
_KEPT = ActionPolicy({PROMPT_INJECTION: "allow"}, default="mask")
_PAYLOAD_CHARS = 64 * 1024
_UNSCANNABLE = {"image": "an image", "audio": "audio"}


class ResultBlocked(DataBlocked):
    """A result withheld because of the data classes in it (named, never the values)."""

    def __init__(self, message: str, classes: list[str], policy_ids: tuple[str, ...]) -> None:
        super().__init__(message)
        self.classes = classes
        self.policy_ids = policy_ids


class ResultWithheld(Refusal):
    status = 502
    code = "tool_result_unscannable"
    type = "api_error"


Setter = Callable[[str], None]


def _text_slots(value: Any, out: list[tuple[str, Setter]]) -> None:
    """Every string in a JSON value (object keys too), with a way to replace it."""
    if isinstance(value, dict):
        for key in list(value):
            item = value[key]
            if isinstance(item, str):
                out.append((item, _set_item(value, key)))
            else:
                _text_slots(item, out)
            if key:
                out.append((key, _rename(value, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                out.append((item, _set_item(value, index)))
            else:
                _text_slots(item, out)


def _set_item(container: Any, key: Any) -> Setter:
    def set_text(new: str) -> None:
        container[key] = new

    return set_text


def _rename(container: dict[str, Any], key: str) -> Setter:
    def set_key(new: str) -> None:
        if new != key and key in container:
            container[new] = container.pop(key)

    return set_key


@dataclass(slots=True)
class Inspected:
    result: types.CallToolResult
    # (class, action) for every finding, never the value.
    findings: list[tuple[str, Action]] = field(default_factory=list)
    policy_ids: tuple[str, ...] = ()
    flags: list[str] = field(default_factory=list)
    # The result as kept in the audit payload: every value masked.
    kept: str = ""


class ResultInspector:
    def __init__(self, scan: Scan, policy: PolicyHolder, injection: PromptInjectionRecognizer | None) -> None:
        self._scan = scan
        self._policy = policy
        self._injection = injection

    def _findings(self, text: str) -> tuple[list[Finding], set[str]]:
        """What the text is rewritten with (sorted, not overlapping), and every class found in it."""
        found = self._scan(text)
        flagged = self._injection.scan(text) if self._injection is not None else []
        if not flagged:
            return found, {f.data_class for f in found}
        # A value inside an injected instruction keeps its own finding (and action); the flag covers the rest.
        beside = [f for f in flagged if not any(f.start < d.end and d.start < f.end for d in found)]
        return sorted([*found, *beside], key=lambda f: f.start), {f.data_class for f in [*found, *flagged]}

    def inspect(self, principal: Principal, app: Principal | None, tool: str,
                result: types.CallToolResult) -> Inspected:
        wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        # The upstream's own metadata is not passed on: it is not part of what the caller asked for.
        wire.pop("_meta", None)
        slots = self._slots(tool, wire)
        scanned = []
        found_classes: set[str] = set()
        for text, setter in slots:
            found, classes_here = self._findings(text)
            scanned.append((text, setter, found))
            found_classes |= classes_here
        inspected = Inspected(result)
        classes = sorted(found_classes)
        if PROMPT_INJECTION in classes:
            inspected.flags = [PROMPT_INJECTION]
        policy = self._actions(principal, app, tool, classes, inspected)
        mapping = PlaceholderMap("mask")
        kept: list[str] = []
        for text, setter, found in scanned:
            if not found:
                kept.append(text)
                continue
            for f in found:
                inspected.findings.append((f.data_class, policy.action_for(f.data_class)))
            kept.append(redact(text, found, _KEPT, mapping).text)
            setter(redact(text, found, policy, mapping).text)
        inspected.kept = "\n".join(kept)[:_PAYLOAD_CHARS]
        if inspected.flags:
            wire["_meta"] = {"interlock/flags": inspected.flags}
        inspected.result = types.CallToolResult.model_validate(wire)
        return inspected

    def _slots(self, tool: str, wire: dict[str, Any]) -> list[tuple[str, Setter]]:
        slots: list[tuple[str, Setter]] = []
        for block in wire.get("content") or ():
            kind = block.get("type")
            if kind in _UNSCANNABLE or (kind == "resource" and "blob" in (block.get("resource") or {})):
                what = _UNSCANNABLE.get(kind, "a binary resource")
                raise ResultWithheld(f"The result of {tool!r} contains {what}, which Interlock cannot inspect for "
                                     "sensitive data, so it was withheld.")
            if kind == "text":
                slots.append((block["text"], _set_item(block, "text")))
            elif kind == "resource":
                resource = block.get("resource") or {}
                if isinstance(resource.get("text"), str):
                    slots.append((resource["text"], _set_item(resource, "text")))
                if isinstance(resource.get("uri"), str):
                    slots.append((resource["uri"], _set_item(resource, "uri")))
            elif kind == "resource_link":
                for key in ("uri", "name", "title", "description"):
                    if isinstance(block.get(key), str):
                        slots.append((block[key], _set_item(block, key)))
            else:
                raise ResultWithheld(f"The result of {tool!r} contains content of type {kind!r}, which Interlock "
                                     "cannot inspect, so it was withheld.")
        if "structuredContent" in wire:
            _text_slots(wire["structuredContent"], slots)
        return slots

    def _actions(self, principal: Principal, app: Principal | None, tool: str, classes: list[str],
                 inspected: Inspected) -> ActionPolicy:
        if not classes:
            return MASK_ALL
        engine = self._policy.engine
        decided = engine.data_to_tool(principal, app, tool, classes)
        blocked = [c for c in classes if not decided[c].allowed]
        ids = [p for c in classes for p in decided[c].policy_ids]
        if blocked:
            raise ResultBlocked(f"The result of {tool!r} contains {', '.join(blocked)} values, which policy does "
                                "not let come back from this tool, so it was withheld.", classes,
                                tuple(dict.fromkeys(ids)))
        actions: dict[str, Action] = {}
        for data_class in classes:
            if data_class == PROMPT_INJECTION:
                actions[data_class] = "allow"
                continue
            seen = engine.may_restore(principal, data_class, app)
            ids += seen.policy_ids
            actions[data_class] = "allow" if seen.allowed else "mask"
        inspected.policy_ids = tuple(dict.fromkeys(ids))
        return ActionPolicy(actions, default="mask")
