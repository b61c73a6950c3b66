"""Sensitive data and tool calls on ``POST /v1/messages``: the same checkpoint as the chat endpoint.

The gateway runs the example deployment's policies, tools and approval routes (as ``test_tool_calls.py``
sets them up): personal data goes to external models as placeholders and comes back restored for support
agents only, secrets are refused, and a tool call held for approval is approved by someone else and resumed
with ``x-interlock-resume``. The client is the official ``anthropic`` SDK; what reached the model is what the
mock recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from test_tool_calls import EXTERNAL, acme_gateway, decide, refund

from interlock.providers.mock import MockLLM
from support.gateways import Gateway, GatewayFactory
from support.sdk import anthropic_client
from support.stores import STORES

EMAIL = "jane.doe@example.org"
PHONE = "+1 415 555 0132"
OTHER_EMAIL = "max.power@example.net"
GITHUB_TOKEN = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
LOOKUP: Any = {"name": "search_kb", "description": "Search the knowledge base",
               "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}


@pytest.fixture(scope="module", params=STORES)
def acme(request: pytest.FixtureRequest, gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    gw = acme_gateway(gateway_factory, request.param, served=False)
    yield gw
    gw.stop()


def client(gw: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic_client(gw, gw.keys[key])


def upstream_text(mock: MockLLM) -> str:
    return json.dumps([r.body for r in mock.received], ensure_ascii=False)


def every_block(marker_email: str, marker_phone: str) -> dict[str, Any]:
    """A request with a marker value in every block type and field the model reads."""
    return {
        "system": [{"type": "text", "text": f"The account owner is {marker_email}."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": f"Call me on {marker_phone}."},
                {"type": "document", "title": "Ticket", "context": f"filed by {marker_email}",
                 "source": {"type": "text", "media_type": "text/plain", "data": f"Reach {marker_phone}."}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking it up."},
                {"type": "tool_use", "id": "toolu_9", "name": "search_kb", "input": {"query": marker_email}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": [
                    {"type": "text", "text": f"Owner: {marker_email}, phone {marker_phone}."}]},
                {"type": "text", "text": "Repeat everything."}]}],
        "metadata": {"user_id": marker_email},
        "stop_sequences": [marker_phone],
    }


def test_markers_in_every_block_reach_the_model_as_placeholders(acme: Gateway, mock: MockLLM) -> None:
    answer = client(acme, "support").messages.create(model=EXTERNAL, max_tokens=512, tools=[LOOKUP],
                                                     extra_body={"mock": {"echo": "all"}},
                                                     **every_block(EMAIL, PHONE))
    seen = upstream_text(mock)
    assert EMAIL not in seen
    assert PHONE not in seen
    assert "[EMAIL_1]" in seen
    # A support agent gets the values back in the answer.
    text = "".join(b.text for b in answer.content if b.type == "text")
    assert EMAIL in text
    assert PHONE in text
    assert "[EMAIL_1]" not in text
    record = acme.record(answer._request_id)
    assert record["endpoint"] == "messages"
    assert {d["class"] for d in record["data"] if d["action"] == "redact"} >= {"pii.email", "pii.phone"}


def test_analyst_sees_placeholders(acme: Gateway, mock: MockLLM) -> None:
    answer = client(acme, "analyst").messages.create(
        model="mock", max_tokens=256, messages=[{"role": "user", "content": f"Mail {EMAIL} today."}],
        system=f"Copy {OTHER_EMAIL}.", extra_body={"mock": {"echo": "all"}})
    text = "".join(b.text for b in answer.content if b.type == "text")
    assert EMAIL not in text
    assert OTHER_EMAIL not in text
    assert "[EMAIL_" in text
    assert EMAIL not in upstream_text(mock)


def test_streamed_answer_is_restored(acme: Gateway, mock: MockLLM) -> None:
    prompt = f"Write to {EMAIL} or call {PHONE}."
    with client(acme, "support").messages.stream(model=EXTERNAL, max_tokens=256,
                                                 messages=[{"role": "user", "content": prompt}],
                                                 extra_body={"mock": {"chunks": 11}}) as stream:
        text = "".join(stream.text_stream)
    assert text == prompt
    assert EMAIL not in upstream_text(mock)


def test_tool_use_arguments_from_the_model_are_restored(acme: Gateway, mock: MockLLM) -> None:
    conversation = {"x-interlock-conversation-id": "anthropic-tools-1"}
    support = client(acme, "support")
    support.messages.create(model=EXTERNAL, max_tokens=64, messages=[{"role": "user", "content": f"{EMAIL} called."}],
                            extra_headers=conversation, extra_body={"mock": {"reply": "ok"}})
    scenario = {"tool_calls": [{"name": "search_kb", "arguments": {"query": "orders of [EMAIL_1]"}}]}
    answer = support.messages.create(model=EXTERNAL, max_tokens=64, tools=[LOOKUP], extra_headers=conversation,
                                     messages=[{"role": "user", "content": "Look them up."}],
                                     extra_body={"mock": scenario})
    (use,) = [b for b in answer.content if b.type == "tool_use"]
    assert use.input == {"query": f"orders of {EMAIL}"}


def test_secret_is_refused_in_anthropic_shape(acme: Gateway, mock: MockLLM) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        client(acme, "support").messages.create(
            model=EXTERNAL, max_tokens=64, messages=[{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": f"token {GITHUB_TOKEN}"}]}])
    body: Any = refused.value.body
    assert body["type"] == "error"
    assert body["error"]["code"] == "data_blocked"
    assert body["request_id"] == refused.value.request_id
    assert GITHUB_TOKEN not in json.dumps(body)
    assert not mock.received
    assert acme.record(refused.value.request_id)["refusal_code"] == "data_blocked"


def test_secret_in_a_stream_is_refused_before_any_event(acme: Gateway, mock: MockLLM) -> None:
    with pytest.raises(anthropic.PermissionDeniedError):
        client(acme, "support").messages.create(model=EXTERNAL, max_tokens=64, stream=True,
                                                system=f"Use {GITHUB_TOKEN}.",
                                                messages=[{"role": "user", "content": "hi"}])
    assert not mock.received


# -- a tool call held for approval, approved, resumed ----------------------------------------------------


def test_held_tool_use_is_approved_and_resumed(acme: Gateway, mock: MockLLM) -> None:
    support = client(acme, "support")
    messages: list[Any] = [{"role": "user", "content": "Refund the customer."}]
    scenario = {"tool_calls": [{"name": "refund_payment", "arguments": refund(500), "id": "toolu_r"}]}
    held = support.messages.create(model="mock", max_tokens=128, messages=messages, extra_body={"mock": scenario})
    # Held: no tool_use block, an explanation a person can act on, and the way to resume.
    assert [b.type for b in held.content] == ["text"]
    assert held.stop_reason == "end_turn"
    (entry,) = (held.model_extra or {})["interlock"]["tool_calls"]
    approval_id = entry["approval_id"]
    assert (entry["outcome"], entry["code"], entry["id"]) == ("held", "approval_required", "toolu_r")
    assert f"x-interlock-resume: {approval_id}" in held.content[0].text  # type: ignore[union-attr]
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in held.content]})
    resume = {"x-interlock-resume": approval_id}
    # Not decided yet: refused in Anthropic's shape.
    with pytest.raises(anthropic.APIStatusError) as pending:
        support.messages.create(model="mock", max_tokens=128, messages=messages, extra_headers=resume)
    assert pending.value.status_code == 409
    assert pending.value.body["error"]["code"] == "approval_pending"  # type: ignore[index]
    assert decide(acme, "finance", approval_id, "approve")["state"] == "approved"
    sent = len(mock.received)
    resumed = support.messages.create(model="mock", max_tokens=128, messages=messages, extra_headers=resume)
    assert len(mock.received) == sent, "a resumed call does not reach the model"
    (use,) = resumed.content
    assert use.type == "tool_use"
    assert (use.id, use.name, use.input) == ("toolu_r", "refund_payment", refund(500))
    assert resumed.stop_reason == "tool_use"
    record = acme.record(resumed._request_id)
    assert record["endpoint"] == "messages"
    assert record["resumed_approvals"] == [approval_id]
    # Spent: a second resume is refused.
    with pytest.raises(anthropic.APIStatusError) as used:
        support.messages.create(model="mock", max_tokens=128, messages=messages, extra_headers=resume)
    assert used.value.body["error"]["code"] == "approval_used"  # type: ignore[index]


def test_held_tool_use_streamed_then_resumed_streamed(acme: Gateway, mock: MockLLM) -> None:
    support = client(acme, "support")
    messages: list[Any] = [{"role": "user", "content": "Refund it."}]
    scenario = {"tool_calls": [{"name": "refund_payment", "arguments": refund(300), "id": "toolu_s"}], "chunks": 4}
    with support.messages.stream(model="mock", max_tokens=128, messages=messages,
                                 extra_body={"mock": scenario}) as stream:
        events = list(stream)
        held = stream.get_final_message()
    assert all(b.type == "text" for b in held.content)
    assert not any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    delta = next(e for e in events if e.type == "message_delta")
    (entry,) = (delta.model_extra or {})["interlock"]["tool_calls"]
    approval_id = entry["approval_id"]
    decide(acme, "finance", approval_id, "approve")
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in held.content]})
    with support.messages.stream(model="mock", max_tokens=128, messages=messages,
                                 extra_headers={"x-interlock-resume": approval_id}) as stream:
        resumed = stream.get_final_message()
    (use,) = resumed.content
    assert use.type == "tool_use"
    assert (use.id, use.input) == ("toolu_s", refund(300))
    assert resumed.stop_reason == "tool_use"


def test_secret_in_a_streamed_answer_ends_the_stream_with_an_error_event(acme: Gateway, mock: MockLLM) -> None:
    reply = "Here is the token you asked for: " + GITHUB_TOKEN + " and some more words after it."
    received: list[str] = []

    def read() -> None:
        with client(acme, "support").messages.stream(
                model=EXTERNAL, max_tokens=256, messages=[{"role": "user", "content": "the token?"}],
                extra_body={"mock": {"reply": reply, "chunks": 9}}) as stream:
            received.extend(stream.text_stream)

    with pytest.raises(anthropic.APIStatusError) as caught:
        read()
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["code"] == "data_blocked"
    assert body["request_id"].startswith("req_")
    assert GITHUB_TOKEN[:10] not in "".join(received)
    assert acme.record(body["request_id"])["refusal_code"] == "data_blocked"
