"""When the model provider fails, the caller gets a clear 502/504, a record is written, and fallbacks work."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import Gateway
from support.sdk import streamed_text


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def raised(client: openai.OpenAI, model: str, scenario: dict[str, Any] | None = None, *,
           stream: bool = False) -> openai.APIStatusError:
    extra = {"mock": scenario} if scenario is not None else None
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=user("hello"), stream=stream, extra_body=extra)
    return caught.value


@pytest.mark.parametrize(
    ("model", "scenario", "status", "code", "mentions"),
    [
        pytest.param("down", None, 502, "upstream_unavailable", "could not be reached", id="connection-refused"),
        pytest.param("mock", {"status": 500}, 502, "upstream_unavailable", "HTTP 500", id="http-500"),
        pytest.param("mock", {"status": 503}, 502, "upstream_unavailable", "HTTP 503", id="http-503"),
        pytest.param("mock", {"malformed": True}, 502, "upstream_unavailable", "malformed", id="malformed-json"),
        pytest.param("slow", {"hang": 3}, 504, "upstream_timeout", "in time", id="read-timeout"),
    ],
)
def test_upstream_failure_is_a_clear_error_with_a_record(
    gateway: Gateway, mock: MockLLM, model: str, scenario: dict[str, Any] | None, status: int, code: str,
    mentions: str,
) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    exc = raised(client, model, scenario)
    assert exc.status_code == status
    assert exc.code == code
    assert isinstance(exc, openai.InternalServerError)
    error = exc.response.json()["error"]
    assert mentions in error["message"]
    assert error["type"] == "api_error"
    record = gateway.record(exc.request_id)
    assert record["status"] == status
    assert record["refusal_code"] == code
    assert record["outcome"] == "refused"
    assert record["principal"] == "plain-user"
    assert record["model"] == model
    assert [a["error"] for a in record["attempts"]] == [code]
    assert "forward" in record["timings_ms"]


def test_upstream_4xx_is_passed_on_as_the_providers_refusal(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    exc = raised(client, "mock", {"status": 422, "message": "this model cannot do that"})
    assert exc.status_code == 422
    assert exc.code == "upstream_rejected"
    assert "this model cannot do that" in exc.response.json()["error"]["message"]
    assert gateway.record(exc.request_id)["status"] == 422


def test_streaming_upstream_failure_before_the_first_chunk(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    exc = raised(client, "mock", {"status": 500}, stream=True)
    assert exc.status_code == 502
    assert exc.code == "upstream_unavailable"
    record = gateway.record(exc.request_id)
    assert record["stream"] is True
    assert record["status"] == 502


def test_garbage_stream_from_the_provider_is_a_502(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    # The garbage is the first thing the provider sends, so no stream starts: a plain 502.
    exc = raised(client, "mock", {"malformed": True}, stream=True)
    assert exc.status_code == 502
    assert exc.code == "upstream_unavailable"
    assert "malformed stream chunk" in exc.response.json()["error"]["message"]
    assert gateway.record(exc.request_id)["refusal_code"] == "upstream_unavailable"


def test_fallback_answers_when_the_first_route_is_down(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    raw = client.chat.completions.with_raw_response.create(model="flaky", messages=user("fall back please"))
    completion = raw.parse()
    assert completion.choices[0].message.content == "fall back please"
    assert completion.model == "flaky"
    assert len(mock.received) == 1
    assert mock.last.body["model"] == "mock"
    record = gateway.record(raw.headers["x-request-id"])
    assert record["status"] == 200
    assert record["model"] == "flaky"
    assert record["provider"] == "upstream"
    attempts = record["attempts"]
    assert [(a["route"], a["provider"], a["error"]) for a in attempts] == [
        ("flaky", "dead", "upstream_unavailable"), ("mock", "upstream", None)]


def test_fallback_also_serves_streams(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    request_id, text = streamed_text(client, model="flaky", messages=user("streamed fallback"))
    assert text == "streamed fallback"
    record = gateway.record(request_id)
    assert [a["route"] for a in record["attempts"]] == ["flaky", "mock"]


def test_fallback_chain_exhausted_gives_the_last_error(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    # The first route is refused a connection; the fallback answers 500.
    exc = raised(client, "flaky", {"status": 500})
    assert exc.status_code == 502
    assert exc.code == "upstream_unavailable"
    assert "HTTP 500" in exc.response.json()["error"]["message"]
    record = gateway.record(exc.request_id)
    assert [(a["route"], a["error"]) for a in record["attempts"]] == [
        ("flaky", "upstream_unavailable"), ("mock", "upstream_unavailable")]


def test_a_provider_refusal_is_not_retried_on_the_fallback(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    exc = raised(client, "twice", {"status": 400, "message": "bad request upstream"})
    assert exc.status_code == 400
    assert exc.code == "upstream_rejected"
    assert len(mock.received) == 1


def test_a_provider_failure_is_retried_on_the_fallback(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    exc = raised(client, "twice", {"status": 500})
    assert exc.status_code == 502
    assert len(mock.received) == 2


def test_timeout_mid_stream_ends_the_stream_with_an_error(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    with client.chat.completions.with_streaming_response.create(
        model="slow", messages=user("one two three"), stream=True,
        extra_body={"mock": {"chunks": 3, "chunk_delay_ms": 2000}},
    ) as response:
        request_id = response.headers["x-request-id"]
        assert response.status_code == 200
        chunks = iter(response.parse())
        first = next(chunks)
        with pytest.raises(openai.APIError) as caught:
            next(chunks)
    assert first.choices[0].delta.role == "assistant"
    assert not first.choices[0].delta.content
    assert "in time" in caught.value.message
    record = gateway.record(request_id)
    assert record["stream"] is True
    assert record["status"] == 504
    assert record["refusal_code"] == "upstream_timeout"
