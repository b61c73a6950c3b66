"""The mock LLM, driven over real HTTP by the official OpenAI and Anthropic SDKs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from interlock.providers.mock import MockLLM
from interlock.providers.mock_scenario import split_text

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object",
                                                       "properties": {"city": {"type": "string"}}}},
}
WEATHER_CALL = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}


@pytest.fixture
def client(mock: MockLLM) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=mock.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def async_client(mock: MockLLM) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=mock.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def claude(mock: MockLLM) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=mock.root_url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


# OpenAI chat completions


def test_echoes_the_last_user_message(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="mock-large",
        messages=[{"role": "system", "content": "be terse"}, {"role": "user", "content": "first"},
                  {"role": "assistant", "content": "ok"}, {"role": "user", "content": "hello there world"}],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "mock-large"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "hello there world"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 3


def test_echo_joins_the_text_parts_of_list_content(client: openai.OpenAI) -> None:
    parts: Any = [{"type": "text", "text": "look"},
                  {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                  {"type": "text", "text": "here"}]
    completion = client.chat.completions.create(model="mock", messages=[{"role": "user", "content": parts}])
    assert completion.choices[0].message.content == "look\nhere"


def test_echo_all_shows_every_message_and_tool_arguments(client: openai.OpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "system words"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
        {"role": "user", "content": "thanks"},
    ]
    completion = client.chat.completions.create(model="mock", messages=messages,
                                                extra_body={"mock": {"echo": "all"}})
    assert completion.choices[0].message.content == 'system words\nweather?\n{"city": "Oslo"}\nrain\nthanks'


def test_fixed_reply_via_extra_body(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="mock", messages=user("ignored"),
                                                extra_body={"mock": {"reply": "scripted answer"}})
    assert completion.choices[0].message.content == "scripted answer"


def test_header_scenario_wins_over_body_and_directive(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="mock", messages=user('#mock {"reply": "from directive"}'),
        extra_body={"mock": {"reply": "from body"}},
        extra_headers={"x-mock": json.dumps({"reply": "from header"})},
    )
    assert completion.choices[0].message.content == "from header"


def test_body_scenario_wins_over_directive(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="mock", messages=user('#mock {"reply": "from directive"}'),
        extra_body={"mock": {"reply": "from body"}},
    )
    assert completion.choices[0].message.content == "from body"


def test_directive_line_in_last_user_message(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="mock", messages=user('please answer\n#mock {"reply": "directed"}'))
    assert completion.choices[0].message.content == "directed"


def test_directive_line_is_left_out_of_the_echo(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="mock", messages=user('keep this\n#mock {"usage": {"prompt_tokens": 7}}\nand this'))
    assert completion.choices[0].message.content == "keep this\nand this"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 7


def test_directive_only_counts_in_the_last_user_message(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": '#mock {"reply": "stale"}'},
                     {"role": "user", "content": "fresh"}]
    completion = client.chat.completions.create(model="mock", messages=messages)
    assert completion.choices[0].message.content == "fresh"


def test_streaming_reassembles_the_echo_word_by_word(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="mock", messages=user("one two  three"), stream=True)
    chunks = list(stream)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    contents = [c.choices[0].delta.content for c in chunks[1:] if c.choices and c.choices[0].delta.content]
    assert contents == ["one ", "two  ", "three"]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_streaming_respects_chunks(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="mock", messages=user("x"), stream=True,
        extra_body={"mock": {"reply": "a fairly long scripted reply", "chunks": 4}})
    contents = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(contents) == 4
    assert "".join(contents) == "a fairly long scripted reply"


def test_stream_usage_with_include_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="mock", messages=user("count these words"), stream=True,
        stream_options={"include_usage": True},
        extra_body={"mock": {"usage": {"prompt_tokens": 11, "completion_tokens": 5}}})
    last = list(stream)[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (11, 5, 16)


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="mock", messages=user("hi"), stream=True))
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


def test_tool_call_non_streaming(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="mock", messages=user("weather in Paris?"),
                                                tools=[WEATHER_TOOL], extra_body={"mock": WEATHER_CALL})
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_")
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_tool_call_streaming_accumulates_in_the_sdk(client: openai.OpenAI) -> None:
    scenario = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
                               {"name": "get_time", "arguments": {"zone": "Europe/Paris"}}]}
    with client.chat.completions.stream(model="mock", messages=user("weather?"), tools=[WEATHER_TOOL],
                                        extra_body={"mock": scenario}) as stream:
        argument_pieces = sum(1 for event in stream if event.type == "tool_calls.function.arguments.delta")
        final = stream.get_final_completion()
    assert argument_pieces > 2, "arguments must arrive in several pieces, as the real API sends them"
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]
    assert calls == [("get_weather", {"city": "Paris", "unit": "celsius"}),
                     ("get_time", {"zone": "Europe/Paris"})]
    assert len({c.id for c in choice.message.tool_calls}) == 2


def test_status_500_surfaces_as_internal_server_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="mock", messages=user("x"),
                                       extra_body={"mock": {"status": 500, "message": "upstream exploded"}})
    assert raised.value.status_code == 500
    assert "upstream exploded" in raised.value.message


def test_status_429_surfaces_as_rate_limit_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="mock", messages=user("x"), extra_body={"mock": {"status": 429}})


def test_malformed_response_makes_the_sdk_raise(client: openai.OpenAI) -> None:
    with pytest.raises(ValueError, match="Expecting"):
        client.chat.completions.create(model="mock", messages=user("x"),
                                       extra_body={"mock": {"malformed": True}})


def test_malformed_stream_makes_the_sdk_raise(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="mock", messages=user("x"), stream=True,
                                            extra_body={"mock": {"malformed": True}})
    with pytest.raises(ValueError, match="Expecting"):
        list(stream)


def test_invalid_scenario_is_refused_with_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="chunkz"):
        client.chat.completions.create(model="mock", messages=user("x"), extra_body={"mock": {"chunkz": 3}})


def test_hang_is_cut_short_by_the_client_timeout(client: openai.OpenAI, mock: MockLLM) -> None:
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.2).chat.completions.create(
            model="mock", messages=user("x"), extra_body={"mock": {"hang": 30}})
    assert mock.last.body["mock"] == {"hang": 30}


async def test_hang_does_not_block_other_requests(async_client: openai.AsyncOpenAI) -> None:
    hanging = asyncio.ensure_future(async_client.chat.completions.create(
        model="mock", messages=user("x"), extra_body={"mock": {"hang": 30}}))
    try:
        completion = await async_client.chat.completions.create(model="mock", messages=user("meanwhile"))
        assert completion.choices[0].message.content == "meanwhile"
        assert not hanging.done()
    finally:
        hanging.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hanging


# Recording and the control endpoints


def test_records_every_body_in_arrival_order_including_failures(client: openai.OpenAI, mock: MockLLM) -> None:
    client.chat.completions.create(model="mock", messages=user("first"))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="mock", messages=user("second"),
                                       extra_body={"mock": {"status": 503}}, extra_headers={"X-Trace": "abc"})
    first, second = mock.received
    assert first.path == second.path == "/v1/chat/completions"
    assert first.body["messages"] == user("first")
    assert second.body["messages"] == user("second")
    assert second.headers["x-trace"] == "abc"
    assert second.headers["authorization"] == "Bearer sk-test"
    assert mock.last == second


def test_malformed_request_json_is_400_and_still_recorded(mock: MockLLM) -> None:
    with httpx.Client(base_url=mock.root_url) as http:
        response = http.post("/v1/chat/completions", content=b"{not json",
                             headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert mock.last.path == "/v1/chat/completions"
    assert mock.last.body == {}


def test_control_endpoints(client: openai.OpenAI, mock: MockLLM) -> None:
    client.chat.completions.create(model="mock", messages=user("remember me"))
    with httpx.Client(base_url=mock.root_url) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        recorded = http.get("/_mock/requests").json()
        assert [r["body"]["messages"] for r in recorded] == [user("remember me")]
        assert http.delete("/_mock/requests").json() == {"cleared": 1}
        assert http.get("/_mock/requests").json() == []
        assert http.get("/nowhere").status_code == 404
    assert mock.received == []


def test_lists_models(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["mock", "mock-large"]


def test_record_limit_keeps_the_newest() -> None:
    with MockLLM(record_limit=2) as small, httpx.Client(base_url=small.base_url) as http:
        for word in ("a", "b", "c"):
            http.post("/chat/completions", json={"model": "mock", "messages": user(word)})
        assert [r.body["messages"][0]["content"] for r in small.received] == ["b", "c"]


def test_last_without_requests_says_so(mock: MockLLM) -> None:
    with pytest.raises(LookupError, match="no request"):
        _ = mock.last


# Anthropic Messages


def test_anthropic_plain_message(claude: anthropic.Anthropic, mock: MockLLM) -> None:
    message = claude.messages.create(model="mock", max_tokens=64, system="be kind",
                                     messages=[{"role": "user", "content": "hello claude"}])
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "mock"
    assert message.stop_reason == "end_turn"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text"
    assert message.content[0].text == "hello claude"
    assert message.usage.output_tokens == 2
    assert mock.last.path == "/v1/messages"
    assert mock.last.body["system"] == "be kind"


def test_anthropic_streaming_text(claude: anthropic.Anthropic) -> None:
    scenario = {"reply": "streamed back to you", "chunks": 3}
    with claude.messages.stream(model="mock", max_tokens=64, messages=user("ignored"),
                                extra_body={"mock": scenario}) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == split_text("streamed back to you", 3)
    assert final.content[0].type == "text"
    assert final.content[0].text == "streamed back to you"
    assert final.stop_reason == "end_turn"


def test_anthropic_tool_use(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="mock", max_tokens=64, messages=user("weather?"),
                                     extra_headers={"x-mock": json.dumps(WEATHER_CALL)})
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use"
    assert block.id.startswith("toolu_")
    assert (block.name, block.input) == ("get_weather", {"city": "Paris"})


def test_anthropic_streaming_tool_use(claude: anthropic.Anthropic) -> None:
    scenario = {"reply": "Let me check.", **WEATHER_CALL}
    with claude.messages.stream(model="mock", max_tokens=64, messages=user("weather?"),
                                extra_body={"mock": scenario}) as stream:
        json_deltas = sum(1 for event in stream
                          if event.type == "content_block_delta" and event.delta.type == "input_json_delta")
        final = stream.get_final_message()
    assert json_deltas > 1
    assert final.stop_reason == "tool_use"
    text, tool = final.content
    assert text.type == "text"
    assert text.text == "Let me check."
    assert tool.type == "tool_use"
    assert (tool.name, tool.input) == ("get_weather", {"city": "Paris"})


def test_anthropic_echo_ignores_tool_results_but_echo_all_shows_them(claude: anthropic.Anthropic) -> None:
    messages: Any = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"},
                                     {"type": "text", "text": "summarise"}]},
    ]
    echoed = claude.messages.create(model="mock", max_tokens=64, messages=messages)
    assert echoed.content[0].type == "text"
    assert echoed.content[0].text == "summarise"
    everything = claude.messages.create(model="mock", max_tokens=64, system="sys", messages=messages,
                                        extra_body={"mock": {"echo": "all"}})
    assert everything.content[0].type == "text"
    assert everything.content[0].text == 'sys\nweather?\n{"city":"Oslo"}\nrain\nsummarise'


def test_anthropic_error_status(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError, match="boom"):
        claude.messages.create(model="mock", max_tokens=64, messages=user("x"),
                               extra_body={"mock": {"status": 500, "message": "boom"}})


def test_anthropic_tool_input_must_be_an_object(claude: anthropic.Anthropic) -> None:
    scenario = {"tool_calls": [{"name": "get_weather", "arguments": "not json"}]}
    with pytest.raises(anthropic.BadRequestError, match="JSON object"):
        claude.messages.create(model="mock", max_tokens=64, messages=user("x"), extra_body={"mock": scenario})


# Delays change timing only, never content


def test_latency_and_chunk_delay_keep_the_stream_intact(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="mock", messages=user("slow but whole"), stream=True,
        extra_body={"mock": {"latency_ms": 5, "chunk_delay_ms": 2}})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "slow but whole"


def test_echo_false_answers_empty(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="mock", messages=user("x"),
                                                extra_body={"mock": {"echo": False}})
    assert completion.choices[0].message.content == ""


def test_wrong_method_is_405(mock: MockLLM) -> None:
    with httpx.Client(base_url=mock.base_url) as http:
        response = http.get("/chat/completions")
    assert response.status_code == 405
    assert "POST" in response.json()["error"]["message"]


def test_word_pieces_can_carry_the_space_before_the_word() -> None:
    text = "the customer  says hi.\n"
    assert split_text(text, None) == ["the ", "customer  ", "says ", "hi.\n"]
    assert split_text(text, None, leading=True) == ["the", " customer", "  says", " hi.", "\n"]
