"""What every conversation endpoint does around the engine, whatever its wire format: run a call so a
failure outside the stages is answered like any refusal, and drain a stream so its record is durable
before the final event."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from interlock.errors import InternalFailure, Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.runner import Pipeline

log = logging.getLogger("interlock.api")


async def guarded(run: Awaitable[Refusal | None], request_id: str) -> Refusal | None:
    """The refusal of a call, or ``None``. The pipeline refuses its own failures; one outside it is
    answered the same way, never with the server's bare 500."""
    try:
        return await run
    except Exception:
        log.exception("call %s failed outside its stages", request_id)
        return InternalFailure(f"The call could not be handled. Quote request id {request_id} to your "
                               f"administrator.")


async def drain(pipeline: Pipeline, call: Call, emit: Callable[[dict[str, Any]], Awaitable[None]]) -> Refusal | None:
    """Send every chunk of ``call``'s stream through ``emit``, then make its record durable. Returns the
    refusal to send as the final event (``None``: the stream completed). A refusal raised mid-stream keeps
    its error type (a blocked answer is a permission error)."""
    assert call.stream_iter is not None
    raised: Refusal | None = None
    try:
        async for chunk in call.stream_iter:
            if not call.first_token_ms:
                call.first_token_ms = call.elapsed_ms()
            await emit(chunk)
    except Refusal as refusal:
        raised = refusal
        pipeline.refuse(call, refusal)
    except Exception:
        log.exception("stream of %s failed", call.request_id)
        pipeline.refuse(call, InternalFailure(
            f"The stream failed mid-way. Quote request id {call.request_id} to your administrator."))
    failed = await pipeline.finish(call)
    if failed is not None and not call.refusal_code:
        pipeline.refuse(call, failed)
    if not call.refusal_code:
        return None
    if raised is not None and raised.code == call.refusal_code:
        return raised
    return Refusal(call.refusal_message, code=call.refusal_code, status=call.status)
