"""The mock LLM's embeddings, driven by the OpenAI SDK, and the OpenAI-compatible upstream's ``embed``."""

from __future__ import annotations

import math
from collections.abc import Iterator

import openai
import pytest

from interlock.errors import UpstreamUnavailable
from interlock.providers.mock import MockLLM
from interlock.providers.mock_embeddings import DEFAULT_DIMENSIONS, vector
from interlock.providers.openai_compat import OpenAIUpstream, Retryable, UpstreamRejected
from interlock.settings import ProviderSettings


@pytest.fixture
def client(mock: MockLLM) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=mock.base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def test_vectors_are_deterministic_unit_length_and_differ_by_input() -> None:
    one, again, other = vector("hello", 32), vector("hello", 32), vector("hello!", 32)
    assert one == again
    assert one != other
    assert math.isclose(math.sqrt(sum(v * v for v in one)), 1.0, rel_tol=1e-6)
    assert vector([1, 2], 8) != vector("1,2", 8)


def test_base64_and_float_carry_the_same_numbers(client: openai.OpenAI, mock: MockLLM) -> None:
    as_base64 = client.embeddings.create(model="mock", input=["a", "b"])  # the SDK's default
    as_float = client.embeddings.create(model="mock", input=["a", "b"], encoding_format="float")
    assert [d.embedding for d in as_base64.data] == [d.embedding for d in as_float.data]
    assert [d.embedding for d in as_float.data] == [vector("a", DEFAULT_DIMENSIONS), vector("b", DEFAULT_DIMENSIONS)]
    assert [r.body["encoding_format"] for r in mock.received] == ["base64", "float"]


def test_dimensions_tokens_and_usage(client: openai.OpenAI, mock: MockLLM) -> None:
    result = client.embeddings.create(model="mock-large", input=[[1, 2, 3], [4]], dimensions=5)
    assert [len(d.embedding) for d in result.data] == [5, 5]
    assert result.usage.prompt_tokens == 4
    assert result.model == "mock-large"
    assert mock.last.path == "/v1/embeddings"
    assert mock.last.body["input"] == [[1, 2, 3], [4]]


def test_bad_input_and_scripted_failures(client: openai.OpenAI, mock: MockLLM) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="mock", input=[])
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="mock", input="x", extra_body={"mock": {"status": 503}})
    # Recorded before answering, failures included.
    assert len(mock.received) == 2


async def test_the_upstream_embeds_and_classifies_failures(mock: MockLLM) -> None:
    up = OpenAIUpstream("mock", ProviderSettings(base_url=mock.base_url, read_timeout_seconds=5))
    await up.start()
    try:
        doc = await up.embed({"model": "mock", "input": "hello", "encoding_format": "float"})
        assert doc["data"][0]["embedding"] == vector("hello", DEFAULT_DIMENSIONS)
        with pytest.raises(Retryable) as broken:
            await up.embed({"model": "mock", "input": "hello", "mock": {"malformed": True}})
        assert isinstance(broken.value.refusal, UpstreamUnavailable)
        with pytest.raises(Retryable):
            await up.embed({"model": "mock", "input": "hello", "mock": {"status": 500}})
        with pytest.raises(UpstreamRejected):
            await up.embed({"model": "mock", "input": "hello", "mock": {"status": 422}})
    finally:
        await up.close()
