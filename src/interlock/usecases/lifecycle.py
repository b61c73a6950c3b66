"""The lifecycle of a use case: draft, pilot, production, retired; every move recorded in the audit log.

The state lives in the manifest (``state:``), so a deployment's use cases are reviewed like the rest
of its configuration; a transition rewrites that line and the ``lifecycle:`` block (the audit records
of the move and of the gate it relied on) and leaves the rest of the file, comments included, as it
was. Records written here are covered by a signed checkpoint at once.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from interlock.audit.log import AuditLog
from interlock.audit.writer import AuditWriter
from interlock.ids import new_request_id
from interlock.settings import Settings
from interlock.store import Store
from interlock.usecases.catalog import USE_CASE_ENDPOINT
from interlock.usecases.manifest import State, UseCase, parse_manifest

# Where each state may go next. Back from production to pilot is allowed (a rollback); nothing comes
# back from retired: a retired use case that returns is a new use case.
TRANSITIONS: dict[State, tuple[State, ...]] = {
    "draft": ("pilot", "retired"),
    "pilot": ("production", "draft", "retired"),
    "production": ("pilot", "retired"),
    "retired": (),
}


class TransitionRefused(Exception):
    """The move is not allowed from this state (or its gate failed); the message says what to do."""


def check_transition(uc: UseCase, to: State) -> None:
    if to == uc.state:
        raise TransitionRefused(f"{uc.name} is already {to}")
    allowed = TRANSITIONS[uc.state]
    if to not in allowed:
        nexts = ", ".join(allowed) if allowed else "nothing (a retired use case stays retired)"
        raise TransitionRefused(f"{uc.name} cannot go from {uc.state} to {to}; from {uc.state} it may go to {nexts}")


async def append_signed(store: Store, settings: Settings, record: dict[str, Any]) -> int:
    """Append one record durably and sign a checkpoint over it; its sequence number. The signing key
    must exist (the gateway creates it on first start): a command never makes one nobody else has."""
    log = AuditLog(store, settings.audit, create_key=False)
    log.signer  # noqa: B018 - loads the key now, so a missing one refuses before anything is written
    writer = AuditWriter(store, window_ms=0, batch_max=16, timeout_seconds=settings.store.commit_timeout_seconds)
    await writer.start()
    try:
        seq = await writer.append(record)
    finally:
        await writer.stop()
    await log.checkpoint()
    return seq


def lifecycle_record(event: str, uc: UseCase, actor: str, **facts: Any) -> dict[str, Any]:
    return {"v": 1, "request_id": new_request_id(), "time": round(time.time(), 6), "endpoint": USE_CASE_ENDPOINT,
            "event": event, "use_case": uc.name, "principal": actor, "status": 200, "outcome": "ok",
            "manifest_digest": uc.digest, **facts}


_STATE_LINE = re.compile(r"^state:[^\n]*$", re.MULTILINE)
_LIFECYCLE_BLOCK = re.compile(r"^lifecycle:[^\n]*\n(?:[ \t]+[^\n]*\n?|\n)*", re.MULTILINE)


def rewrite_manifest(path: Path, to: State, lifecycle: dict[str, Any]) -> UseCase:
    """The manifest with its state and lifecycle block replaced, validated before it is written."""
    text = path.read_text(encoding="utf-8")
    text, n = _STATE_LINE.subn(f"state: {to}", text, count=1)
    if n != 1:
        raise TransitionRefused(f"{path}: no top-level 'state:' line to change")
    text = _LIFECYCLE_BLOCK.sub("", text).rstrip("\n") + "\n"
    text += "lifecycle:\n" + "".join(f"  {k}: {_scalar(v)}\n" for k, v in lifecycle.items())
    changed = parse_manifest(path, text)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return changed


def _scalar(value: Any) -> str:
    return str(value) if isinstance(value, int | float) else f'"{value}"'


async def promote(store: Store, settings: Settings, uc: UseCase, to: State, actor: str,
                  gate_record: str | None = None) -> tuple[UseCase, str]:
    """Record the transition, then rewrite the manifest; the updated use case and the record's id.

    Moving to production needs ``gate_record``, the id of a passing gate result for this manifest."""
    check_transition(uc, to)
    if to == "production" and gate_record is None:
        raise TransitionRefused(f"{uc.name}: production needs a passing gate result (interlock gate {uc.name})")
    facts: dict[str, Any] = {"from": uc.state, "to": to}
    if gate_record is not None:
        facts["gate_record"] = gate_record
    record = lifecycle_record("use_case.transition", uc, actor, **facts)
    await append_signed(store, settings, record)
    lifecycle: dict[str, Any] = {"changed_at": record["time"], "transition_record": record["request_id"]}
    if to == "production" and gate_record is not None:
        lifecycle["gate_record"] = gate_record
    return rewrite_manifest(uc.path, to, lifecycle), record["request_id"]
