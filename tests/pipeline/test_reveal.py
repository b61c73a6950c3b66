"""The reveal stage: the model's answer is inspected by the same policy as the input, then placeholders are
restored for callers allowed to see their class; streams are handled chunk by chunk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from interlock.errors import DataBlocked
from interlock.pipeline.call import Call
from interlock.pipeline.stage import Stage
from interlock.providers.mock import MockLLM
from support.app import Engine
from support.calls import make_call, make_principal, user_messages
from support.engines import engine_settings, running_engine, stage_of
from support.settings import default_policies

PAT = make_principal()
ANA = make_principal("ana", roles=["analyst"])
EMAIL = "jane.doe@example.org"
CARD = "4111 1111 1111 1111"
AWS_KEY = "AKIA" + "QX7RZ2KD5VNM3BTP"  # built from parts so no scanner takes this file for a leak

ANALYSTS_RESTORE = """\
@id("test.restore.analysts")
permit (principal in Role::"analyst", action == Action::"restore_data", resource)
when { resource in DataClass::"pii" };
"""


@pytest.fixture
def stage(engine: Engine) -> Stage:
    return stage_of(engine, "reveal")


def answer(text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "mock",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}


def content(call: Call) -> str:
    assert call.response is not None
    text: str = call.response["choices"][0]["message"]["content"]
    return text


async def protected(engine: Engine, principal: Any = PAT) -> Call:
    """A call whose prompt carried the address: the protect stage put ``[EMAIL_1]`` in its place."""
    call = make_call({"model": "mock", "messages": user_messages(f"Mail {EMAIL}")}, principal=principal)
    await stage_of(engine, "protect")(call)
    assert call.body["messages"][0]["content"] == "Mail [EMAIL_1]"
    return call


async def test_a_placeholder_is_restored_for_a_caller_who_may_see_it(engine: Engine, stage: Stage) -> None:
    call = await protected(engine)
    call.response = answer("Sent to [EMAIL_1].")
    await stage(call)
    assert content(call) == f"Sent to {EMAIL}."
    # What is kept for the audit is the answer before restoring.
    assert call.payload is not None
    assert call.payload["output"] == "Sent to [EMAIL_1]."


async def test_a_placeholder_stays_for_a_caller_who_may_not_see_it(tmp_path: Path, mock_llm: MockLLM,
                                                                   dead_port: int) -> None:
    settings = engine_settings(tmp_path / "gw", mock_base_url=mock_llm.base_url, dead_port=dead_port,
                               policies={**default_policies(), "restore.cedar": ANALYSTS_RESTORE})
    async with running_engine(settings) as engine:
        for who, expected in ((PAT, "Sent to [EMAIL_1]."), (ANA, f"Sent to {EMAIL}.")):
            call = await protected(engine, who)
            call.response = answer("Sent to [EMAIL_1].")
            await stage_of(engine, "reveal")(call)
            assert content(call) == expected, who.id


async def test_a_value_the_model_makes_up_is_handled_like_input(stage: Stage) -> None:
    call = make_call(principal=PAT, response=answer(f"Your card {CARD} and mail {EMAIL}"))
    await stage(call)
    text = content(call)
    assert CARD not in text
    # Redacted on the way out, then restored for this caller (who may see personal data).
    assert EMAIL in text
    assert ("pci.card_number", "mask", "output") in call.data_findings
    assert ("pii.email", "redact", "output") in call.data_findings
    assert call.payload is not None
    assert CARD not in call.payload["output"]
    assert EMAIL not in call.payload["output"]


async def test_a_secret_in_the_answer_refuses_it(stage: Stage) -> None:
    call = make_call(principal=PAT, response=answer(f"The key is {AWS_KEY}"))
    with pytest.raises(DataBlocked) as refused:
        await stage(call)
    assert AWS_KEY not in refused.value.message
    assert ("secret.api_key", "block", "output") in call.data_findings


async def test_tool_call_arguments_are_model_output_too(stage: Stage) -> None:
    response = answer("")
    response["choices"][0]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": {"name": "pay", "arguments": json.dumps({"card": CARD})}}]
    call = make_call(principal=PAT, response=response)
    await stage(call)
    assert CARD not in call.response["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]


async def chunks(*pieces: str) -> AsyncIterator[dict[str, Any]]:
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        yield {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "mock",
               "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": "stop" if last else None}]}


async def test_a_placeholder_split_across_chunks_is_still_restored(engine: Engine, stage: Stage) -> None:
    call = await protected(engine)
    call.stream = True
    call.stream_iter = chunks("Sent to [EMA", "IL_1", "]. Done", ".")
    await stage(call)
    out = [c async for c in call.stream_iter]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in out)
    assert text == f"Sent to {EMAIL}. Done."
    # No chunk carried a piece of the placeholder on its own.
    assert not any("[EMA" in (c["choices"][0]["delta"].get("content") or "") for c in out)
    assert call.payload is not None
    assert call.payload["output"] == "Sent to [EMAIL_1]. Done."


async def test_a_value_split_across_chunks_is_still_caught(stage: Stage) -> None:
    call = make_call(principal=PAT, stream=True, stream_iter=chunks("card 4111 1111 ", "1111 1111 thanks"))
    await stage(call)
    assert call.stream_iter is not None
    text = "".join([c["choices"][0]["delta"].get("content") or "" async for c in call.stream_iter])
    assert CARD not in text
    assert text.startswith("card ")
    assert text.endswith(" thanks")
    assert ("pci.card_number", "mask", "output") in call.data_findings
