"""The forward stage against the real mock model: the route's upstream model, the answer under the alias,
token counts, the fallback chain on connection errors and 5xx, and streams."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.errors import UpstreamUnavailable
from interlock.pipeline.stage import Stage
from interlock.providers.mock import MockLLM
from support.app import Engine
from support.calls import make_call, make_principal, user_messages
from support.engines import stage_of

PAT = make_principal()


@pytest.fixture
def stage(engine: Engine) -> Stage:
    return stage_of(engine, "forward")


def chat(model: str, text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": user_messages(text), **extra}


async def test_the_answer_comes_back_under_the_alias(stage: Stage, mock: MockLLM) -> None:
    call = make_call(chat("twice", mock={"reply": "hi", "usage": {"prompt_tokens": 7, "completion_tokens": 2}}),
                     principal=PAT)
    await stage(call)
    assert call.response is not None
    assert call.response["model"] == "twice"
    assert call.response["choices"][0]["message"]["content"] == "hi"
    assert (call.usage.prompt_tokens, call.usage.completion_tokens) == (7, 2)
    assert (call.provider, call.upstream_model, call.finish_reason) == ("upstream", "mock", "stop")
    assert call.attempts == []
    # The provider saw its own model name, and the caller's body otherwise as it was.
    assert mock.last.body["model"] == "mock"
    assert mock.last.body["messages"] == user_messages("hello there")


async def test_a_refused_connection_falls_back_along_the_chain(stage: Stage, mock: MockLLM) -> None:
    call = make_call(chat("flaky"), principal=PAT)
    await stage(call)
    assert call.response is not None
    assert call.response["choices"][0]["message"]["content"] == "hello there"
    assert [(a["route"], a["error"]) for a in call.attempts] == [("flaky", "upstream_unavailable"), ("mock", None)]
    assert call.provider == "upstream"
    assert len(mock.received) == 1


async def test_a_5xx_is_retried_on_the_fallback(stage: Stage, mock: MockLLM) -> None:
    call = make_call(chat("twice", mock={"status": 503}), principal=PAT)
    with pytest.raises(UpstreamUnavailable):
        await stage(call)
    # Both routes reach the mock, so it saw the request twice; the last failure is the answer.
    assert len(mock.received) == 2
    assert [a["route"] for a in call.attempts] == ["twice", "mock"]


async def test_no_route_left_refuses_with_the_last_error(stage: Stage) -> None:
    call = make_call(chat("down"), principal=PAT)
    with pytest.raises(UpstreamUnavailable) as refused:
        await stage(call)
    assert refused.value.status == 502
    assert call.response is None
    assert [a["route"] for a in call.attempts] == ["down"]


async def test_an_answer_already_made_is_not_sent_upstream(stage: Stage, mock: MockLLM) -> None:
    made = {"id": "chatcmpl-resumed", "choices": []}
    call = make_call(chat("mock"), principal=PAT, response=made)
    await stage(call)
    assert call.response is made
    assert mock.received == []


async def test_a_stream_is_relayed_under_the_alias_with_usage_kept_back(stage: Stage, mock: MockLLM) -> None:
    call = make_call(chat("twice", "one two three", stream=True, mock={"chunks": 3}), principal=PAT)
    await stage(call)
    assert call.response is None
    assert call.stream_iter is not None
    chunks = [chunk async for chunk in call.stream_iter]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == "one two three"
    assert {c["model"] for c in chunks} == {"twice"}
    # Usage was asked of the provider for the record, but the client did not ask for it.
    assert mock.last.body["stream_options"] == {"include_usage": True}
    assert not any("usage" in c for c in chunks)
    assert call.usage.total_tokens > 0
    assert call.finish_reason == "stop"


async def test_a_stream_keeps_usage_when_the_client_asks(stage: Stage, mock: MockLLM) -> None:
    call = make_call(chat("mock", stream=True, stream_options={"include_usage": True}), principal=PAT)
    await stage(call)
    assert call.stream_iter is not None
    chunks = [chunk async for chunk in call.stream_iter]
    assert chunks[-1]["usage"]["total_tokens"] == call.usage.total_tokens > 0
