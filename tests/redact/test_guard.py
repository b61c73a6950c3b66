"""The data guard on its own: the policy's per-class decisions, and conversation maps scoped to the caller.

The guard takes plain values (who, which model, which conversation), so it is exercised here without a
pipeline: the example deployment's policies, a detector, and an SQLite store in a temporary directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interlock.detect import Detector
from interlock.detect.finding import Finding
from interlock.errors import InvalidRequest
from interlock.identity.principal import Principal
from interlock.policy.holder import PolicyHolder
from interlock.policy.setup import entity_config
from interlock.redact.guard import CONVERSATION_HEADER, DataGuard
from interlock.settings import RedactionSettings, StoreSettings, load_settings
from interlock.store import open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SAM = Principal(id="sam", kind="user", tenant="acme", roles=frozenset({"support_agent"}))
ANA = Principal(id="ana", kind="user", tenant="acme", roles=frozenset({"analyst"}))
Decisions = list[tuple[str, str, str, tuple[str, ...]]]


@pytest.fixture
async def guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DataGuard]:
    settings = load_settings(EXAMPLES / "interlock.yaml", environ={})
    holder = PolicyHolder.load(EXAMPLES / "policies", entity_config(settings, EXAMPLES / "policies"))
    monkeypatch.delenv(RedactionSettings().vault_key_env, raising=False)
    store = open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'guard.db'}"))
    await store.open()
    try:
        yield DataGuard(Detector(), holder, store, RedactionSettings(), tmp_path)
    finally:
        await store.close()


def found(*classes: str) -> list[Finding]:
    return [Finding(c, 0, 1, 1.0, "test", "") for c in classes]


def test_each_class_found_is_decided_once_and_recorded(guard: DataGuard) -> None:
    decided: Decisions = []
    policy = guard.actions(SAM, None, "mock", found("pii.email", "pii.email", "secret.api_key"),
                           lambda *d: decided.append(d))
    assert sorted(reason.split(":")[0] for _, _, reason, _ in decided) == ["pii.email", "secret.api_key"]
    assert all(stage == "data" for stage, *_ in decided)
    # What was recorded is what the returned policy applies.
    for _, outcome, reason, _ in decided:
        assert policy.action_for(reason.split(":")[0]) == outcome
    # A class nobody asked about never passes.
    assert policy.action_for("pii.phone") == "block"


def test_nothing_found_asks_nothing(guard: DataGuard) -> None:
    decided: Decisions = []
    policy = guard.actions(SAM, None, "mock", [], lambda *d: decided.append(d))
    assert decided == []
    assert policy.default == "block"


async def test_without_a_conversation_the_map_is_the_requests_own_and_is_not_stored(guard: DataGuard) -> None:
    mapping = await guard.mapping("req_1", SAM, None)
    assert mapping.conversation_id == "req_1"
    mapping.placeholder_for("pii.email", "jane@example.com")
    assert await guard.save("req_1", mapping) == []
    assert len(await guard.mapping("req_2", SAM, None)) == 0


async def test_a_conversation_map_is_kept_for_its_caller_only(guard: DataGuard) -> None:
    mapping = await guard.mapping("req_1", SAM, "case-42")
    placeholder = mapping.placeholder_for("pii.email", "jane@example.com")
    assert await guard.save("req_1", mapping) == []
    again = await guard.mapping("req_2", SAM, "case-42")
    entry = again.lookup(placeholder)
    assert entry is not None
    assert entry.value == "jane@example.com"
    # Another principal naming the same conversation id opens a different, empty map.
    assert len(await guard.mapping("req_3", ANA, "case-42")) == 0


@pytest.mark.parametrize("conversation", ["", "   ", "x" * 201, "line\nbreak"])
async def test_an_unusable_conversation_id_is_refused_naming_the_header(guard: DataGuard, conversation: str) -> None:
    with pytest.raises(InvalidRequest, match=CONVERSATION_HEADER):
        await guard.mapping("req_1", SAM, conversation)
