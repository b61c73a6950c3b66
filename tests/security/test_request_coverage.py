"""Every byte the provider reads is governed: a marker value in any field of a chat request either
never reaches the upstream (redacted, or the call refused) or reaches it because policy allows its
class, and the call record shows it was found. Fields the gateway does not know are refused."""

from __future__ import annotations

import copy
from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock.providers.mock import MockLLM
from support.bodies import Body, Put, at, upstream_text
from support.gateways import Gateway

EMAIL = "jane.marker@example.com"  # pii: redacted toward the model
SECRET = "AKIAIOSFODNN7EXAMPLE"  # secret: the call is refused
IP = "203.0.113.77"  # net: policy lets it through, and the record says it was seen


def base() -> Body:
    """A request using every part of the schema, every string benign."""
    return {
        "model": "mock",
        "messages": [
            {"role": "system", "content": "You are helpful.", "name": "sys"},
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}], "name": "dev"},
            {"role": "user", "content": [{"type": "text", "text": "Look this up."}], "name": "someone"},
            {"role": "assistant", "content": [{"type": "text", "text": "Looking."}, {"type": "refusal", "refusal": "no"}],
             "name": "helper", "refusal": "not that", "audio": {"id": "audio_1"},
             "tool_calls": [{"id": "call_1", "type": "function",
                             "function": {"name": "lookup", "arguments": "{\"q\": \"weather\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "assistant", "content": None,
             "function_call": {"name": "legacy", "arguments": "{\"a\": 1}"}},
            {"role": "function", "name": "legacy", "content": "done"},
        ],
        "tools": [{"type": "function", "function": {
            "name": "lookup", "description": "Look things up",
            "parameters": {"type": "object", "description": "what to look up",
                           "properties": {"q": {"type": "string", "enum": ["weather", "news"]}}}}}],
        "functions": [{"name": "legacy", "description": "An older function"}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "stop": ["END", "STOP"],
        "metadata": {"ticket": "T-1"},
        "user": "user-1",
        "safety_identifier": "sid-1",
        "prompt_cache_key": "cache-1",
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "description": "The answer", "schema": {"type": "object", "description": "an answer"}}},
        "prediction": {"type": "content", "content": "It is sunny."},
        "web_search_options": {"user_location": {"type": "approximate", "approximate": {"city": "Oslo"}}},
        "mock": {"reply": "ok"},
    }



def metadata_key(body: Body, value: str) -> None:
    body["metadata"] = {value: "x"}


def stop_string(body: Body, value: str) -> None:
    body["stop"] = value


def prediction_part(body: Body, value: str) -> None:
    body["prediction"]["content"] = [{"type": "text", "text": value}]


def image_url(body: Body, value: str) -> None:
    body["messages"][2]["content"].append({"type": "image_url", "image_url": {"url": f"https://img.example/{value}"}})


def file_name(body: Body, value: str) -> None:
    body["messages"][2]["content"].append({"type": "file", "file": {"file_id": "file-1", "filename": value}})


def file_id(body: Body, value: str) -> None:
    body["messages"][2]["content"].append({"type": "file", "file": {"file_id": value}})


def system_string(body: Body, value: str) -> None:
    body["messages"][0]["content"] = value


FIELDS: dict[str, Put] = {
    "system.content": system_string,
    "system.name": at("messages", 0, "name"),
    "developer.text": at("messages", 1, "content", 0, "text"),
    "developer.name": at("messages", 1, "name"),
    "user.text": at("messages", 2, "content", 0, "text"),
    "user.name": at("messages", 2, "name"),
    "user.image_url": image_url,
    "user.file.filename": file_name,
    "user.file.file_id": file_id,
    "assistant.text": at("messages", 3, "content", 0, "text"),
    "assistant.refusal_part": at("messages", 3, "content", 1, "refusal"),
    "assistant.refusal": at("messages", 3, "refusal"),
    "assistant.name": at("messages", 3, "name"),
    "assistant.audio.id": at("messages", 3, "audio", "id"),
    "assistant.tool_calls.id": at("messages", 3, "tool_calls", 0, "id"),
    "assistant.tool_calls.name": at("messages", 3, "tool_calls", 0, "function", "name"),
    "assistant.tool_calls.arguments": at("messages", 3, "tool_calls", 0, "function", "arguments"),
    "tool.content": at("messages", 4, "content"),
    "tool.tool_call_id": at("messages", 4, "tool_call_id"),
    "assistant.function_call.name": at("messages", 5, "function_call", "name"),
    "assistant.function_call.arguments": at("messages", 5, "function_call", "arguments"),
    "function.content": at("messages", 6, "content"),
    "function.name": at("messages", 6, "name"),
    "tools.name": at("tools", 0, "function", "name"),
    "tools.description": at("tools", 0, "function", "description"),
    "tools.parameters.description": at("tools", 0, "function", "parameters", "description"),
    "tools.parameters.enum": at("tools", 0, "function", "parameters", "properties", "q", "enum", 1),
    "functions.name": at("functions", 0, "name"),
    "functions.description": at("functions", 0, "description"),
    "tool_choice.name": at("tool_choice", "function", "name"),
    "stop.item": at("stop", 1),
    "stop.string": stop_string,
    "metadata.value": at("metadata", "ticket"),
    "metadata.key": metadata_key,
    "user": at("user"),
    "safety_identifier": at("safety_identifier"),
    "prompt_cache_key": at("prompt_cache_key"),
    "response_format.name": at("response_format", "json_schema", "name"),
    "response_format.description": at("response_format", "json_schema", "description"),
    "response_format.schema": at("response_format", "json_schema", "schema", "description"),
    "prediction.content": at("prediction", "content"),
    "prediction.part": prediction_part,
    "web_search.city": at("web_search_options", "user_location", "approximate", "city"),
}

# Parts the gateway cannot read are kept out of the field tests (they are refused toward external
# models whatever they hold); the tests below cover them.
READABLE = {name: put for name, put in FIELDS.items() if name not in ("user.image_url", "user.file.filename",
                                                                       "user.file.file_id")}


# Fields that are two shapes of one field: a request has one of them.
ALTERNATIVES = {"stop.item": "stop", "stop.string": "stop", "prediction.content": "prediction",
                "prediction.part": "prediction"}


def request(*changes: tuple[str, str]) -> Body:
    body = base()
    for field, value in changes:
        READABLE[field](body, value)
    return body


def post(http: httpx.Client, gateway: Gateway, body: Body) -> httpx.Response:
    return http.post("/v1/chat/completions", json=body,
                     headers={"authorization": f"Bearer {gateway.keys['plain-user'].key}"})



def test_the_base_request_is_accepted_whole(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    r = post(http, gateway, base())
    assert r.status_code == 200, r.text
    (received,) = mock.received
    sent = {k: v for k, v in base().items() if k != "model"}
    assert {k: v for k, v in received.body.items() if k not in ("model", "stream_options")} == sent


@pytest.mark.parametrize("field", sorted(READABLE))
def test_a_personal_value_in_any_field_reaches_the_model_redacted(gateway: Gateway, mock: MockLLM,
                                                                   http: httpx.Client, field: str) -> None:
    r = post(http, gateway, request((field, EMAIL)))
    assert r.status_code == 200, r.text
    seen = upstream_text(mock)
    assert EMAIL not in seen
    assert "[EMAIL_1]" in seen
    data = gateway.record(r.headers["x-request-id"])["data"]
    assert {"class": "pii.email", "action": "redact", "where": "input", "count": 1} in data


def test_a_metadata_entry_with_a_value_in_its_key_and_its_value(gateway: Gateway, mock: MockLLM,
                                                               http: httpx.Client) -> None:
    body = base()
    body["metadata"] = {EMAIL: "call 415-555-0134", "plain": "kept"}
    r = post(http, gateway, body)
    assert r.status_code == 200, r.text
    (received,) = mock.received
    assert received.body["metadata"] == {"[EMAIL_1]": "call [PHONE_1]", "plain": "kept"}


@pytest.mark.parametrize("field", sorted(READABLE))
def test_a_secret_in_any_field_refuses_the_call(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                field: str) -> None:
    r = post(http, gateway, request((field, SECRET)))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "data_blocked"
    assert SECRET not in r.text
    assert mock.received == []


@pytest.mark.parametrize("field", ["user.text", "metadata.value", "tools.description", "stop.item"])
def test_a_class_policy_allows_reaches_the_model_and_is_recorded(gateway: Gateway, mock: MockLLM,
                                                                  http: httpx.Client, field: str) -> None:
    r = post(http, gateway, request((field, f"from {IP}")))
    assert r.status_code == 200, r.text
    assert IP in upstream_text(mock)
    data = gateway.record(r.headers["x-request-id"])["data"]
    assert any(d["class"] == "net.ip_address" and d["action"] == "allow" for d in data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(READABLE)), st.sampled_from([EMAIL, SECRET, "plain words"])),
                min_size=1, max_size=6, unique_by=lambda change: ALTERNATIVES.get(change[0], change[0])))
def test_markers_anywhere_never_reach_the_model_unless_allowed(gateway: Gateway, mock: MockLLM,
                                                               http: httpx.Client,
                                                               changes: list[tuple[str, str]]) -> None:
    mock.clear()
    r = post(http, gateway, request(*changes))
    values = {value for _, value in changes}
    if SECRET in values:
        assert r.status_code == 403, r.text
        assert mock.received == []
    else:
        assert r.status_code == 200, r.text
    assert EMAIL not in upstream_text(mock)
    assert SECRET not in upstream_text(mock)


# -- what the gateway cannot read -----------------------------------------------------------------------


@pytest.mark.parametrize(("part", "data_class"), [
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}, "media.image"),
    ({"type": "image_url", "image_url": {"url": "https://img.example/cat.png", "detail": "low"}}, "media.image"),
    ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}, "media.audio"),
    ({"type": "file", "file": {"file_data": "JVBERi0=", "filename": "report.pdf"}}, "media.file"),
], ids=["image-data", "image-url", "audio", "file"])
def test_content_the_gateway_cannot_read_is_refused_toward_an_external_model(
        gateway: Gateway, mock: MockLLM, http: httpx.Client, part: Body, data_class: str) -> None:
    body = base()
    body["messages"][2]["content"].append(part)
    r = post(http, gateway, body)
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "data_blocked"
    assert data_class in error["message"]
    assert mock.received == []
    record = gateway.record(r.headers["x-request-id"])
    assert {"class": data_class, "action": "block", "where": "input", "count": 1} in record["data"]


# -- what the gateway does not know ----------------------------------------------------------------------


def _with(change: Callable[[Body], None]) -> Body:
    body = base()
    change(body)
    return body


UNKNOWN: list[tuple[str, Body, str]] = [
    ("top-level", _with(lambda b: b.update(secret_notes=EMAIL)), "secret_notes"),
    ("message", _with(lambda b: b["messages"][2].update(note=EMAIL)), "messages[2].note"),
    ("part-field", _with(lambda b: b["messages"][2]["content"][0].update(extra=EMAIL)), "messages[2].content[0].extra"),
    ("tool-call", _with(lambda b: b["messages"][3]["tool_calls"][0].update(meta=EMAIL)), "messages[3].tool_calls[0].meta"),
    ("tool-function", _with(lambda b: b["tools"][0]["function"].update(examples=[EMAIL])), "tools[0].function.examples"),
    ("web-search", _with(lambda b: b["web_search_options"].update(hint=EMAIL)), "web_search_options.hint"),
]


@pytest.mark.parametrize(("body", "param"), [pytest.param(b, p, id=i) for i, b, p in UNKNOWN])
def test_a_field_the_gateway_does_not_know_is_refused_by_name(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                              body: Body, param: str) -> None:
    r = post(http, gateway, body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param
    assert "does not know" in error["message"]
    assert EMAIL not in r.text
    assert mock.received == []


@pytest.mark.parametrize(("change", "mentions"), [
    pytest.param(lambda b: b["messages"][2]["content"].append({"text": "no type"}), "type", id="part-without-type"),
    pytest.param(lambda b: b["messages"][2]["content"].append({"type": "video", "video": {}}), "video",
                 id="unknown-part-type"),
    pytest.param(lambda b: b["messages"][2]["content"].__setitem__(0, {"type": "text", "text": 42}), "str",
                 id="text-a-number"),
    pytest.param(lambda b: b["messages"][4].pop("tool_call_id"), "tool_call_id", id="tool-without-call-id"),
    pytest.param(lambda b: b.update(max_tokens=10**30), "max_tokens", id="max-tokens-huge"),
    pytest.param(lambda b: b.update(logit_bias={EMAIL: 1}), "logit_bias", id="logit-bias-key-not-a-token"),
    pytest.param(lambda b: b.update(metadata={"k": "v" * 600}), "metadata", id="metadata-value-too-long"),
], )
def test_malformed_fields_are_a_clear_400(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                          change: Callable[[Body], None], mentions: str) -> None:
    body = copy.deepcopy(base())
    change(body)
    r = post(http, gateway, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    assert mentions in r.text
    assert mock.received == []
