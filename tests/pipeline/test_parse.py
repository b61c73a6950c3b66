"""The parse stage: the body is UTF-8 JSON of bounded depth and a well-formed chat request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.errors import InvalidRequest
from interlock.pipeline.stage import Stage
from interlock.settings import Settings
from support.app import Engine
from support.calls import make_call, user_messages
from support.engines import stage_of


@pytest.fixture
def stage(engine: Engine) -> Stage:
    return stage_of(engine, "parse")


async def test_a_chat_request_fills_the_call(stage: Stage) -> None:
    body = {"model": "mock", "messages": user_messages("hi"), "stream": True,
            "stream_options": {"include_usage": True}, "temperature": 0.2}
    call = make_call(body, parsed=False)
    await stage(call)
    assert call.body == body
    assert (call.model_alias, call.stream, call.client_wants_usage) == ("mock", True, True)


async def test_usage_is_not_asked_for_unless_the_client_does(stage: Stage) -> None:
    call = make_call({"model": "mock", "messages": user_messages("hi"), "stream": True}, parsed=False)
    await stage(call)
    assert call.stream
    assert not call.client_wants_usage


@pytest.mark.parametrize(("raw", "says"), [
    (b"", "empty"),
    (b'{"model": "\xff"}', "UTF-8"),
    (b'{"model": "mock", "messages": [', "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
])
async def test_a_body_that_is_not_a_json_object_is_refused(stage: Stage, raw: bytes, says: str) -> None:
    call = make_call(raw)
    with pytest.raises(InvalidRequest, match=says) as refused:
        await stage(call)
    assert refused.value.status == 400
    assert call.model_alias == ""


async def test_nesting_deeper_than_the_limit_is_refused(stage: Stage, settings: Settings) -> None:
    depth = settings.limits.max_json_depth
    nested: Any = "x"
    for _ in range(depth):
        nested = {"k": nested}
    with pytest.raises(InvalidRequest, match=f"deeper than {depth} levels"):
        await stage(make_call({"model": "mock", "messages": user_messages("hi"), "metadata": nested}))


async def test_nesting_at_the_limit_is_accepted(stage: Stage, settings: Settings) -> None:
    nested: Any = "x"
    # The body, response_format, json_schema and schema are four levels (a JSON schema is free-form: the
    # one place in a chat request where deep nesting is legitimate).
    for _ in range(settings.limits.max_json_depth - 4):
        nested = {"k": nested}
    response_format = {"type": "json_schema", "json_schema": {"name": "deep", "schema": nested}}
    call = make_call({"model": "mock", "messages": user_messages("hi"), "response_format": response_format},
                     parsed=False)
    await stage(call)
    assert call.model_alias == "mock"


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": user_messages("hi")}, None),
    ({"model": "mock", "messages": "hi"}, "messages"),
    ({"model": 7, "messages": user_messages("hi")}, "model"),
])
async def test_a_malformed_chat_request_names_the_field(stage: Stage, body: dict[str, Any],
                                                        param: str | None) -> None:
    with pytest.raises(InvalidRequest, match="Invalid chat request") as refused:
        await stage(make_call(body, parsed=False))
    if param is not None:
        assert refused.value.param == param


async def test_too_many_messages_are_refused(stage: Stage, settings: Settings) -> None:
    limit = settings.limits.max_messages
    call = make_call({"model": "mock", "messages": user_messages(*["hi"] * (limit + 1))}, parsed=False)
    with pytest.raises(InvalidRequest, match=f"the limit is {limit}") as refused:
        await stage(call)
    assert refused.value.param == "messages"
    assert json.loads(call.raw_body)["messages"]  # the raw body is left as it came
