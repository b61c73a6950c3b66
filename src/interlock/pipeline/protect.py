"""Stage: find sensitive data in everything the model would receive, and apply policy to it.

Covered: every message's text and text parts (system, user, assistant, tool results), the arguments
of earlier tool calls, tool descriptions and the prose of their parameter schemas, a response format's
schema, predicted output, and what goes to the provider beside the prompt (``user``, ``metadata``).
Each text is scanned once; Cedar is asked once for all classes found; then the texts are rewritten in
place: placeholders (``redact``), irreversible masks (``mask``), or a refusal naming the class
(``block``). The upstream sees only the result.

Tool results (messages with role ``tool``, or the older ``function``) are also read for instruction-like
text (``detect.injection``): a result that tries to steer the model is a finding of class
``threat.prompt_injection``, recorded with where ``tool_result`` and decided by policy like any class.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec

from interlock.detect.finding import Finding
from interlock.detect.injection import PROMPT_INJECTION, PromptInjectionRecognizer
from interlock.errors import ServiceUnavailable
from interlock.pipeline.call import Call
from interlock.pipeline.seams import merged, seam_findings
from interlock.redact import ActionPolicy, PlaceholderMap, redact
from interlock.redact.guard import CONVERSATION_HEADER, DataGuard
from interlock.redact.redactor import refuse_blocked

Setter = Callable[[str], None]

# Times the texts may be written again because another turn of the conversation took their placeholders
# (each time, one of the turns competing for a number gets it: enough for 16 turns at the same moment).
_REWRITES = 16

# Where a text sits, as the call record names it.
INPUT = "input"
TOOL_RESULT = "tool_result"


def _setter(container: dict[str, Any], key: str) -> Setter:
    def set_text(new: str) -> None:
        container[key] = new

    return set_text


def _item_setter(container: list[Any], index: int) -> Setter:
    def set_text(new: str) -> None:
        container[index] = new

    return set_text


# JSON Schema keywords whose string values are structure, not prose: rewriting them would break the schema.
_SCHEMA_STRUCTURE = frozenset({"type", "format", "pattern", "$ref", "$schema", "$id", "$anchor", "required"})


def _entry_setters(container: dict[str, Any]) -> list[tuple[str, Setter, str, Setter]]:
    """For a free-form map (metadata): per entry, its key and value with setters. Keys are rewritten too,
    so the map is rebuilt from its entries on every change, in the original order."""
    entries = [[k, v] for k, v in container.items()]

    def setter(index: int, part: int) -> Setter:
        def set_text(new: str) -> None:
            entries[index][part] = new
            container.clear()
            container.update((k, v) for k, v in entries)

        return set_text

    return [(k, setter(i, 0), v, setter(i, 1)) for i, (k, v) in enumerate(entries)]


class MediaSlot:
    """A content part the gateway cannot read (an image, audio, a file): a finding of a ``media.*``
    class over the whole part, decided by policy like any class. Removed, it becomes a text part."""

    __slots__ = ("data_class", "index", "original", "parts")

    def __init__(self, data_class: str, parts: list[Any], index: int) -> None:
        self.data_class = data_class
        self.parts = parts
        self.index = index
        self.original = parts[index]

    def finding(self) -> Finding:
        return Finding(self.data_class, 0, 0, 1.0, "content_part",
                       f"a content part of type {self.parts[self.index].get('type')!r}, which the gateway cannot "
                       f"read")

    def remove(self) -> None:
        self.parts[self.index] = {"type": "text", "text": f"[{self.data_class} removed]"}

    def restore(self) -> None:
        self.parts[self.index] = self.original


_MEDIA_PARTS = {"image_url": "media.image", "input_audio": "media.audio", "file": "media.file"}


def _text_slots(body: dict[str, Any]) -> tuple[list[tuple[str, Setter, str]], list[MediaSlot], int]:
    """Every string the model (or its provider) reads, with a way to replace it and where it sits; every
    part it cannot read; and how many of the strings, first in the list, are the conversation's messages.
    The request schema is closed (pipeline/schema.py), so this covers it whole: a field added there must
    be added here (the request-coverage test sends a marker in every one)."""
    slots: list[tuple[str, Setter, str]] = []
    media: list[MediaSlot] = []

    def slot(container: dict[str, Any], key: str, where: str = INPUT) -> None:
        value = container.get(key)
        if isinstance(value, str) and value:
            slots.append((value, _setter(container, key), where))

    def content(holder: dict[str, Any], key: str, where: str = INPUT) -> None:
        value = holder.get(key)
        if isinstance(value, str):
            slot(holder, key, where)
        elif isinstance(value, list):
            for index, part in enumerate(value):
                if not isinstance(part, dict):
                    continue
                slot(part, "text", where)
                slot(part, "refusal", where)
                kind = _MEDIA_PARTS.get(part.get("type", ""))
                if kind is not None:
                    media.append(MediaSlot(kind, value, index))
                inner = part.get(part.get("type", ""))
                if isinstance(inner, dict):
                    # What the provider reads beside the bytes: an image's URL, a file's name and id.
                    if kind == "media.image":
                        slot(inner, "url", where)
                    elif kind == "media.file":
                        slot(inner, "filename", where)
                        slot(inner, "file_id", where)

    def schema(node: Any) -> None:
        """The prose of a JSON schema: descriptions, titles, examples, defaults, enum values."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, dict):
                for key, value in current.items():
                    if isinstance(value, str):
                        if key not in _SCHEMA_STRUCTURE:
                            slot(current, key)
                    elif isinstance(value, dict) or (isinstance(value, list) and key not in _SCHEMA_STRUCTURE):
                        stack.append(value)
            elif isinstance(current, list):
                for index, value in enumerate(current):
                    if isinstance(value, str) and value:
                        slots.append((value, _item_setter(current, index), INPUT))
                    elif isinstance(value, dict | list):
                        stack.append(value)

    def function(definition: Any) -> None:
        if isinstance(definition, dict):
            slot(definition, "name")
            slot(definition, "description")
            if isinstance(definition.get("parameters"), dict):
                schema(definition["parameters"])

    def call_of(holder: Any) -> None:
        if isinstance(holder, dict):
            slot(holder, "name")
            slot(holder, "arguments")

    for message in body.get("messages", ()):
        if not isinstance(message, dict):
            continue
        content(message, "content", TOOL_RESULT if message.get("role") in ("tool", "function") else INPUT)
        slot(message, "name")
        slot(message, "refusal")
        slot(message, "tool_call_id")
        if isinstance(message.get("audio"), dict):
            slot(message["audio"], "id")
        for tool_call in message.get("tool_calls") or ():
            if isinstance(tool_call, dict):
                slot(tool_call, "id")
                call_of(tool_call.get("function"))
        call_of(message.get("function_call"))  # the older form of a tool call
    conversation = len(slots)
    for tool in body.get("tools") or ():
        if isinstance(tool, dict):
            function(tool.get("function"))
    for legacy in body.get("functions") or ():
        function(legacy)
    for choice in ("tool_choice", "function_call"):
        chosen = body.get(choice)
        if isinstance(chosen, dict):
            call_of(chosen.get("function") if choice == "tool_choice" else chosen)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and isinstance(response_format.get("json_schema"), dict):
        json_schema = response_format["json_schema"]
        slot(json_schema, "name")
        slot(json_schema, "description")
        if isinstance(json_schema.get("schema"), dict):
            schema(json_schema["schema"])
    if isinstance(body.get("prediction"), dict):  # predicted output: text the model reads
        content(body["prediction"], "content")
    stop = body.get("stop")
    if isinstance(stop, str):
        slot(body, "stop")
    elif isinstance(stop, list):
        slots.extend((v, _item_setter(stop, i), INPUT) for i, v in enumerate(stop) if isinstance(v, str) and v)
    if isinstance(body.get("audio"), dict):
        slot(body["audio"], "voice")
    location = (body.get("web_search_options") or {}).get("user_location")
    if isinstance(location, dict) and isinstance(location.get("approximate"), dict):
        for key in ("city", "country", "region", "timezone"):
            slot(location["approximate"], key)
    # Sent to the provider with the request: identifiers of the end user and the caching key.
    for key in ("user", "safety_identifier", "prompt_cache_key"):
        slot(body, key)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for key, set_key, value, set_value in _entry_setters(metadata):
            slots.append((key, set_key, INPUT))
            if isinstance(value, str) and value:
                slots.append((value, set_value, INPUT))
    # Fields the deployment passes through for a model (call.passed_through) are forwarded unread, by its
    # choice: the schema refuses every other field it does not know.
    return slots, media, conversation


class ProtectInput:
    name = "protect"

    def __init__(self, guard: DataGuard, injection: PromptInjectionRecognizer | None = None) -> None:
        self._guard = guard
        self._injection = injection if injection is not None else PromptInjectionRecognizer()

    async def __call__(self, call: Call) -> None:
        slots, media, conversation = _text_slots(call.body)
        texts = [text for text, _, _ in slots]
        own = await self._guard.scan_many(texts)
        # Values split between adjacent texts of the conversation (two messages, two content parts) are
        # found at the join. Those texts come first in ``slots``.
        if conversation > 1:
            split = seam_findings(texts[:conversation], own, self._guard.scan)
            own = [merged(found, pieces) for found, pieces in zip(own, split, strict=False)] + own[conversation:]
        # A large call's findings are sorted on a thread, as it is rewritten below: hundreds of thousands of
        # them in a dense text would hold the event loop for tens of milliseconds at each step.
        large = self._guard.is_large(sum(len(text) for text in texts))
        if large:
            scanned, counts = await asyncio.to_thread(self._sort, slots, own, media)
        else:
            scanned, counts = self._sort(slots, own, media)
        mapping = await self._guard.mapping(call.request_id, call.principal, call.headers.get(CONVERSATION_HEADER))
        call.mapping = mapping
        if not counts:
            call.payload = {"messages": call.body.get("messages")}
            return
        policy = self._guard.actions_for(call.principal, call.app, call.model_alias, counts, call.decide)
        # Refuse before rewriting anything, naming every blocked class (never a value).
        for data_class, n in counts.items():
            where = TOOL_RESULT if data_class == PROMPT_INJECTION else INPUT
            call.data_findings[(data_class, policy.action_for(data_class), where)] += n
        refuse_blocked(counts, policy)
        # The audit payload keeps no raw value even where policy lets the model see it: those are masked.
        # An injected instruction is evidence, not anyone's data: what the model read is kept as it was.
        kept = audit_policy(policy)
        if policy.action_for(PROMPT_INJECTION) == "allow":
            kept = ActionPolicy({**kept.by_class, PROMPT_INJECTION: "allow"}, default=kept.default)
        # A large call is rewritten on a thread: the event loop keeps serving other calls meanwhile.
        for _ in range(_REWRITES):
            if large:
                await asyncio.to_thread(_rewrite, call, scanned, media, kept, policy, mapping)
            else:
                _rewrite(call, scanned, media, kept, policy, mapping)
            # In a conversation, the new placeholders are stored before the model sees them. If another
            # turn stored other values under them meanwhile, the texts are written again with the merged
            # map (each pass starts from the original texts).
            if not await self._guard.save(call.request_id, mapping):
                return
        raise ServiceUnavailable("Other requests in this conversation kept numbering the same placeholders at "
                                 "the same moment, so this one was refused. Retry it.")

    def _sort(self, slots: list[tuple[str, Setter, str]], own: list[list[Finding]], media: list[MediaSlot]
              ) -> tuple[list[tuple[str, Setter, list[Finding]]], Counter[str]]:
        """The texts to rewrite with their findings (tool results' flagged instructions beside them), and
        how many findings of each class there are, the parts the gateway cannot read included."""
        scanned: list[tuple[str, Setter, list[Finding]]] = []
        counts = Counter(m.data_class for m in media)
        for (text, setter, where), findings in zip(slots, own, strict=True):
            flagged = self._injection.scan(text) if where == TOOL_RESULT else []
            counts.update(f.data_class for f in findings)
            if flagged:
                counts.update(f.data_class for f in flagged)
                findings = _beside(findings, flagged)
            if findings:
                scanned.append((text, setter, findings))
        return scanned, counts


def _rewrite(call: Call, scanned: list[tuple[str, Setter, list[Finding]]], media: list[MediaSlot],
             kept: ActionPolicy, policy: ActionPolicy, mapping: PlaceholderMap) -> None:
    """The audit copy (``call.payload``, rewritten with ``kept``), then the texts the model reads."""
    # Where no class found in a text is allowed through, the audit copy is what the model reads: one pass.
    rewritten: list[str | None] = []
    for text, setter, findings in scanned:
        red = redact(text, findings, kept, mapping).text
        setter(red)
        same = all(policy.action_for(c) != "allow" for c in {f.data_class for f in findings})
        rewritten.append(red if same else None)
    # Media is never kept at rest: the audit copy names the part; the model gets it only if allowed.
    for part in media:
        part.remove()
    call.payload = {"messages": _copy(call.body.get("messages"))}
    for part in media:
        if policy.action_for(part.data_class) == "allow":
            part.restore()
    for (text, setter, findings), done in zip(scanned, rewritten, strict=True):
        setter(done if done is not None else redact(text, findings, policy, mapping).text)


def _beside(findings: list[Finding], flagged: list[Finding]) -> list[Finding]:
    """What a text is rewritten with: its data findings, plus flagged spans that overlap none of them.

    A sensitive value inside an injected instruction keeps its own finding, so its own action (a
    placeholder, say) applies whatever policy does with the instruction around it.
    """
    clear = [f for f in flagged if not any(f.start < d.end and d.start < f.end for d in findings)]
    return sorted([*findings, *clear], key=lambda f: f.start)


def audit_policy(policy: ActionPolicy) -> ActionPolicy:
    """The same actions, with ``allow`` turned into ``mask``: what may be kept at rest."""
    return ActionPolicy({c: ("mask" if a == "allow" else a) for c, a in policy.by_class.items()},
                        default="mask" if policy.default == "allow" else policy.default)


def _copy(value: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value))
