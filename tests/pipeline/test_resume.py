"""The resume stage: a caller whose held tool call was approved sends ``x-interlock-resume`` and gets the
approved call back as the model's answer, once, without asking the model again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from interlock.approvals import Approval
from interlock.errors import InvalidRequest, Refusal
from interlock.pipeline.stage import Stage
from interlock.providers.mock import MockLLM
from support.app import Engine
from support.calls import make_call, make_principal
from support.engines import engine_settings, running_engine, stage_of

SAM = make_principal("sam", roles=["support_agent"])
RITA = make_principal("rita", groups=["reviewers"])
REFUND = {"payment_id": "pay_1", "amount": 500, "currency": "EUR"}


def with_approvals(tree: dict[str, Any]) -> None:
    tree["approvals"] = {"routes": {"default": {"approvers": {"groups": ["reviewers"]}, "expires_after_seconds": 600}},
                         "sweep_interval_seconds": 30}


@pytest.fixture
async def engine(tmp_path: Path, mock_llm: MockLLM, dead_port: int) -> AsyncIterator[Engine]:
    settings = engine_settings(tmp_path / "gw", mock_base_url=mock_llm.base_url, dead_port=dead_port,
                               adjust=with_approvals)
    async with running_engine(settings) as started:
        yield started


@pytest.fixture
def stage(engine: Engine) -> Stage:
    return stage_of(engine, "resume")


async def held(engine: Engine, *, by: Any = SAM, call_id: str = "call_refund") -> Approval:
    return await engine.approvals.request_tool_call(
        by, None, tool="refund_payment", route="default", arguments=REFUND, arguments_view=REFUND,
        policy_ids=("tools.refund-approval",), reason="refunds over 100 wait for a person", tool_call_id=call_id)


def resuming(*ids: str, stream: bool = False) -> Any:
    body = {"model": "mock", "messages": [{"role": "user", "content": "refund it"}], "stream": stream}
    return make_call(body, principal=SAM, headers={"x-interlock-resume": ",".join(ids)})


async def test_without_the_header_nothing_happens(stage: Stage) -> None:
    call = make_call(principal=SAM)
    await stage(call)
    assert call.response is None
    assert call.stream_iter is None
    assert call.decisions == []


async def test_an_approved_call_comes_back_as_the_answer_once(engine: Engine, stage: Stage,
                                                              mock: MockLLM) -> None:
    approval = await held(engine)
    await engine.approvals.decide(approval.id, RITA, "approve")
    call = resuming(approval.id)
    await stage(call)
    assert call.response is not None
    choice = call.response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [tool_call] = choice["message"]["tool_calls"]
    assert tool_call["id"] == "call_refund"
    assert tool_call["function"]["name"] == "refund_payment"
    assert json.loads(tool_call["function"]["arguments"]) == REFUND
    assert call.resumed_approvals == [approval.id]
    assert call.decisions[0].outcome == "allow"
    assert mock.received == []
    with pytest.raises(Refusal) as again:
        await stage(resuming(approval.id))
    assert again.value.code == "approval_used"


async def test_a_stream_gets_the_approved_call_as_chunks(engine: Engine, stage: Stage) -> None:
    approval = await held(engine)
    await engine.approvals.decide(approval.id, RITA, "approve")
    call = resuming(approval.id, stream=True)
    await stage(call)
    assert call.stream_iter is not None
    out = [c async for c in call.stream_iter]
    calls = [tc for c in out for ch in c["choices"] for tc in ch["delta"].get("tool_calls") or ()]
    assert [tc["function"]["name"] for tc in calls] == ["refund_payment"]
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_a_pending_approval_is_refused_and_spends_nothing(engine: Engine, stage: Stage) -> None:
    ready, waiting = await held(engine, call_id="c1"), await held(engine, call_id="c2")
    await engine.approvals.decide(ready.id, RITA, "approve")
    with pytest.raises(Refusal) as refused:
        await stage(resuming(ready.id, waiting.id))
    assert (refused.value.code, refused.value.status) == ("approval_pending", 409)
    # The approved one was not used up by the refused request.
    call = resuming(ready.id)
    await stage(call)
    assert call.resumed_approvals == [ready.id]


async def test_someone_elses_approval_is_not_found(engine: Engine, stage: Stage) -> None:
    approval = await held(engine, by=make_principal("other-agent", roles=["support_agent"]))
    await engine.approvals.decide(approval.id, RITA, "approve")
    with pytest.raises(Refusal) as refused:
        await stage(resuming(approval.id))
    assert refused.value.code == "approval_not_found"


@pytest.mark.parametrize(("header", "says"), [
    (" , ", "names no approval"),
    ("apr_1,not-an-id", "must list approval ids"),
    ("apr_1,apr_1", "the same approval twice"),
    (",".join(f"apr_{i}" for i in range(17)), "at most 16"),
])
async def test_a_malformed_header_is_refused(stage: Stage, header: str, says: str) -> None:
    call = make_call(principal=SAM, headers={"x-interlock-resume": header})
    with pytest.raises(InvalidRequest, match=says):
        await stage(call)
