"""The authorize stage: the model exists, and policy lets this caller use it with what the request asks for.

The standard test policies let everyone use every model except ``restricted``, which is for analysts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.errors import ModelNotFound, PolicyDenied
from interlock.pipeline.authorize import LARGE_CONTEXT_BYTES
from interlock.pipeline.stage import Stage
from interlock.providers.mock import MockLLM
from support.app import Engine
from support.calls import make_call, make_principal, user_messages
from support.engines import engine_settings, running_engine, stage_of
from support.settings import MODELS_POLICY, default_policies

ANALYST = make_principal("ana", roles=["analyst"])
PLAIN = make_principal("pat")


@pytest.fixture
def stage(engine: Engine) -> Stage:
    return stage_of(engine, "authorize")


def chat(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": user_messages("hi"), **extra}


async def test_an_allowed_model_is_recorded_with_the_rules_that_allowed_it(engine: Engine, stage: Stage) -> None:
    call = make_call(chat("restricted"), principal=ANALYST)
    await stage(call)
    [decision] = call.decisions
    assert (decision.stage, decision.outcome) == ("authorize", "allow")
    assert "test.models.restricted-for-analysts" in decision.policy_ids
    assert call.policy_version == engine.policy.version


async def test_a_model_the_caller_may_not_use_is_refused_naming_the_rule(stage: Stage) -> None:
    call = make_call(chat("restricted"), principal=PLAIN)
    with pytest.raises(PolicyDenied, match="'restricted'") as refused:
        await stage(call)
    assert refused.value.param == "model"
    assert call.request_id in refused.value.message
    [decision] = call.decisions
    assert decision.outcome == "deny"


async def test_an_unknown_model_is_not_found(stage: Stage) -> None:
    call = make_call(chat("no-such-model"), principal=ANALYST)
    with pytest.raises(ModelNotFound, match="GET /v1/models") as refused:
        await stage(call)
    assert refused.value.status == 404
    assert call.decisions == []


CAPABILITY_POLICY = MODELS_POLICY + """
@id("test.models.no-large-context")
forbid (principal, action == Action::"invoke_model", resource)
when { context.capabilities.contains(Capability::"large_context") };
"""


@pytest.mark.parametrize(("body", "refused"), [
    (chat("mock"), False),
    (chat("mock", stream=True), False),
    (chat("mock", messages=user_messages("x" * LARGE_CONTEXT_BYTES)), True),
], ids=["plain", "streaming", "large"])
async def test_capabilities_the_request_asks_for_are_judged(tmp_path: Path, mock_llm: MockLLM, dead_port: int,
                                                            body: dict[str, object], refused: bool) -> None:
    settings = engine_settings(tmp_path / "gw", mock_base_url=mock_llm.base_url, dead_port=dead_port,
                               policies={**default_policies(), "models.cedar": CAPABILITY_POLICY})
    async with running_engine(settings) as engine:
        stage = stage_of(engine, "authorize")
        call = make_call(body, principal=PLAIN)
        if refused:
            with pytest.raises(PolicyDenied, match="large_context"):
                await stage(call)
            assert "test.models.no-large-context" in call.decisions[0].policy_ids
        else:
            await stage(call)
            assert call.decisions[0].outcome == "allow"
