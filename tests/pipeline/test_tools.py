"""The tools stage in-process: every proposed tool call judged, answers rewritten, streams held back.

The gate runs the example deployment's registry and policies; approvals are recorded by a stand-in
service, so each test reads exactly which calls were held and what approvers would see.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from interlock.detect import Detector
from interlock.identity.principal import Principal
from interlock.pipeline.call import Call
from interlock.pipeline.tools import CheckTools
from interlock.policy.holder import PolicyHolder
from interlock.policy.setup import entity_config
from interlock.settings import load_settings
from interlock.tools import ToolGate, ToolRegistry
from support.calls import make_call

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SAM = Principal(id="sam", kind="user", tenant="acme", roles=frozenset({"support_agent"}))
EMAIL = "jane.doe@example.org"


class Approvals:
    """Stands in for the approval service: remembers each held call."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def request_tool_call(self, principal: Principal, app: Principal | None, **fields: Any) -> Any:
        self.requests.append(fields)
        return SimpleNamespace(id=f"apr_{len(self.requests):04d}", state="pending")


@pytest.fixture(scope="module")
def gate() -> ToolGate:
    settings = load_settings(EXAMPLES / "interlock.yaml", environ={})
    holder = PolicyHolder.load(EXAMPLES / "policies", entity_config(settings, EXAMPLES / "policies"))
    return ToolGate(ToolRegistry(settings.tools), holder, Detector().scan)


@pytest.fixture
def approvals() -> Approvals:
    return Approvals()


@pytest.fixture
def stage(gate: ToolGate, approvals: Approvals) -> CheckTools:
    return CheckTools(gate, approvals, gate._scan)  # type: ignore[arg-type]


def new_call(*, stream: bool = False) -> Call:
    return make_call(principal=SAM, stream=stream)


def tool_call(name: str, arguments: Any, id: str) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": text}}


def answer(*calls: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "mock",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": content, "tool_calls": list(calls)}}]}


SEARCH = tool_call("search_kb", {"query": "refund policy"}, "call_search")
SMALL_REFUND = tool_call("refund_payment", {"payment_id": "pay_1", "amount": 50, "currency": "EUR"}, "call_small")
BIG_REFUND = tool_call("refund_payment", {"payment_id": "pay_2", "amount": 5000, "currency": "EUR"}, "call_big")
HELD_REFUND = tool_call("refund_payment", {"payment_id": "pay_3", "amount": 500, "currency": "EUR"}, "call_held")
OUTSIDE_MAIL = tool_call("send_email", {"to": [EMAIL], "subject": "Your refund", "body": f"Hello {EMAIL}"},
                         "call_mail")


# -- whole answers ------------------------------------------------------------------------------------


async def test_allowed_calls_pass_untouched(stage: CheckTools) -> None:
    call = new_call()
    call.response = answer(SEARCH, SMALL_REFUND)
    before = json.dumps(call.response)
    await stage(call)
    assert json.dumps(call.response) == before
    assert "interlock" not in call.response
    assert [(v["tool"], v["outcome"]) for v in call.tool_verdicts] == [("search_kb", "allow"),
                                                                       ("refund_payment", "allow")]
    assert [d.outcome for d in call.decisions if d.stage == "tools"] == ["allow", "allow"]


async def test_a_refused_call_is_removed_and_the_others_stay(stage: CheckTools) -> None:
    call = new_call()
    call.response = answer(SEARCH, BIG_REFUND, content="Working on it.")
    await stage(call)
    choice = call.response["choices"][0]
    assert [tc["id"] for tc in choice["message"]["tool_calls"]] == ["call_search"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Working on it."
    entries = call.response["interlock"]["tool_calls"]
    assert [(e["id"], e["outcome"], e["code"]) for e in entries] == [("call_search", "allowed", None),
                                                                    ("call_big", "refused", "tool_denied")]
    assert "tools.refund-limit" in entries[1]["policy_ids"]
    assert entries[1]["approval_id"] is None
    assert entries[1]["resume"] is None


async def test_no_call_left_means_stop_with_an_explanation(stage: CheckTools,
                                                           approvals: Approvals) -> None:
    call = new_call()
    call.response = answer(BIG_REFUND, HELD_REFUND)
    await stage(call)
    choice = call.response["choices"][0]
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    assert call.finish_reason == "stop"
    text = choice["message"]["content"]
    assert "'refund_payment' was refused by policy" in text
    assert "apr_0001" in text
    assert "x-interlock-resume: apr_0001" in text
    held = call.response["interlock"]["tool_calls"][1]
    assert held["outcome"] == "held"
    assert held["code"] == "approval_required"
    assert held["approval_id"] == "apr_0001"
    assert held["approval_state"] == "pending"
    assert held["resume"] == {"header": "x-interlock-resume", "value": "apr_0001",
                              "status": "/v1/approvals/apr_0001", "wait": "/v1/approvals/apr_0001/wait"}
    (request,) = approvals.requests
    assert request["tool"] == "refund_payment"
    assert request["route"] == "payments"
    assert request["arguments"] == {"payment_id": "pay_3", "amount": 500, "currency": "EUR"}
    assert request["tool_call_id"] == "call_held"
    assert request["request_id"] == "req_test"


async def test_approvers_and_the_audit_see_arguments_masked(stage: CheckTools,
                                                            approvals: Approvals) -> None:
    call = new_call()
    call.response = answer(OUTSIDE_MAIL)
    await stage(call)
    (request,) = approvals.requests
    assert request["arguments"]["to"] == [EMAIL]  # sealed: what runs once approved
    view = json.dumps(request["arguments_view"])
    assert EMAIL not in view
    assert "[REDACTED:EMAIL]" in view
    assert request["arguments_view"]["subject"] == "Your refund"
    assert call.payload is not None
    assert EMAIL not in json.dumps(call.payload)
    assert EMAIL not in json.dumps(call.tool_verdicts)
    assert call.tool_verdicts[0]["classes"] == ["pii.email"]


@pytest.mark.parametrize(("name", "arguments", "code"), [
    ("drop_database", {}, "tool_unknown"),
    ("drop_database", "{not json", "tool_unknown"),
    ("refund_payment", "{not json", "tool_arguments_invalid"),
    ("refund_payment", "[1, 2]", "tool_arguments_invalid"),
    ("refund_payment", {"payment_id": "order-1", "amount": 5, "currency": "EUR"}, "tool_arguments_invalid"),
])
async def test_unknown_tools_and_bad_arguments_are_refused(stage: CheckTools, name: str, arguments: Any,
                                                           code: str) -> None:
    call = new_call()
    call.response = answer(tool_call(name, arguments, "call_x"))
    await stage(call)
    (entry,) = call.response["interlock"]["tool_calls"]
    assert (entry["outcome"], entry["code"]) == ("refused", code)
    assert call.response["choices"][0]["finish_reason"] == "stop"


async def test_the_older_function_call_form_is_judged_too(stage: CheckTools) -> None:
    call = new_call()
    call.response = {"choices": [{"index": 0, "finish_reason": "function_call", "message": {
        "role": "assistant", "content": None,
        "function_call": {"name": "refund_payment",
                          "arguments": json.dumps({"payment_id": "pay_9", "amount": 9000, "currency": "EUR"})}}}]}
    await stage(call)
    choice = call.response["choices"][0]
    assert "function_call" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    assert call.response["interlock"]["tool_calls"][0]["code"] == "tool_denied"


async def test_answers_without_tool_calls_are_left_alone(stage: CheckTools) -> None:
    call = new_call()
    call.response = {"choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "hello"}}]}
    await stage(call)
    assert call.response["choices"][0]["message"] == {"role": "assistant", "content": "hello"}
    assert call.tool_verdicts == []
    assert call.decisions == []


async def test_a_resumed_answer_is_not_judged_again(stage: CheckTools, approvals: Approvals) -> None:
    call = new_call()
    call.resumed_approvals.append("apr_0009")
    call.response = answer(HELD_REFUND)
    await stage(call)
    assert call.response["choices"][0]["message"]["tool_calls"] == [HELD_REFUND]
    assert approvals.requests == []
    assert call.tool_verdicts == []


# -- streams ------------------------------------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "mock",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def fragments(index: int, tc: dict[str, Any], size: int = 7) -> list[dict[str, Any]]:
    """A tool call as a model streams it: id and name first, then the arguments in pieces."""
    args = tc["function"]["arguments"]
    first = {"index": index, "id": tc["id"], "type": "function",
             "function": {"name": tc["function"]["name"], "arguments": ""}}
    return [first, *({"index": index, "function": {"arguments": args[i:i + size]}} for i in range(0, len(args), size))]


async def produce(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for c in chunks:
        yield c


async def run_stream(stage: CheckTools, call: Call, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    call.stream_iter = produce(chunks)
    await stage(call)
    assert call.stream_iter is not None
    return [c async for c in call.stream_iter]


def interleaved(*calls: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls' fragments, one chunk each, taking turns."""
    pieces = [fragments(i, tc) for i, tc in enumerate(calls)]
    out = []
    while any(pieces):
        for queue in pieces:
            if queue:
                out.append(chunk({"tool_calls": [queue.pop(0)]}))
    return out


async def test_stream_text_flows_and_judged_calls_go_out_whole(stage: CheckTools) -> None:
    call = new_call(stream=True)
    text = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Let me "}), chunk({"content": "check."})]
    out = await run_stream(stage, call, [*text, *interleaved(SEARCH, HELD_REFUND, SMALL_REFUND),
                                         chunk({}, "tool_calls")])
    # Text chunks come through as they were, before anything about the calls.
    assert out[:3] == text
    assert len(out) == 4
    final = out[3]["choices"][0]
    assert final["finish_reason"] == "tool_calls"
    assert final["delta"]["tool_calls"] == [{"index": 0, **SEARCH}, {"index": 1, **SMALL_REFUND}]
    entries = out[3]["interlock"]["tool_calls"]
    assert [e["outcome"] for e in entries] == ["allowed", "held", "allowed"]
    assert "pay_3" not in json.dumps(out)


async def test_stream_with_no_call_left_ends_with_stop_and_explains(stage: CheckTools) -> None:
    call = new_call(stream=True)
    out = await run_stream(stage, call, [chunk({"role": "assistant", "content": None}),
                                         *interleaved(BIG_REFUND), chunk({}, "tool_calls"),
                                         {"id": "chatcmpl-1", "choices": [], "usage": {"total_tokens": 3}}])
    assert len(out) == 3
    final = out[1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in final["choices"][0]["delta"]
    assert final["choices"][0]["delta"]["content"].startswith("The call to 'refund_payment' was refused")
    assert final["interlock"]["tool_calls"][0]["code"] == "tool_denied"
    assert out[2]["usage"] == {"total_tokens": 3}
    assert call.finish_reason == "stop"


async def test_stream_explanation_follows_streamed_text_after_a_blank_line(stage: CheckTools) -> None:
    call = new_call(stream=True)
    out = await run_stream(stage, call, [chunk({"content": "On it."}), *interleaved(BIG_REFUND),
                                         chunk({}, "tool_calls")])
    assert out[-1]["choices"][0]["delta"]["content"].startswith("\n\nThe call to 'refund_payment'")


async def test_stream_that_ends_without_finish_reason_still_judges(stage: CheckTools) -> None:
    call = new_call(stream=True)
    out = await run_stream(stage, call, [chunk({"role": "assistant"}), *interleaved(SEARCH, BIG_REFUND)])
    assert len(out) == 2
    final = out[1]["choices"][0]
    assert final["finish_reason"] == "tool_calls"
    assert final["delta"]["tool_calls"] == [{"index": 0, **SEARCH}]
    assert [e["outcome"] for e in out[1]["interlock"]["tool_calls"]] == ["allowed", "refused"]


async def test_stream_of_only_allowed_calls_carries_no_interlock_object(stage: CheckTools) -> None:
    call = new_call(stream=True)
    out = await run_stream(stage, call, [*interleaved(SEARCH), chunk({}, "tool_calls")])
    assert len(out) == 1
    assert out[0]["choices"][0]["delta"]["tool_calls"] == [{"index": 0, **SEARCH}]
    assert "interlock" not in out[0]


async def test_stream_legacy_function_call_is_held_back(stage: CheckTools) -> None:
    call = new_call(stream=True)
    args = json.dumps({"payment_id": "pay_9", "amount": 9000, "currency": "EUR"})
    out = await run_stream(stage, call, [
        chunk({"role": "assistant", "function_call": {"name": "refund_payment", "arguments": ""}}),
        chunk({"function_call": {"arguments": args[:10]}}), chunk({"function_call": {"arguments": args[10:]}}),
        chunk({}, "function_call")])
    assert "pay_9" not in json.dumps(out)
    assert out[-1]["choices"][0]["finish_reason"] == "stop"
    assert out[0]["choices"][0]["delta"] == {"role": "assistant"}


@pytest.mark.parametrize("name", ["", "mail jane.doe@example.org", "4111111111111111", "x" * 65])
async def test_a_name_that_is_no_tool_name_is_not_repeated(stage: CheckTools, name: str) -> None:
    call = new_call()
    call.response = answer(tool_call(name, {}, "call_odd"))
    await stage(call)
    (entry,) = call.response["interlock"]["tool_calls"]
    assert (entry["name"], entry["code"]) == ("[not a tool name]", "tool_unknown")
    kept = json.dumps([call.response, call.tool_verdicts, call.payload, [d.as_record() for d in call.decisions]])
    if name:
        assert name not in kept
