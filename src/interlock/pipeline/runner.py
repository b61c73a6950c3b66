"""Runs the stages in order, fails closed, and makes the call's record durable.

Built once at start-up from an ordered tuple of stages; there is no way to add one afterwards. Where a
record goes and who watches the stages are callables the engine passes in (the audit writer's
``record``, the metrics' ``stage_seconds`` and ``observe_call``): the pipeline knows neither.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from interlock.errors import InternalFailure, Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.stage import Stage

log = logging.getLogger("interlock.pipeline")

# The metrics' name for the wait until a call's record is durable (after the stages, not one of them).
RECORD_STAGE = "record"

# Makes a call's record (and its payload, kept apart) durable; the refusal to answer with if it could not.
RecordCall = Callable[[dict[str, Any], dict[str, Any] | None], Awaitable[Refusal | None]]
# Told how long each stage (and the record's wait) took, in seconds.
ObserveStage = Callable[[str, float], None]
# Told about each finished call, before its record is written.
ObserveCall = Callable[[Call], None]
# Runs when each call ends, before it is observed and recorded (prices it); may return work already under
# way (settling its budgets) that the record need not wait for, awaited once the record is durable.
FinishCall = Callable[[Call], Awaitable[None] | None]


class Pipeline:
    def __init__(self, stages: Sequence[Stage], record: RecordCall, observe_stage: ObserveStage,
                 observe_call: ObserveCall, on_finish: FinishCall | None = None) -> None:
        self.stages: tuple[Stage, ...] = tuple(stages)
        self._on_finish = on_finish
        self._record = record
        self._observe_stage = observe_stage
        self._observe_call = observe_call

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    async def run(self, call: Call) -> Refusal | None:
        """Run every stage; the first refusal (or failure, as a refusal) stops the call."""
        for stage in self.stages:
            started = time.perf_counter()
            try:
                await stage(call)
            except Refusal as refusal:
                return self.refuse(call, refusal)
            except Exception:
                log.exception("stage %s failed on %s; refusing the call", stage.name, call.request_id)
                return self.refuse(call, InternalFailure(
                    f"The {stage.name} check failed, so the call was refused (nothing was sent to the model). "
                    f"Quote request id {call.request_id} to your administrator."))
            finally:
                elapsed = time.perf_counter() - started
                call.timings_ms[stage.name] = elapsed * 1000.0
                self._observe_stage(stage.name, elapsed)
        return None

    def refuse(self, call: Call, refusal: Refusal) -> Refusal:
        call.status = refusal.status
        call.refusal_code = refusal.code
        call.refusal_message = refusal.message
        return refusal

    async def finish(self, call: Call) -> Refusal | None:
        """Make the record durable. A call whose record cannot be written is refused.

        The wait is observed as the ``record`` stage (the record cannot hold its own time)."""
        pending: Awaitable[None] | None = None
        if self._on_finish is not None:
            try:
                pending = self._on_finish(call)
            except Exception:
                # The answer has been decided; what went wrong is logged, and the record is still written.
                log.exception("finishing %s failed", call.request_id)
        self._observe_call(call)
        started = time.perf_counter()
        failed = await self._record(call.record(), call.payload)
        self._observe_stage(RECORD_STAGE, time.perf_counter() - started)
        if pending is not None:
            try:
                await pending
            except Exception:
                log.exception("finishing %s failed", call.request_id)
        return failed
