"""Every string the model reads from an Anthropic Messages request is governed: a marker value in any
field reaches the upstream only as a placeholder, whatever block or field it sits in, once translated
into the chat form. Content the gateway cannot read (images, PDF documents) is a media class."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from interlock.providers.mock import MockLLM
from support.bodies import Body, Put, at, upstream_text
from support.gateways import Gateway

EMAIL = "jane.marker@example.com"  # pii: redacted toward the model
VERSION = {"anthropic-version": "2023-06-01"}


def base() -> Body:
    """A Messages request using every readable part of the schema, every string benign."""
    return {
        "model": "mock",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "You are helpful."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Look this up."},
                {"type": "document", "title": "Notes", "context": "from the desk",
                 "source": {"type": "text", "media_type": "text/plain", "data": "Nothing here."}},
                {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "Part."}]}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "weather"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "also sunny", "is_error": False},
                {"type": "text", "text": "Thanks."}]},
        ],
        "tools": [{"name": "lookup", "description": "Look things up",
                   "input_schema": {"type": "object", "description": "what to look up",
                                    "properties": {"q": {"type": "string", "enum": ["weather", "news"]}}}}],
        "tool_choice": {"type": "tool", "name": "lookup"},
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-1"},
        "mock": {"reply": "ok"},
    }



def system_string(body: Body, value: str) -> None:
    body["system"] = value


def tool_input_key(body: Body, value: str) -> None:
    body["messages"][1]["content"][1]["input"] = {value: "x"}


FIELDS: dict[str, Put] = {
    "system.string": system_string,
    "system.text": at("system", 0, "text"),
    "user.text": at("messages", 0, "content", 0, "text"),
    "document.title": at("messages", 0, "content", 1, "title"),
    "document.context": at("messages", 0, "content", 1, "context"),
    "document.text": at("messages", 0, "content", 1, "source", "data"),
    "document.content": at("messages", 0, "content", 2, "source", "content", 0, "text"),
    "assistant.text": at("messages", 1, "content", 0, "text"),
    "tool_use.id": at("messages", 1, "content", 1, "id"),
    "tool_use.name": at("messages", 1, "content", 1, "name"),
    "tool_use.input": at("messages", 1, "content", 1, "input", "q"),
    "tool_use.input_key": tool_input_key,
    "tool_result.tool_use_id": at("messages", 2, "content", 0, "tool_use_id"),
    "tool_result.text": at("messages", 2, "content", 0, "content", 0, "text"),
    "tool_result.string": at("messages", 2, "content", 1, "content"),
    "tools.name": at("tools", 0, "name"),
    "tools.description": at("tools", 0, "description"),
    "tools.schema.description": at("tools", 0, "input_schema", "description"),
    "tools.schema.enum": at("tools", 0, "input_schema", "properties", "q", "enum", 1),
    "tool_choice.name": at("tool_choice", "name"),
    "stop_sequences": at("stop_sequences", 0),
    "metadata.user_id": at("metadata", "user_id"),
}


def post(http: httpx.Client, gateway: Gateway, body: Body) -> httpx.Response:
    return http.post("/v1/messages", json=body, headers={"x-api-key": gateway.keys["plain-user"].key, **VERSION})



def test_the_base_request_is_accepted_whole(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    r = post(http, gateway, base())
    assert r.status_code == 200, r.text
    (received,) = mock.received
    # Both tool results and the text after them, in order, after the assistant's call.
    assert [m["role"] for m in received.body["messages"]] == ["system", "user", "assistant", "tool", "tool", "user"]


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_personal_value_in_any_field_reaches_the_model_redacted(gateway: Gateway, mock: MockLLM,
                                                                   http: httpx.Client, field: str) -> None:
    body = base()
    FIELDS[field](body, EMAIL)
    r = post(http, gateway, body)
    assert r.status_code == 200, r.text
    seen = upstream_text(mock)
    assert EMAIL not in seen
    assert "[EMAIL_1]" in seen
    data = gateway.record(r.headers["request-id"])["data"]
    assert {"class": "pii.email", "action": "redact", "where": "input", "count": 1} in data


@pytest.mark.parametrize(("block", "data_class"), [
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}, "media.image"),
    ({"type": "image", "source": {"type": "url", "url": "https://img.example/cat.png"}}, "media.image"),
    ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
     "media.file"),
])
def test_unreadable_content_is_a_media_class(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                             block: dict[str, Any], data_class: str) -> None:
    body = base()
    body["messages"][0]["content"].append(block)
    r = post(http, gateway, body)
    # The built-in policy keeps media away from external models (the test models are external).
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["type"] == "permission_error"
    assert error["code"] == "data_blocked"
    assert data_class in error["message"]
    assert not mock.received
