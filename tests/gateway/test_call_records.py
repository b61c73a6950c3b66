"""Every call leaves exactly one record, durable before its response completes, and never the prompt."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import openai
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import Gateway
from support.sdk import streamed_text

STAGES = {"authenticate", "parse", "authorize", "forward"}


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def test_a_completed_call_is_recorded_before_the_response(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["analyst"])
    raw = client.chat.completions.with_raw_response.create(
        model="restricted", messages=user("five words in this prompt"),
        extra_body={"mock": {"usage": {"prompt_tokens": 11, "completion_tokens": 7}}},
    )
    # Read straight from the database the moment the response is in: no waiting, no retries.
    record = gateway.record(raw.headers["x-request-id"])
    assert raw.parse().choices[0].message.content == "five words in this prompt"
    assert record["status"] == 200
    assert record["outcome"] == "ok"
    assert record.get("refusal_code") is None
    assert record["principal"] == "analyst"
    assert record["principal_kind"] == "user"
    assert record["tenant"] == "default"
    assert record["auth"] == "api_key"
    assert record.get("app") is None
    assert record["model"] == "restricted"
    assert record["provider"] == "upstream"
    assert record["upstream_model"] == "mock"
    assert record["endpoint"] == "chat.completions"
    assert record["stream"] is False
    assert record["finish_reason"] == "stop"
    assert record["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert set(record["timings_ms"]) >= STAGES
    assert all(isinstance(v, float | int) and v >= 0 for v in record["timings_ms"].values())
    assert record["upstream_ms"] > 0
    assert record["latency_ms"] >= record["upstream_ms"]
    (authorized,) = [d for d in record["decisions"] if d["stage"] == "authorize"]
    assert authorized["outcome"] == "allow"
    # The decision names the policy that made it, and the record the policy set's version.
    assert authorized["policy_ids"] == ["test.models.restricted-for-analysts"]
    assert record["policy_version"]


def test_a_streamed_call_is_recorded_by_the_end_of_the_stream(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    request_id, text = streamed_text(client, model="mock", messages=user("alpha beta gamma delta"))
    assert text == "alpha beta gamma delta"
    record = gateway.record(request_id)
    assert record["stream"] is True
    assert record["status"] == 200
    assert record["usage"]["completion_tokens"] == 4
    assert record["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("model", "key", "status", "code"),
    [
        ("restricted", "plain-user", 403, "policy_denied"),
        ("unheard-of", "plain-user", 404, "model_not_found"),
        ("mock", None, 401, "invalid_api_key"),
    ],
)
def test_a_refused_call_is_recorded_too(gateway: Gateway, mock: MockLLM, http: httpx.Client, model: str,
                                        key: str | None, status: int, code: str) -> None:
    headers = {"authorization": f"Bearer {gateway.keys[key].key}"} if key else {}
    r = http.post("/v1/chat/completions", json={"model": model, "messages": user("refuse me")}, headers=headers)
    assert r.status_code == status
    record = gateway.record(r.headers["x-request-id"])
    assert record["status"] == status
    assert record["outcome"] == "refused"
    assert record["refusal_code"] == code
    assert record.get("provider") is None
    assert record["usage"]["total_tokens"] == 0
    assert record.get("principal") == (key if key else None)
    assert mock.received == []


def test_one_record_per_call(gateway: Gateway, mock: MockLLM) -> None:
    client = gateway.client(gateway.keys["plain-user"])
    before = len(gateway.records())
    ids = []
    for i in range(5):
        raw = client.chat.completions.with_raw_response.create(model="mock", messages=user(f"call {i}"))
        ids.append(raw.headers["x-request-id"])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nothing-here", messages=user("x"))
    after = gateway.records()
    assert len(after) == before + 6
    new = after[before:]
    assert [r["request_id"] for r in new[:5]] == ids
    assert len({r["request_id"] for r in new}) == 6
    # Sequence numbers leave no gaps.
    assert [r["seq"] for r in after] == list(range(after[0]["seq"], after[0]["seq"] + len(after)))


def test_records_never_hold_the_prompt_or_the_answer(gateway: Gateway, mock: MockLLM) -> None:
    marker = "zebra-" + secrets.token_hex(8)
    client = gateway.client(gateway.keys["plain-user"])
    answer = client.chat.completions.create(
        model="mock", messages=[{"role": "system", "content": f"system {marker}"}, *user(f"prompt {marker}")],
    )
    assert marker in (answer.choices[0].message.content or "")
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="mock", messages=user(f"streamed {marker}"), stream=True) if c.choices)
    assert marker in streamed
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="restricted", messages=user(f"refused {marker}"))
    assert mock.received, "the calls did reach the model"
    exported = gateway.export()
    assert exported, "the export is not empty"
    assert marker not in json.dumps(exported)
    assert marker not in json.dumps(gateway.records())
