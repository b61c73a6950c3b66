"""Stage: answer with approved tool calls instead of asking the model again.

A tool call held for approval is removed from the model's answer (the ``tools`` stage,
``pipeline/tools.py``). Once a person approves it, the caller sends the same conversation again with the header
``x-interlock-resume: apr_…[,apr_…]``. This stage then spends each approval (once, by whoever asked
for it, through the same application) and answers as the model would have: an assistant message carrying the approved calls, with
their original ``tool_call_id`` and the approved (possibly approver-edited) arguments, and
``finish_reason: "tool_calls"``, streamed or not as the request asks. Nothing is sent upstream.

Every id is checked before any is spent, so a request naming one approval that is still pending does
not use up the others. An id that cannot be used is refused with the approval service's refusal
(``approval_pending`` 409, ``approval_rejected`` 403, ``approval_expired`` 403, ``approval_used`` 409,
``approval_not_found`` 404). The calls are not judged again: a person decided on them, and arguments
an approver edited were checked by policy when the approval was given.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from interlock.approvals import Approval, ApprovalService
from interlock.approvals.service import approval_state_refusal, not_found
from interlock.errors import InvalidRequest
from interlock.pipeline.call import Call

RESUME_HEADER = "x-interlock-resume"
MAX_RESUMED = 16

_APPROVAL_ID = re.compile(r"^apr_[A-Za-z0-9]{1,64}$")
_encode = msgspec.json.Encoder(order="sorted").encode


def resume_ids(header: str) -> list[str]:
    ids = [part.strip() for part in header.split(",") if part.strip()]
    if not ids:
        raise InvalidRequest(f"The {RESUME_HEADER} header names no approval; give one or more ids "
                             f"(apr_…), separated by commas.")
    if len(ids) > MAX_RESUMED:
        raise InvalidRequest(f"The {RESUME_HEADER} header names {len(ids)} approvals; at most {MAX_RESUMED} "
                             f"can be resumed at once.")
    bad = [i for i in ids if not _APPROVAL_ID.match(i)]
    if bad:
        raise InvalidRequest(f"The {RESUME_HEADER} header must list approval ids such as apr_3f2a…; "
                             f"{bad[0][:80]!r} is not one.")
    if len(set(ids)) != len(ids):
        raise InvalidRequest(f"The {RESUME_HEADER} header names the same approval twice.")
    return ids


class ResumeApproved:
    name = "resume"

    def __init__(self, approvals: ApprovalService) -> None:
        self._approvals = approvals

    async def __call__(self, call: Call) -> None:
        header = call.headers.get(RESUME_HEADER)
        if header is None:
            return
        ids = resume_ids(header)
        principal = call.principal
        assert principal is not None
        app = call.app.id if call.app is not None else None
        for approval_id in ids:
            approval = await self._approvals.get(approval_id)
            # Only the caller who asked, through the same application (or none), spends an approval: an
            # application acting for end users must not resume a call someone else asked for by naming them.
            if approval is None or approval.tenant != principal.tenant \
                    or (principal.id, app) != (approval.requester, approval.app):
                raise not_found(approval_id)
            if approval.kind != "tool_call" or approval.tool is None:
                raise InvalidRequest(f"Approval request {approval_id} is not for a tool call, so there is no "
                                     f"call to resume.")
            if approval.state != "approved":
                raise approval_state_refusal(approval)
        calls: list[dict[str, Any]] = []
        for approval_id in ids:
            approval, arguments = await self._approvals.use(approval_id, principal)
            calls.append(_tool_call(approval, arguments))
            call.resumed_approvals.append(approval.id)
            call.tool_verdicts.append({"tool": approval.tool, "outcome": "resumed", "approval_id": approval.id,
                                       "id": calls[-1]["id"], "policy_ids": list(approval.policy_ids)})
            call.decide(self.name, "allow", f"{approval.tool}: approval {approval.id} used",
                        tuple(approval.policy_ids))
        call.finish_reason = "tool_calls"
        entries = [{"id": c["id"], "name": c["function"]["name"], "choice": 0, "outcome": "approved",
                    "approval_id": approval_id, "approval_state": "used"} for c, approval_id in zip(calls, ids,
                                                                                                 strict=True)]
        if call.stream:
            call.stream_iter = _chunks(call, calls, entries)
        else:
            call.response = {
                "id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion", "created": int(time.time()),
                "model": call.model_alias,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": calls},
                             "logprobs": None, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "interlock": {"tool_calls": entries},
            }


def _tool_call(approval: Approval, arguments: dict[str, Any]) -> dict[str, Any]:
    assert approval.tool is not None
    return {"id": approval.tool_call_id or f"call_{secrets.token_hex(12)}", "type": "function",
            "function": {"name": approval.tool, "arguments": _encode(arguments).decode()}}


async def _chunks(call: Call, calls: list[dict[str, Any]],
                  entries: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    head = {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": call.model_alias}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": None})
    yield chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]})
    yield {**chunk({}, "tool_calls"), "interlock": {"tool_calls": entries}}
    if call.client_wants_usage:
        yield {**head, "choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
