"""``POST /v1/feedback``: a score, a label and a comment on an earlier call, from its caller or end user.

The feedback is an audit record of its own (endpoint ``feedback``), naming the call it is about, so
``interlock usage`` can join it to that call's model, use case and cost. The comment is free text a person
wrote: it is scanned like any prompt, every value found is replaced by its class label (``[EMAIL]``), and
it is kept in the record's payload (erasable, kept for ``audit.payload_retention_days``), never in the record.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.api.asgi import convert, json_response, read_json
from interlock.api.auth import identify
from interlock.api.errors import request_id_of
from interlock.engine import Engine
from interlock.errors import InvalidRequest, NotFound
from interlock.pipeline.call import Call
from interlock.redact.labels import label_for
from interlock.store.base import RecordQuery

FEEDBACK_PATH = "/v1/feedback"
FEEDBACK_ENDPOINT = "feedback"


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    request_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    # A number on the caller's scale (1 and -1 for thumbs up and down, 0-1, 1-5, ...).
    score: float | None = None
    # A short category: "helpful", "wrong_answer", "unsafe", ...
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None
    comment: Annotated[str, msgspec.Meta(max_length=4000)] | None = None


class FeedbackApi:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._limit = min(engine.settings.limits.max_body_bytes, 64 * 1024)
        self._depth = engine.settings.limits.max_json_depth

    def routes(self) -> list[Route]:
        return [Route(FEEDBACK_PATH, self.feedback, methods=["POST"])]

    async def feedback(self, request: Request) -> Response:
        engine = self._engine
        request_id = request_id_of(request)
        ident = await identify(engine.authenticator, request)
        body = convert(await read_json(request, self._limit, self._depth), FeedbackRequest, "feedback")
        if body.score is None and body.label is None and not body.comment:
            raise InvalidRequest("Send a score, a label or a comment with the request_id.")
        if body.score is not None and not math.isfinite(body.score):
            raise InvalidRequest("score must be a finite number.", param="score")
        found = await engine.store.query_records(RecordQuery(request_id=body.request_id, limit=1))
        target = found[0][1] if found else None
        if target is None or target.get("endpoint") == FEEDBACK_ENDPOINT or \
                target.get("tenant") != ident.principal.tenant:
            # Another tenant's call is not found either: its existence is not the caller's to learn.
            raise NotFound(f"No call with request id {body.request_id!r} is known here.", param="request_id")
        call = Call(request_id=request_id, endpoint=FEEDBACK_ENDPOINT, raw_body=b"", headers={})
        call.principal, call.app, call.auth_method, call.key_id = (ident.principal, ident.app, ident.method,
                                                                   ident.key_id)
        call.model_alias = str(target.get("model") or "")
        call.use_case_label = str(target.get("use_case") or "")
        record = call.record()
        facts: dict[str, object] = {"request_id": body.request_id}
        if body.score is not None:
            facts["score"] = body.score
        if body.label is not None:
            facts["label"] = body.label
        payload = None
        if body.comment:
            findings = engine.guard.scan(body.comment)
            text = body.comment
            for f in sorted(findings, key=lambda f: f.start, reverse=True):
                text = text[:f.start] + f"[{label_for(f.data_class)}]" + text[f.end:]
            facts["comment_chars"] = len(body.comment)
            if findings:
                facts["comment_data"] = sorted({f.data_class for f in findings})
            payload = {"feedback_comment": text}
        record["feedback"] = facts
        failed = await engine.writer.record(record, payload)
        if failed is not None:
            raise failed
        if engine.tracing is not None:
            engine.tracing.observe_feedback(body.request_id, call.model_alias, body.score, body.label)
        return json_response(200, {"object": "feedback", "id": request_id, "request_id": body.request_id,
                                   "recorded": True}, request_id)
