"""Sensitive data through a real gateway: what the upstream sees, what the caller gets back, what is kept.

The gateway runs the example organisation's policies (``examples/policies``): PII goes to the on-prem
model in clear and to external models as placeholders, card numbers are masked everywhere, secrets are
blocked, support agents see restored values and analysts never do. Every assertion about the upstream is
made on what the mock model recorded; the client is the official OpenAI SDK.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from interlock.providers.mock import MockLLM
from support.gateways import Gateway, GatewayFactory, KeySpec
from support.stores import STORES

EXAMPLE_POLICIES = Path(__file__).resolve().parents[2] / "examples" / "policies"


ACME_KEYS = (
    KeySpec("support", ("support_agent",), tenant="acme"),
    KeySpec("support-2", ("support_agent",), tenant="acme"),
    KeySpec("analyst", ("analyst",), tenant="acme"),
    KeySpec("admin", ("admin",), tenant="acme"),
)

EXTERNAL = "gpt-4o"  # hosting: external; support agents may use it, analysts may not
ON_PREM = "llama-onprem"  # hosting: on_prem; every role may use it
# "mock" (external in these settings) is open to everyone, analysts included.

# -- the values ---------------------------------------------------------------------------------------

EMAIL = "jane.doe@example.org"
OTHER_EMAIL = "max.power@example.net"
PHONE = "+1 415 555 0132"
NAME = "John Smith"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
SSN = "536-90-4399"

# Each value with the context a person would write around it.
PII_TEXT = (f"Please call Mr. {NAME} back. His e-mail address is {EMAIL}. "
            f"Telephone: {PHONE}. Pay with credit card {CARD}. "
            f"Refund to IBAN {IBAN}. His SSN is {SSN}.")
PII_VALUES = (EMAIL, PHONE, NAME, CARD, IBAN, SSN)
MASKED_CARD = "****1111"
# What a support agent gets back from an echo by an external model: personal data restored; the card
# masked for good; the IBAN (class fin, not pii) stays a placeholder, as restore.cedar only gives back pii.
SUPPORT_VIEW = PII_TEXT.replace(CARD, MASKED_CARD).replace(IBAN, "[IBAN_1]")
# What an on-prem model reads (and echoes): everything in clear but the card.
ON_PREM_VIEW = PII_TEXT.replace(CARD, MASKED_CARD)

AWS_KEY_ID = "AKIAZ7VRSQ5TXYJ3KW2P"
GITHUB_TOKEN = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


PEM_PKCS8 = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
PEM_RSA = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048),
               serialization.PrivateFormat.TraditionalOpenSSL)

SECRETS = {
    "aws-key-id": (AWS_KEY_ID, "secret.api_key"),
    "github-token": (GITHUB_TOKEN, "secret.token"),
    "pem-pkcs8": (PEM_PKCS8, "secret.private_key"),
    "pem-rsa": (PEM_RSA, "secret.private_key"),
}


def forms(value: str) -> set[str]:
    """A value as written and without its separators: neither may reach the upstream."""
    return {value, re.sub(r"[\s\-]", "", value)}


def assert_absent(haystack: str, values: Any, where: str) -> None:
    for value in values:
        for form in forms(value):
            assert form not in haystack, f"{form!r} reached {where}"


def secret_fragments(secret: str) -> list[str]:
    """Distinctive pieces of a secret: its body lines for a PEM block, else the whole value."""
    if secret.startswith("-----BEGIN"):
        return [line for line in secret.splitlines() if line and not line.startswith("-----")][:3]
    return [secret]


# -- the gateway --------------------------------------------------------------------------------------


def acme_settings(tree: dict[str, Any]) -> None:
    # An upstream that stops answering is reported well before the client gives up.
    tree["providers"]["upstream"]["read_timeout_seconds"] = 20
    tree["models"] += [
        {"alias": EXTERNAL, "provider": "upstream", "upstream_model": "mock", "hosting": "external"},
        {"alias": ON_PREM, "provider": "upstream", "upstream_model": "mock", "hosting": "on_prem"},
    ]
    # Room for pasted documents of several megabytes.
    tree["limits"]["max_body_bytes"] = 8 * 1024 * 1024
    # The tool the model calls below, in the registry (calls to tools outside it are refused).
    tree["tools"] = [{"name": LOOKUP_TOOL_NAME, "risk": "low", "side_effects": "read",
                      "parameters": {"type": "object", "properties": {"note": {"type": "string"}}}}]


def acme_policies() -> dict[str, str]:
    """The example policies, plus a permit for the lookup tool the model calls in these tests."""
    files = {str(p.relative_to(EXAMPLE_POLICIES)): p.read_text(encoding="utf-8")
             for p in EXAMPLE_POLICIES.rglob("*") if p.is_file()}
    files["lookup.cedar"] = (f'@id("test.tools.lookup")\npermit (principal, action == Action::"call_tool", '
                             f'resource == Tool::"{LOOKUP_TOOL_NAME}");\n')
    return files


@pytest.fixture(scope="module", params=STORES)
def acme(request: pytest.FixtureRequest, gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    """A gateway on the example organisation's policies, in-process, once per store."""
    gw = gateway_factory(request.param, keys=ACME_KEYS, policies=acme_policies(), adjust=acme_settings,
                         served=False)
    yield gw
    gw.stop()


def client(gw: Gateway, key: str, timeout: float = 30) -> openai.OpenAI:
    return gw.client(gw.keys[key], timeout=timeout)


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def upstream_text(mock: MockLLM) -> str:
    """Everything the upstream received, as one string."""
    return json.dumps([r.body for r in mock.received], ensure_ascii=False)


def streamed(stream: Any) -> str:
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def streamed_until_error(stream: Any) -> tuple[str, openai.APIError | None]:
    text = ""
    try:
        for c in stream:
            if c.choices:
                text += c.choices[0].delta.content or ""
    except openai.APIError as exc:
        return text, exc
    return text, None


def collect_tool_arguments(stream: Any, into: list[str]) -> None:
    """Append every tool-call argument piece of a stream to ``into``, as it arrives."""
    for c in stream:
        for tc in (c.choices[0].delta.tool_calls or ()) if c.choices else ():
            if tc.function and tc.function.arguments:
                into.append(tc.function.arguments)


def streamed_tool_arguments(stream: Any) -> str:
    pieces: list[str] = []
    collect_tool_arguments(stream, pieces)
    return "".join(pieces)


def record_data(gw: Gateway, request_id: str | None) -> dict[tuple[str, str], str]:
    """The record's data entries as {(class, where): action}."""
    return {(d["class"], d["where"]): d["action"] for d in gw.record(request_id).get("data", [])}


# -- where values hide in a request -------------------------------------------------------------------

LOOKUP_TOOL_NAME = "lookup_customer"


def _tool(description: str = "Find a customer record.", note_description: str = "free text") -> Any:
    return {"type": "function", "function": {
        "name": LOOKUP_TOOL_NAME, "description": description,
        "parameters": {"type": "object", "properties": {"note": {"type": "string", "description": note_description}},
                       "required": ["note"]}}}


def _earlier_tool_call(arguments: str, result: str) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": LOOKUP_TOOL_NAME, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
        {"role": "user", "content": "Go on."},
    ]


def request_with(text: str, where: str) -> dict[str, Any]:
    """A chat request carrying ``text`` in one place the model reads."""
    plain = json.dumps({"note": "nothing special"})
    if where == "user":
        return {"messages": user(text)}
    if where == "system":
        return {"messages": [{"role": "system", "content": text}, *user("Hello.")]}
    if where == "content-parts":
        return {"messages": [{"role": "user", "content": [{"type": "text", "text": "Two parts follow."},
                                                          {"type": "text", "text": text}]}]}
    if where == "tool-call-arguments":
        return {"messages": [*user("Look the customer up."), *_earlier_tool_call(json.dumps({"note": text}), "found")],
                "tools": [_tool()]}
    if where == "tool-result":
        return {"messages": [*user("Look the customer up."), *_earlier_tool_call(plain, text)], "tools": [_tool()]}
    if where == "tool-description":
        return {"messages": user("Which tools do you have?"), "tools": [_tool(description=text)]}
    if where == "tool-parameter-description":
        return {"messages": user("Which tools do you have?"), "tools": [_tool(note_description=text)]}
    raise AssertionError(where)


LOCATIONS = ("user", "system", "content-parts", "tool-call-arguments", "tool-result", "tool-description",
             "tool-parameter-description")


# -- the upstream never sees protected values ---------------------------------------------------------


@pytest.mark.parametrize("where", LOCATIONS)
def test_upstream_never_sees_redacted_or_masked_values(acme: Gateway, mock: MockLLM, where: str) -> None:
    body = request_with(PII_TEXT, where)
    raw = client(acme, "support").chat.completions.with_raw_response.create(
        model=EXTERNAL, messages=body["messages"], tools=body.get("tools", openai.NOT_GIVEN),
        extra_body={"mock": {"reply": "noted"}})
    assert raw.parse().choices[0].message.content == "noted"
    assert len(mock.received) == 1
    seen = upstream_text(mock)
    assert_absent(seen, PII_VALUES, f"the upstream ({where})")
    # What it saw instead: placeholders for reversible classes, the last four digits of the card.
    for placeholder in ("[NAME_1]", "[EMAIL_1]", "[PHONE_1]", "[IBAN_1]", "[NATIONAL_ID_1]"):
        assert placeholder in seen, placeholder
    assert MASKED_CARD in seen
    data = record_data(acme, raw.headers["x-request-id"])
    assert data == {("pii.name", "input"): "redact", ("pii.email", "input"): "redact",
                    ("pii.phone", "input"): "redact", ("pci.card_number", "input"): "mask",
                    ("fin.iban", "input"): "redact", ("pii.national_id", "input"): "redact"}


def test_upstream_never_sees_values_beside_the_prompt(acme: Gateway, mock: MockLLM) -> None:
    """The end-user id, metadata, predicted output and a response schema reach the provider too."""
    client(acme, "support").chat.completions.create(
        model=EXTERNAL, messages=user("Summarise."), user=EMAIL, metadata={"customer": f"e-mail {EMAIL}"},
        prediction={"type": "content", "content": f"Dear customer ({EMAIL}), card {CARD}"},
        response_format={"type": "json_schema", "json_schema": {
            "name": "summary", "description": f"a summary for {EMAIL}",
            "schema": {"type": "object", "properties": {"to": {"type": "string", "enum": [EMAIL, OTHER_EMAIL]}}}}},
        extra_body={"mock": {"reply": "ok"}})
    seen = upstream_text(mock)
    assert_absent(seen, (EMAIL, OTHER_EMAIL, CARD), "the upstream")
    sent = mock.last.body
    assert sent["user"] == "[EMAIL_1]"
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["to"]["enum"] == ["[EMAIL_1]", "[EMAIL_2]"]
    # Structure is left alone: the schema still says what it did.
    assert sent["response_format"]["json_schema"]["schema"]["type"] == "object"


@pytest.mark.parametrize("split", ["messages", "content-parts"])
def test_value_split_across_two_texts_reaches_the_upstream_in_neither(acme: Gateway, mock: MockLLM,
                                                                       split: str) -> None:
    first, second = "Write to jane.doe@", "example.org about the card 4111 1111"
    third = "1111 1111, thanks."
    if split == "messages":
        messages: Any = [{"role": "user", "content": first}, {"role": "user", "content": second},
                         {"role": "user", "content": third}]
    else:
        messages = [{"role": "user", "content": [{"type": "text", "text": t} for t in (first, second, third)]}]
    client(acme, "support").chat.completions.create(model=EXTERNAL, messages=messages,
                                                    extra_body={"mock": {"reply": "noted"}})
    seen = upstream_text(mock)
    assert_absent(seen, ("jane.doe", "example.org", "4111 1111", "1111 1111"), f"the upstream ({split})")
    assert "Write to [EMAIL_1]" in seen
    assert "[EMAIL_2] about the card ****1111" in seen


# -- the caller gets its own values back ------------------------------------------------------------


def test_caller_sees_its_values_restored(acme: Gateway, mock: MockLLM) -> None:
    answer = client(acme, "support").chat.completions.create(
        model=EXTERNAL, messages=user(PII_TEXT), extra_body={"mock": {"echo": "all"}})
    assert answer.choices[0].message.content == SUPPORT_VIEW
    assert "[EMAIL_1]" in mock.last.body["messages"][0]["content"]


@pytest.mark.parametrize("chunks", [2, 3, 7, 16, 10_000])
def test_streamed_answer_is_restored_across_chunk_boundaries(acme: Gateway, mock: MockLLM, chunks: int) -> None:
    # 10_000 chunks: one character each, so every placeholder arrives split into single characters.
    stream = client(acme, "support").chat.completions.create(
        model=EXTERNAL, messages=user(PII_TEXT), stream=True, extra_body={"mock": {"chunks": chunks}})
    assert streamed(stream) == SUPPORT_VIEW
    assert "[EMAIL_1]" in mock.last.body["messages"][0]["content"]


def test_placeholder_split_into_single_characters_is_restored(acme: Gateway, mock: MockLLM) -> None:
    conversation = {"x-interlock-conversation-id": "split-" + secrets.token_hex(6)}
    support = client(acme, "support")
    support.chat.completions.create(model=EXTERNAL, messages=user(f"Write to {EMAIL} and {OTHER_EMAIL}."),
                                    extra_headers=conversation, extra_body={"mock": {"reply": "ok"}})
    reply = "Sent to [EMAIL_2], copy to [EMAIL_1]."
    stream = support.chat.completions.create(
        model=EXTERNAL, messages=user("Confirm."), stream=True, extra_headers=conversation,
        extra_body={"mock": {"reply": reply, "chunks": len(reply)}})
    assert streamed(stream) == f"Sent to {OTHER_EMAIL}, copy to {EMAIL}."


def test_tool_call_arguments_from_the_model_are_restored(acme: Gateway, mock: MockLLM) -> None:
    conversation = {"x-interlock-conversation-id": "tools-" + secrets.token_hex(6)}
    support = client(acme, "support")
    support.chat.completions.create(model=EXTERNAL, messages=user(f"Customer {EMAIL} called."),
                                    extra_headers=conversation, extra_body={"mock": {"reply": "ok"}})
    scenario = {"tool_calls": [{"name": LOOKUP_TOOL_NAME, "arguments": {"note": "mail [EMAIL_1]"}}]}
    answer = support.chat.completions.create(model=EXTERNAL, messages=user("Look them up."), tools=[_tool()],
                                             extra_headers=conversation, extra_body={"mock": scenario})
    tool_calls = answer.choices[0].message.tool_calls
    assert tool_calls is not None
    assert tool_calls[0].type == "function"
    assert json.loads(tool_calls[0].function.arguments) == {"note": f"mail {EMAIL}"}
    stream = support.chat.completions.create(model=EXTERNAL, messages=user("Look them up."), tools=[_tool()],
                                             stream=True, extra_headers=conversation,
                                             extra_body={"mock": {**scenario, "chunks": 9}})
    assert json.loads(streamed_tool_arguments(stream)) == {"note": f"mail {EMAIL}"}


# -- a principal without restore rights -------------------------------------------------------------


def test_analyst_sees_placeholders(acme: Gateway, mock: MockLLM) -> None:
    analyst = client(acme, "analyst")
    answer = analyst.chat.completions.create(model="mock", messages=user(PII_TEXT),
                                             extra_body={"mock": {"echo": "all"}})
    text = answer.choices[0].message.content or ""
    assert_absent(text, PII_VALUES, "the analyst")
    for placeholder in ("[NAME_1]", "[EMAIL_1]", "[PHONE_1]", "[IBAN_1]", "[NATIONAL_ID_1]", MASKED_CARD):
        assert placeholder in text
    # Exactly what the upstream saw and said.
    assert text == mock.last.body["messages"][0]["content"]
    stream = analyst.chat.completions.create(model="mock", messages=user(PII_TEXT), stream=True,
                                             extra_body={"mock": {"chunks": 11}})
    assert streamed(stream) == text


# -- secrets are blocked ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", [*LOCATIONS, "escaped-in-a-shell-line"])
@pytest.mark.parametrize("secret", list(SECRETS))
def test_secret_is_refused_naming_the_class_never_the_value(acme: Gateway, mock: MockLLM, secret: str,
                                                              where: str) -> None:
    value, data_class = SECRETS[secret]
    if where == "escaped-in-a-shell-line":
        # Pasted code: the value right after a backslash escape, as in JSON strings and shell lines.
        body = request_with(f'Why does this fail? echo -e "credentials:\\n{value}\\n" > ~/.creds', "user")
    else:
        body = request_with(f"Deploy with this credential:\n{value}\nThanks.", where)
    try:
        client(acme, "support").chat.completions.create(
            model=ON_PREM, messages=body["messages"], tools=body.get("tools", openai.NOT_GIVEN))
    except openai.PermissionDeniedError as refused:
        exc = refused
    else:
        pytest.fail(f"a {data_class} value in {where} was not blocked: the upstream received "
                    f"{len(mock.received)} request(s) holding it")
    assert exc.status_code == 403
    assert exc.code == "data_blocked"
    error = exc.response.json()["error"]
    assert data_class in error["message"]
    for fragment in secret_fragments(value):
        assert fragment not in exc.response.text
    assert mock.received == []
    record = acme.record(error["request_id"])
    assert record["refusal_code"] == "data_blocked"
    assert {"class": data_class, "action": "block", "where": "input", "count": 1} in record["data"]
    (blocked,) = [d for d in record["decisions"] if d["stage"] == "data" and d["outcome"] == "block"]
    assert blocked["policy_ids"] == ["data.secrets-never-leave"]
    for fragment in secret_fragments(value):
        assert fragment not in json.dumps(record)


def test_secret_in_a_streamed_request_is_refused_before_any_chunk(acme: Gateway, mock: MockLLM) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(acme, "support").chat.completions.create(
            model=EXTERNAL, messages=user(f"key {AWS_KEY_ID}"), stream=True)
    assert caught.value.code == "data_blocked"
    assert AWS_KEY_ID not in caught.value.response.text
    assert mock.received == []


# -- what is allowed depends on where it goes -------------------------------------------------------


def test_pii_goes_in_clear_on_prem_and_redacted_outside(acme: Gateway, mock: MockLLM) -> None:
    support = client(acme, "support")
    on_prem = support.chat.completions.with_raw_response.create(
        model=ON_PREM, messages=user(PII_TEXT), extra_body={"mock": {"echo": "all"}})
    seen_on_prem = mock.last.body["messages"][0]["content"]
    external = support.chat.completions.with_raw_response.create(
        model=EXTERNAL, messages=user(PII_TEXT), extra_body={"mock": {"echo": "all"}})
    seen_outside = mock.last.body["messages"][0]["content"]

    # Same text, same caller: the on-prem model reads the personal data; cards are masked everywhere.
    assert seen_on_prem == ON_PREM_VIEW
    assert_absent(seen_outside, PII_VALUES, "the external model")
    assert "[EMAIL_1]" in seen_outside
    assert on_prem.parse().choices[0].message.content == ON_PREM_VIEW
    assert external.parse().choices[0].message.content == SUPPORT_VIEW

    on_prem_record = acme.record(on_prem.headers["x-request-id"])
    external_record = acme.record(external.headers["x-request-id"])
    assert record_data(acme, on_prem.headers["x-request-id"])[("pii.email", "input")] == "allow"
    assert record_data(acme, external.headers["x-request-id"])[("pii.email", "input")] == "redact"
    # Each decision names the policy behind it (the on-prem echo is decided again on the way out).
    email_on_prem = [d for d in on_prem_record["decisions"] if d.get("reason", "").startswith("pii.email")]
    email_outside = [d for d in external_record["decisions"] if d.get("reason", "").startswith("pii.email")]
    assert email_on_prem
    assert email_outside
    assert all(d["outcome"] == "allow" and d["policy_ids"] == ["data.pii-clear-on-prem"] for d in email_on_prem)
    assert all(d["outcome"] == "redact" and d["policy_ids"] == ["data.pii-redacted"] for d in email_outside)


def test_value_allowed_on_prem_streams_whole_across_chunks(acme: Gateway, mock: MockLLM) -> None:
    stream = client(acme, "analyst").chat.completions.create(
        model=ON_PREM, messages=user(PII_TEXT), stream=True, extra_body={"mock": {"chunks": 13}})
    # Allowed on prem, so never turned into a placeholder that this analyst could not have restored.
    assert streamed(stream) == ON_PREM_VIEW


# -- what the model says on its own -----------------------------------------------------------------


@pytest.mark.parametrize("secret", ["aws-key-id", "github-token", "pem-pkcs8"])
def test_model_emitting_a_secret_is_refused(acme: Gateway, mock: MockLLM, secret: str) -> None:
    value, data_class = SECRETS[secret]
    reply = {"reply": f"here is {value} for you"}
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(acme, "support").chat.completions.create(model=EXTERNAL, messages=user("any keys?"),
                                                        extra_body={"mock": reply})
    assert caught.value.code == "data_blocked"
    assert data_class in caught.value.message
    assert "model's answer" in caught.value.message
    for fragment in secret_fragments(value):
        assert fragment not in caught.value.response.text
    assert len(mock.received) == 1
    record = acme.record(caught.value.response.json()["error"]["request_id"])
    assert record["refusal_code"] == "data_blocked"
    assert {"class": data_class, "action": "block", "where": "output", "count": 1} in record["data"]


@pytest.mark.parametrize("chunks", [3, 10, 10_000])
def test_model_streaming_a_secret_is_cut_off(acme: Gateway, mock: MockLLM, chunks: int) -> None:
    stream = client(acme, "support").chat.completions.create(
        model=EXTERNAL, messages=user("any keys?"), stream=True,
        extra_body={"mock": {"reply": f"Sure, here is {AWS_KEY_ID} as asked. More text follows here.",
                             "chunks": chunks}})
    text, error = streamed_until_error(stream)
    assert error is not None, "the stream ended normally"
    assert error.code == "data_blocked"
    assert error.body is not None
    assert isinstance(error.body, dict)
    assert error.body["type"] == "permission_error"
    assert "secret.api_key" in error.message
    assert "model's answer" in error.message
    assert AWS_KEY_ID not in text
    assert AWS_KEY_ID[:8] not in text  # not even the start of it
    assert AWS_KEY_ID not in str(error.body)


def test_model_emitting_a_secret_in_tool_arguments_is_refused(acme: Gateway, mock: MockLLM) -> None:
    scenario = {"tool_calls": [{"name": LOOKUP_TOOL_NAME, "arguments": {"note": GITHUB_TOKEN}}]}
    support = client(acme, "support")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        support.chat.completions.create(model=EXTERNAL, messages=user("go"), tools=[_tool()],
                                        extra_body={"mock": scenario})
    assert caught.value.code == "data_blocked"
    stream = support.chat.completions.create(model=EXTERNAL, messages=user("go"), tools=[_tool()], stream=True,
                                             extra_body={"mock": {**scenario, "chunks": 7}})
    received: list[str] = []
    with pytest.raises(openai.APIError) as streamed_error:
        collect_tool_arguments(stream, received)
    assert streamed_error.value.code == "data_blocked"
    assert GITHUB_TOKEN[:10] not in "".join(received)


# The older way to offer a function (``functions``), answered with a single ``function_call``.
LEGACY_FUNCTIONS: Any = [{"name": LOOKUP_TOOL_NAME,
                          "parameters": {"type": "object", "properties": {"note": {"type": "string"}}}}]


def _legacy_arguments(stream: Any, into: list[str]) -> None:
    """Append every piece of an older-style function_call's arguments in a stream to ``into``."""
    for c in stream:
        fc = c.choices[0].delta.function_call if c.choices else None
        if fc is not None and fc.arguments:
            into.append(fc.arguments)


def test_legacy_function_call_arguments_are_scanned_like_tool_calls(acme: Gateway, mock: MockLLM) -> None:
    # The older single function_call form is model output too: a secret in it is refused, whole or streamed.
    scenario = {"tool_calls": [{"name": LOOKUP_TOOL_NAME, "arguments": {"note": GITHUB_TOKEN}}],
                "legacy_function_call": True}
    support = client(acme, "support")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        support.chat.completions.create(model=EXTERNAL, messages=user("go"), functions=LEGACY_FUNCTIONS,
                                        extra_body={"mock": scenario})
    assert caught.value.code == "data_blocked"
    assert GITHUB_TOKEN[:10] not in str(caught.value.body)
    stream = support.chat.completions.create(model=EXTERNAL, messages=user("go"), functions=LEGACY_FUNCTIONS, stream=True,
                                             extra_body={"mock": {**scenario, "chunks": 7}})
    received: list[str] = []
    with pytest.raises(openai.APIError) as streamed_error:
        _legacy_arguments(stream, received)
    assert streamed_error.value.code == "data_blocked"
    assert GITHUB_TOKEN[:10] not in "".join(received)


def test_legacy_function_call_arguments_are_restored(acme: Gateway, mock: MockLLM) -> None:
    conversation = {"x-interlock-conversation-id": "legacy-" + secrets.token_hex(6)}
    support = client(acme, "support")
    support.chat.completions.create(model=EXTERNAL, messages=user(f"Customer {EMAIL} called."),
                                    extra_headers=conversation, extra_body={"mock": {"reply": "ok"}})
    scenario = {"tool_calls": [{"name": LOOKUP_TOOL_NAME, "arguments": {"note": "mail [EMAIL_1]"}}],
                "legacy_function_call": True}
    answer = support.chat.completions.create(model=EXTERNAL, messages=user("Look them up."), functions=LEGACY_FUNCTIONS,
                                             extra_headers=conversation, extra_body={"mock": scenario})
    function_call = answer.choices[0].message.function_call
    assert function_call is not None
    assert function_call.name == LOOKUP_TOOL_NAME
    assert json.loads(function_call.arguments) == {"note": f"mail {EMAIL}"}
    stream = support.chat.completions.create(model=EXTERNAL, messages=user("Look them up."), functions=LEGACY_FUNCTIONS,
                                             stream=True, extra_headers=conversation,
                                             extra_body={"mock": {**scenario, "chunks": 9}})
    pieces: list[str] = []
    _legacy_arguments(stream, pieces)
    assert json.loads("".join(pieces)) == {"note": f"mail {EMAIL}"}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_model_emitting_a_card_number_is_masked(acme: Gateway, mock: MockLLM, stream: bool) -> None:
    reply = f"The card on file is {CARD}, expiring soon."
    expected = f"The card on file is {MASKED_CARD}, expiring soon."
    for key in ("support", "analyst"):
        c = client(acme, key)
        if stream:
            text = streamed(c.chat.completions.create(model="mock", messages=user("card?"), stream=True,
                                                      extra_body={"mock": {"reply": reply, "chunks": 6}}))
        else:
            text = c.chat.completions.create(model="mock", messages=user("card?"),
                                             extra_body={"mock": {"reply": reply}}).choices[0].message.content or ""
        assert text == expected, key


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_model_emitting_an_email_is_shown_only_to_who_may_see_it(acme: Gateway, mock: MockLLM,
                                                                  stream: bool) -> None:
    reply = f"You can reach the owner at {OTHER_EMAIL} today."

    def ask(key: str) -> str:
        c = client(acme, key)
        if stream:
            return streamed(c.chat.completions.create(model="mock", messages=user("who?"), stream=True,
                                                      extra_body={"mock": {"reply": reply, "chunks": 5}}))
        answer = c.chat.completions.create(model="mock", messages=user("who?"), extra_body={"mock": {"reply": reply}})
        return answer.choices[0].message.content or ""

    assert ask("support") == reply
    assert ask("analyst") == "You can reach the owner at [EMAIL_1] today."


# -- conversations ----------------------------------------------------------------------------------


def test_conversation_keeps_placeholders_stable_and_per_caller(acme: Gateway, mock: MockLLM) -> None:
    conversation = {"x-interlock-conversation-id": "conv-" + secrets.token_hex(6)}
    support = client(acme, "support")
    support.chat.completions.create(model=EXTERNAL, messages=user(f"Write to {EMAIL}."),
                                    extra_headers=conversation)
    assert mock.last.body["messages"][0]["content"] == "Write to [EMAIL_1]."
    support.chat.completions.create(model=EXTERNAL, messages=user(f"Copy {OTHER_EMAIL}, not {EMAIL}."),
                                    extra_headers=conversation)
    assert mock.last.body["messages"][0]["content"] == "Copy [EMAIL_2], not [EMAIL_1]."
    # Without the header each request starts afresh.
    support.chat.completions.create(model=EXTERNAL, messages=user(f"Copy {OTHER_EMAIL}."))
    assert mock.last.body["messages"][0]["content"] == "Copy [EMAIL_1]."
    # The first caller's placeholders mean its values in this conversation.
    answer = support.chat.completions.create(model=EXTERNAL, messages=user("Who?"), extra_headers=conversation,
                                             extra_body={"mock": {"reply": "[EMAIL_1] and [EMAIL_2]"}})
    assert answer.choices[0].message.content == f"{EMAIL} and {OTHER_EMAIL}"

    # Another support agent, who may see e-mail addresses, with the same conversation id: its own map.
    other = client(acme, "support-2")
    answer = other.chat.completions.create(model=EXTERNAL, messages=user("Who?"), extra_headers=conversation,
                                           extra_body={"mock": {"reply": "[EMAIL_1] and [EMAIL_2]"}})
    assert answer.choices[0].message.content == "[EMAIL_1] and [EMAIL_2]"
    other.chat.completions.create(model=EXTERNAL, messages=user(f"Write to {OTHER_EMAIL}."),
                                  extra_headers=conversation)
    assert mock.last.body["messages"][0]["content"] == "Write to [EMAIL_1]."
    # ... and the first caller's map is untouched by it.
    answer = support.chat.completions.create(model=EXTERNAL, messages=user("Who?"), extra_headers=conversation,
                                             extra_body={"mock": {"reply": "[EMAIL_1]"}})
    assert answer.choices[0].message.content == EMAIL
    # The vault holds the maps sealed: no address in the clear.
    blobs = b"".join(acme.vault_blobs())
    assert blobs
    assert EMAIL.encode() not in blobs
    assert OTHER_EMAIL.encode() not in blobs


def test_turns_of_one_conversation_at_the_same_time_never_share_a_placeholder(acme: Gateway, mock: MockLLM) -> None:
    """Turns that read the same map and each add a value: a placeholder the model sees means one value,
    and every value stays restorable in the conversation."""
    conversation = {"x-interlock-conversation-id": "race-" + secrets.token_hex(6)}
    support = client(acme, "support")
    support.chat.completions.create(model=EXTERNAL, messages=user(f"Write to {EMAIL}."), extra_headers=conversation)
    # Letters only: an all-digit run made "case-<digits>-10" read as a phone number, hiding the case.
    run = "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
    addresses = {f"case-{run}-{i}": f"owner.{run}.{i}@example.com" for i in range(12)}

    def turn(case: str) -> None:
        support.chat.completions.create(model=EXTERNAL, messages=user(f"About {case}, write to {addresses[case]}."),
                                        extra_headers=conversation, extra_body={"mock": {"reply": "ok"}})

    for _ in range(2):  # two waves: the second reads maps the first left behind
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(addresses)) as pool:
            list(pool.map(turn, addresses))
    seen: dict[str, set[str]] = {}
    for request in mock.received:
        text = json.dumps(request.body)
        for case, address in addresses.items():
            if f"About {case}," in text:
                assert address not in text
                for placeholder in re.findall(r"\[EMAIL_\d+\]", text):
                    seen.setdefault(placeholder, set()).add(address)
    assert all(len(values) == 1 for values in seen.values()), seen
    assert sorted(next(iter(values)) for values in seen.values()) == sorted(addresses.values()), seen
    # Each placeholder, sent back by the model in a later turn, restores the value it stood for.
    placeholders = sorted(seen)
    answer = support.chat.completions.create(
        model=EXTERNAL, messages=user("Who?"), extra_headers=conversation,
        extra_body={"mock": {"reply": " ".join(placeholders)}}).choices[0].message.content
    assert answer == " ".join(next(iter(seen[p])) for p in placeholders)


# -- nothing at rest in the clear -------------------------------------------------------------------


def test_records_and_payloads_keep_classes_and_placeholders_never_values(acme: Gateway, mock: MockLLM) -> None:
    support = client(acme, "support")
    ids = []
    raw = support.chat.completions.with_raw_response.create(
        model=EXTERNAL, messages=[{"role": "system", "content": PII_TEXT}, *user(PII_TEXT)],
        extra_body={"mock": {"echo": "all"}})
    ids.append(raw.headers["x-request-id"])
    assert raw.parse().choices[0].message.content == f"{SUPPORT_VIEW}\n{SUPPORT_VIEW}"
    payload = acme.payload(raw.headers["x-request-id"])
    stored = json.dumps(payload, ensure_ascii=False)
    assert_absent(stored, PII_VALUES, "the audit payload")
    assert "[EMAIL_1]" in json.dumps(payload["messages"])
    assert "[EMAIL_1]" in payload["output"]
    assert MASKED_CARD in payload["output"]

    # Allowed in clear to the on-prem model, and still not kept in clear.
    with support.chat.completions.with_streaming_response.create(
            model=ON_PREM, messages=user(PII_TEXT), stream=True, extra_body={"mock": {"chunks": 9}}) as streamed_raw:
        assert streamed(streamed_raw.parse()) == ON_PREM_VIEW
        ids.append(streamed_raw.headers["x-request-id"])
    assert_absent(json.dumps(acme.payload(ids[-1]), ensure_ascii=False), PII_VALUES, "the on-prem payload")
    assert record_data(acme, ids[-1])[("pii.email", "input")] == "allow"

    # Said by the model on its own, and a refusal.
    raw = client(acme, "analyst").chat.completions.with_raw_response.create(
        model="mock", messages=user("who?"), extra_body={"mock": {"reply": f"ask {OTHER_EMAIL}"}})
    ids.append(raw.headers["x-request-id"])
    assert acme.payload(ids[-1])["output"] == "ask [EMAIL_1]"
    with pytest.raises(openai.PermissionDeniedError):
        support.chat.completions.create(model=EXTERNAL, messages=user(f"{EMAIL} key {AWS_KEY_ID}"))

    records = [r for r in acme.export() if r["request_id"] in ids]
    assert len(records) == len(ids)
    assert record_data(acme, ids[0]) == {
        ("pii.name", "input"): "redact", ("pii.email", "input"): "redact", ("pii.phone", "input"): "redact",
        ("pci.card_number", "input"): "mask", ("fin.iban", "input"): "redact",
        ("pii.national_id", "input"): "redact"}
    assert record_data(acme, ids[2]) == {("pii.email", "output"): "redact"}
    # Every record, every payload and the server log of this gateway, whichever test made them.
    assert stored_leaks(acme, (*PII_VALUES, OTHER_EMAIL, AWS_KEY_ID, GITHUB_TOKEN)) == []


def stored_leaks(gw: Gateway, values: tuple[str, ...]) -> list[str]:
    """Where any form of the values is kept: records, audit payloads (named by request), the log."""
    wanted = {form for value in values for form in forms(value)}
    records = gw.export()
    request_of = {r.get("payload_hash"): r["request_id"] for r in records}
    leaks = [f"record {r['request_id']}: {form}" for r in records
             for form in wanted if form in json.dumps(r, ensure_ascii=False)]
    leaks += [f"payload of {request_of.get(digest, digest)}: {form}" for digest, payload in gw.payloads().items()
              for form in wanted if form in json.dumps(payload, ensure_ascii=False)]
    log = gw.log()
    leaks += [f"server log: {form}" for form in wanted if form in log]
    return sorted(leaks)


# -- hostile and huge input -------------------------------------------------------------------------

MEGABYTE = 1_000_000


def megabyte(unit: str) -> str:
    return (unit * (MEGABYTE // len(unit) + 1))[:MEGABYTE]


ADVERSARIAL: dict[str, str] = {
    "at-signs": "a@",
    "digits": "1",
    "digit-groups": "1234 ",
    "dotted-words": "a.b@c.",
    "pem-openers": "-----BEGIN ",
    "brackets": "[EMAIL_",
    "key-prefixes": "AKIA ghp_ eyJ ",
    "context-words": "card iban ssn password token ",
}


@pytest.mark.parametrize("kind", list(ADVERSARIAL))
def test_adversarial_megabyte_gets_a_normal_answer(acme: Gateway, mock: MockLLM, kind: str) -> None:
    text = megabyte(ADVERSARIAL[kind])
    answer = client(acme, "analyst", timeout=60).chat.completions.create(
        model="mock", messages=user(text), extra_body={"mock": {"reply": "read it all"}})
    assert answer.choices[0].message.content == "read it all"
    assert len(mock.received) == 1
    assert mock.last.body["messages"][0]["content"] == text  # nothing in it is sensitive


@pytest.mark.parametrize("kind", list(ADVERSARIAL))
def test_adversarial_megabyte_streamed_back_gets_a_normal_answer(acme: Gateway, mock: MockLLM, kind: str) -> None:
    text = megabyte(ADVERSARIAL[kind])
    # The model echoes it all back in pieces, so the streaming output scan and restorer see it too.
    answer = streamed(client(acme, "analyst", timeout=60).chat.completions.create(
        model="mock", messages=user(text), stream=True, extra_body={"mock": {"chunks": 64}}))
    assert len(mock.received) == 1
    assert answer == text


def test_large_answer_is_scanned_and_returned_whole(acme: Gateway, mock: MockLLM) -> None:
    """A non-streamed answer of a megabyte: read whole from the upstream, scanned, restored."""
    text = megabyte("The archive holds nothing personal. ") + f"\nOwner: {OTHER_EMAIL}"
    answer = client(acme, "analyst", timeout=60).chat.completions.create(
        model="mock", messages=user("Print the archive."), extra_body={"mock": {"reply": text}})
    content = answer.choices[0].message.content or ""
    assert len(content) > MEGABYTE
    # Said by the model on its own, at the very end: found, and a placeholder for this analyst.
    assert content.endswith("\nOwner: [EMAIL_1]")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_secret_at_the_end_of_a_large_document_is_blocked(acme: Gateway, mock: MockLLM, stream: bool) -> None:
    paragraph = "The quarterly report covers revenue, costs and the outlook for every region. "
    document = paragraph * (5 * 1024 * 1024 // len(paragraph)) + f"\nDeploy key: {AWS_KEY_ID}"
    assert len(document) > 5 * 1024 * 1024 - 200
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(acme, "analyst", timeout=60).chat.completions.create(
            model="mock", messages=user(document), stream=stream)
    assert caught.value.code == "data_blocked"
    assert "secret.api_key" in caught.value.message
    assert mock.received == []


def test_pii_at_the_end_of_a_large_document_is_redacted(acme: Gateway, mock: MockLLM) -> None:
    paragraph = "Minutes of the meeting; nothing personal in this paragraph at all. "
    document = paragraph * (5 * 1024 * 1024 // len(paragraph)) + f"\nSend the minutes to {EMAIL}."
    answer = client(acme, "analyst", timeout=60).chat.completions.create(
        model="mock", messages=user(document), extra_body={"mock": {"reply": "done"}})
    assert answer.choices[0].message.content == "done"
    sent = mock.last.body["messages"][0]["content"]
    assert sent.endswith("\nSend the minutes to [EMAIL_1].")
    assert EMAIL not in sent
