"""The free text people write into approval requests (a proposal's title, details and reason, an
approver's reason) passes the same detection and policy as a prompt, for the principal who wrote it.

Stored text could reach any model its writer may use, and any approver may read it, so each class
found gets the strictest action the policy gives it toward any configured model: a class blocked
anywhere refuses the write (``data_blocked``), a masked one is masked for good, a redacted one is
stored as a placeholder whose value is sealed with the request (AES-GCM, bound to its id). What a
reader sees is restored only for the classes policy lets that reader see again (``restore_data``), as
in a model's answer; everyone else sees the placeholder.

A held tool call's arguments are shown masked; a reviewer sees the values of the classes policy lets
them see in that tool's arguments (``reveal_data``), read from the sealed arguments, and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from interlock.detect.finding import Finding
from interlock.errors import DataBlocked
from interlock.identity.principal import Principal
from interlock.policy.holder import PolicyHolder
from interlock.redact import (
    Action,
    ActionPolicy,
    Entry,
    PlaceholderMap,
    VaultCipher,
    classes_in_json,
    mask_json,
    redact,
    restore,
)

Scan = Callable[[str], list[Finding]]

# Stricter wins when models disagree.
_RANK = {"allow": 0, "redact": 1, "mask": 2, "block": 3}


class TextGuard:
    """``protect`` what is written, ``reveal`` it to a reader; ``scan`` is the detector's."""

    def __init__(self, scan: Scan, policy: PolicyHolder) -> None:
        self._scan = scan
        self._policy = policy

    def protect(self, writer: Principal, app: Principal | None, texts: Mapping[str, str]) -> tuple[
            dict[str, str], PlaceholderMap]:
        """``texts`` as they may be stored, and the placeholders used in them (one map for all, so one
        value has one placeholder throughout). Refuses with ``data_blocked`` naming the class and field."""
        mapping = PlaceholderMap("approval")
        found = {name: self._scan(text) if text else [] for name, text in texts.items()}
        classes = sorted({f.data_class for fs in found.values() for f in fs})
        if not classes:
            return dict(texts), mapping
        actions = self._actions(writer, app, classes)
        for name, fs in found.items():
            blocked = sorted({f.data_class for f in fs if actions.action_for(f.data_class) == "block"})
            if blocked:
                raise DataBlocked(f"The {name} contains data of class {', '.join(blocked)}, which policy does not "
                                  f"allow to be stored. Remove it and try again.", param=name)
        return {name: redact(text, found[name], actions, mapping).text if found[name] else text
                for name, text in texts.items()}, mapping

    def _actions(self, writer: Principal, app: Principal | None, classes: list[str]) -> ActionPolicy:
        engine = self._policy.engine
        models = [m.alias for m in engine.config.models]
        if not models:
            # No model to ask about: nothing found is kept readable.
            return ActionPolicy(dict.fromkeys(classes, "mask"), default="block")
        strictest: dict[str, Action] = {}
        for model in models:
            for data_class, decision in engine.data_actions(writer, app, model, classes).items():
                current = strictest.get(data_class)
                if current is None or _RANK[decision.action] > _RANK[current]:
                    strictest[data_class] = decision.action
        return ActionPolicy(strictest, default="block")

    def reveal(self, text: str, mapping: PlaceholderMap, reader: Principal, app: Principal | None) -> str:
        """``text`` with the placeholders of the classes ``reader`` may see restored."""
        if not text or not len(mapping):
            return text
        engine = self._policy.engine
        allowed = {e.data_class for e in mapping.entries() if engine.may_restore(reader, e.data_class, app).allowed}
        return restore(text, mapping, allowed) if allowed else text

    def reveal_arguments(self, arguments: dict[str, Any], tool: str, reader: Principal,
                         app: Principal | None) -> dict[str, Any] | None:
        """``arguments`` (the real ones) with the values of the classes ``reader`` may see in calls of
        ``tool`` left readable and every other value found masked; None when the reader may see none of
        the classes found (the masked view stored with the request stands)."""
        engine = self._policy.engine
        shown = frozenset(c for c in classes_in_json(arguments, self._scan)
                          if engine.may_reveal(reader, c, tool, app).allowed)
        if not shown:
            return None
        revealed: dict[str, Any] = mask_json(arguments, self._scan, shown)
        return revealed


def seal(cipher: VaultCipher, mapping: PlaceholderMap, approval_id: str) -> bytes | None:
    """The placeholders' values, sealed to this approval request (None when there are none)."""
    entries = mapping.entries()
    if not entries:
        return None
    payload = json.dumps([[e.placeholder, e.data_class, e.value] for e in entries], ensure_ascii=False,
                         separators=(",", ":")).encode()
    return cipher.seal_bytes(payload, _bound(approval_id))


def unseal(cipher: VaultCipher, sealed: bytes | None, approval_id: str) -> PlaceholderMap:
    mapping = PlaceholderMap("approval")
    if sealed is not None:
        for placeholder, data_class, value in json.loads(cipher.open_bytes(sealed, _bound(approval_id))):
            mapping.add(Entry(placeholder, data_class, value))
    return mapping


def _bound(approval_id: str) -> str:
    return f"{approval_id}/texts"
