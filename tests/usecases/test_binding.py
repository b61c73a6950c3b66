"""Every call belongs to a use case, recorded, and policy decides by its state (the built-in usecases.cedar)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from interlock.errors import Refusal
from interlock.identity.principal import Principal
from interlock.providers.mock import MockLLM
from interlock.store import RecordQuery
from support.app import Engine
from support.calls import make_call
from support.engines import engine_settings, running_engine
from usecases.conftest import SettingsMaker
from usecases.usecases_support import manifest


async def _key(engine: Engine, pid: str, *, kind: str = "user", groups: frozenset[str] = frozenset()) -> str:
    from interlock.identity.keys import new_key

    key, record = new_key(pid, Principal(id=pid, kind=kind, groups=groups, name=pid))  # type: ignore[arg-type]
    await engine.store.create_key(record)
    return key


async def _chat(engine: Engine, key: str, use_case: str | None = None) -> tuple[Refusal | None, dict[str, Any]]:
    headers = {"x-interlock-use-case": use_case} if use_case else {}
    call = make_call(key=key, headers=headers, parsed=False, request_id=f"req_{uuid.uuid4().hex}")
    refusal = await engine.chat(call)
    [(_, record)] = await engine.store.query_records(RecordQuery(request_id=call.request_id))
    return refusal, record


async def test_a_draft_serves_its_testers_and_refuses_outsiders(use_case_settings: SettingsMaker) -> None:
    settings = use_case_settings([manifest(state="draft")])
    async with running_engine(settings) as engine:
        refusal, record = await _chat(engine, await _key(engine, "tess"), "support")
        assert refusal is None
        assert record["use_case"] == "support"
        assert record["use_case_state"] == "draft"

        refusal, record = await _chat(engine, await _key(engine, "alice"), "support")
        assert refusal is not None
        assert refusal.code == "policy_denied"
        assert "draft use case 'support'" in refusal.message
        assert record["use_case"] == "support"
        assert "default.use_case.draft-testers-only" in str(record["decisions"])


async def test_a_pilot_serves_its_users_and_its_application(use_case_settings: SettingsMaker) -> None:
    async with running_engine(use_case_settings([manifest(state="pilot")])) as engine:
        refusal, record = await _chat(engine, await _key(engine, "bob", groups=frozenset({"support"})), "support")
        assert refusal is None
        assert record["use_case"] == "support"
        # An application bound in the manifest needs no header.
        refusal, record = await _chat(engine, await _key(engine, "support-app", kind="app"))
        assert refusal is None
        assert record["use_case"] == "support"


async def test_a_caller_may_not_choose_a_use_case_it_is_not_a_user_of(use_case_settings: SettingsMaker) -> None:
    async with running_engine(use_case_settings([manifest()])) as engine:
        refusal, record = await _chat(engine, await _key(engine, "mallory", groups=frozenset({"sales"})), "support")
        assert refusal is not None
        assert record["refusal_code"] == "policy_denied"
        assert refusal.code == "policy_denied"
        assert "not a user of the use case 'support'" in refusal.message
        assert "dana@example.com" in refusal.message
        refusal, _ = await _chat(engine, await _key(engine, "alice"), "nonesuch")
        assert refusal is not None
        assert refusal.code == "invalid_request"
        assert "'nonesuch'" in refusal.message


async def test_a_call_with_no_use_case_is_refused_when_one_is_required(use_case_settings: SettingsMaker) -> None:
    async with running_engine(use_case_settings([manifest()])) as engine:
        refusal, record = await _chat(engine, await _key(engine, "alice"))
        assert refusal is not None
        assert refusal.code == "policy_denied"
        assert "belongs to no use case" in refusal.message
        assert "use_case" not in record
    async with running_engine(use_case_settings([manifest(name="other", applications=[])],
                                                required=False)) as engine:
        refusal, record = await _chat(engine, await _key(engine, "alice2"))
        assert refusal is None
        assert "use_case" not in record


async def test_retired_refuses_everyone_and_production_needs_a_gate(use_case_settings: SettingsMaker) -> None:
    settings = use_case_settings([manifest(state="retired"),
                                  manifest(name="launched", state="production", applications=[])])
    async with running_engine(settings) as engine:
        tess = await _key(engine, "tess")
        refusal, record = await _chat(engine, tess, "support")
        assert refusal is not None
        assert "default.use_case.retired" in str(record["decisions"])
        refusal, record = await _chat(engine, tess, "launched")
        assert refusal is not None
        assert "default.use_case.production-needs-gate" in str(record["decisions"])


async def test_without_use_cases_calls_run_as_before(tmp_path: Path, mock_llm: MockLLM, dead_port: int) -> None:
    settings = engine_settings(tmp_path / "plain", mock_base_url=mock_llm.base_url, dead_port=dead_port)
    async with running_engine(settings) as engine:
        assert engine.use_cases is None
        assert "use_case" not in engine.pipeline.stage_names
        refusal, record = await _chat(engine, await _key(engine, "alice"), "support")
        assert refusal is None
        assert "use_case" not in record


async def test_tool_calls_a_model_proposes_carry_the_use_case_to_policy(use_case_settings: SettingsMaker) -> None:
    """The same proposed tool call runs in one use case and is refused in another, by a rule on the name."""
    settings = use_case_settings([manifest(), manifest(name="weatherless", applications=[])])
    (Path(settings.source).parent / "policies" / "weatherless.cedar").write_text(
        '@id("t.no-weather-here")\n'
        'forbid (principal, action in Action::"use_tool", resource == Tool::"get_weather")\n'
        'when { context has use_case && context.use_case.name == "weatherless" };\n')
    body = {"model": "mock", "messages": [{"role": "user", "content": "weather?"}],
            "mock": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}}
    async with running_engine(settings) as engine:
        key = await _key(engine, "alice")
        verdicts = {}
        for use_case in ("support", "weatherless"):
            call = make_call(body, key=key, headers={"x-interlock-use-case": use_case}, parsed=False,
                             request_id=f"req_{uuid.uuid4().hex}")
            assert await engine.chat(call) is None
            [(_, record)] = await engine.store.query_records(RecordQuery(request_id=call.request_id))
            [verdict] = record["tools"]
            verdicts[use_case] = (verdict["outcome"], verdict.get("policy_ids"))
    assert verdicts["support"][0] == "allow"
    assert verdicts["weatherless"] == ("deny", ["t.no-weather-here"])
