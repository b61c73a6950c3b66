"""POST /v1/feedback: recorded against the call it is about, its comment scanned, other tenants' calls unknown."""

from __future__ import annotations

import json

import httpx

from interlock.providers.mock import MockLLM
from support.gateways import Gateway


def call(gateway: Gateway, key: str) -> str:
    r = gateway.request("POST", "/v1/chat/completions", json={"model": "mock", "messages": [
        {"role": "user", "content": "hello"}]}, headers={"authorization": f"Bearer {gateway.keys[key].key}"})
    assert r.status_code == 200
    return str(r.headers["x-request-id"])


def feedback(gateway: Gateway, key: str, doc: dict[str, object]) -> httpx.Response:
    return gateway.request("POST", "/v1/feedback", json=doc,
                           headers={"authorization": f"Bearer {gateway.keys[key].key}"})


def test_feedback_is_recorded_with_its_comment_redacted(gateway: Gateway, mock: MockLLM) -> None:
    target = call(gateway, "plain-user")
    r = feedback(gateway, "plain-user", {"request_id": target, "score": -1, "label": "wrong_answer",
                                         "comment": "It mailed jane.doe@example.com the wrong invoice"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["request_id"] == target
    assert doc["recorded"] is True
    record = gateway.record(doc["id"])
    assert record["endpoint"] == "feedback"
    assert record["model"] == "mock"
    assert record["principal"] == "plain-user"
    assert record["feedback"]["request_id"] == target
    assert record["feedback"]["score"] == -1
    assert record["feedback"]["label"] == "wrong_answer"
    assert record["feedback"]["comment_data"] == ["pii.email"]
    assert "jane.doe" not in json.dumps(record)
    comment = gateway.payload(doc["id"])["feedback_comment"]
    assert "jane.doe@example.com" not in comment
    assert comment.startswith("It mailed [")


def test_feedback_on_an_unknown_or_foreign_call_is_not_found(gateway: Gateway, mock: MockLLM) -> None:
    target = call(gateway, "plain-user")
    foreign = feedback(gateway, "other-admin", {"request_id": target, "score": 1})
    assert foreign.status_code == 404
    error = foreign.json()["error"]
    assert error["code"] == "not_found"
    assert error["param"] == "request_id"
    assert feedback(gateway, "plain-user", {"request_id": "req_nope", "score": 1}).status_code == 404


def test_bad_feedback_is_refused_with_the_field_named(gateway: Gateway, mock: MockLLM) -> None:
    target = call(gateway, "plain-user")
    empty = feedback(gateway, "plain-user", {"request_id": target})
    assert empty.status_code == 400
    unknown = feedback(gateway, "plain-user", {"request_id": target, "score": 1, "stars": 5})
    assert unknown.status_code == 400
    assert "stars" in unknown.json()["error"]["message"]
    label = feedback(gateway, "plain-user", {"request_id": target, "label": "not a label!"})
    assert label.json()["error"]["param"] == "label"
    anonymous = gateway.request("POST", "/v1/feedback", json={"request_id": target, "score": 1})
    assert anonymous.status_code == 401
