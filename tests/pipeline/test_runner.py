"""The runner: stages in order, the first refusal stops the call, a failing stage refuses it (fail closed),
and ``finish`` makes the call's record durable before it returns.

The stages here are the engine's own, built from the standard test settings; where a test needs a stage
to refuse or break, it puts a small stage of its own in the list, as the ``Stage`` contract allows.
"""

from __future__ import annotations

from interlock.errors import PolicyDenied, Refusal
from interlock.pipeline.call import Call
from interlock.pipeline.runner import Pipeline
from interlock.pipeline.stage import Stage
from interlock.providers.mock import MockLLM
from interlock.settings import Settings
from support.app import Engine
from support.calls import make_call, make_principal
from support.engines import add_key, stage_of
from support.stores import read_records


class Witness:
    """A stage that notes that it ran, then refuses or fails if told to."""

    def __init__(self, name: str, log: list[str], raises: Exception | None = None) -> None:
        self.name = name
        self._log = log
        self._raises = raises

    async def __call__(self, call: Call) -> None:
        self._log.append(self.name)
        if self._raises is not None:
            raise self._raises


def pipeline(engine: Engine, *stages: Stage) -> Pipeline:
    return Pipeline(stages, engine.writer.record, engine.metrics.stage_seconds, engine.metrics.observe_call)


async def test_the_engine_runs_the_stages_in_call_order(engine: Engine) -> None:
    assert engine.pipeline.stage_names == ("authenticate", "parse", "authorize", "protect", "resume", "forward",
                                           "reveal", "tools")


async def test_stages_run_in_order_and_each_is_timed(engine: Engine) -> None:
    ran: list[str] = []
    runner = pipeline(engine, Witness("first", ran), stage_of(engine, "parse"), Witness("last", ran))
    call = make_call(parsed=False)
    assert await runner.run(call) is None
    assert ran == ["first", "last"]
    assert call.model_alias == "mock"  # the parse stage ran between them
    assert list(call.timings_ms) == ["first", "parse", "last"]
    assert all(ms >= 0 for ms in call.timings_ms.values())


async def test_the_first_refusal_stops_the_call(engine: Engine) -> None:
    ran: list[str] = []
    no = PolicyDenied("Not this model.")
    runner = pipeline(engine, Witness("a", ran), Witness("b", ran, no), Witness("c", ran))
    call = make_call()
    refusal = await runner.run(call)
    assert refusal is no
    assert ran == ["a", "b"]
    assert (call.status, call.refusal_code, call.refusal_message) == (403, "policy_denied", "Not this model.")
    assert "c" not in call.timings_ms


async def test_a_stage_that_breaks_refuses_the_call(engine: Engine, mock: MockLLM) -> None:
    ran: list[str] = []
    runner = pipeline(engine, Witness("detector", ran, RuntimeError("boom: jane@example.org")),
                      stage_of(engine, "forward"))
    call = make_call(principal=make_principal())
    refusal = await runner.run(call)
    assert refusal is not None
    assert (refusal.status, refusal.code) == (500, "internal_error")
    assert "The detector check failed" in refusal.message
    assert call.request_id in refusal.message
    # The exception's text never reaches the caller, and nothing went upstream.
    assert "jane@example.org" not in refusal.message
    assert "boom" not in refusal.message
    assert call.refusal_code == "internal_error"
    assert mock.received == []


async def test_finish_makes_the_record_durable(engine: Engine, settings: Settings, mock: MockLLM) -> None:
    key = await add_key(engine.store, "pat")
    call = make_call(key=key, parsed=False)
    assert await engine.pipeline.run(call) is None
    assert call.request_id not in [r["request_id"] for r in read_records(settings.store.url)]
    assert await engine.pipeline.finish(call) is None
    [record] = [r for r in read_records(settings.store.url) if r["request_id"] == call.request_id]
    assert record["principal"] == "pat"
    assert record["outcome"] == "ok"
    assert [d["stage"] for d in record["decisions"]][:1] == ["authorize"]
    assert set(record["timings_ms"]) == set(engine.pipeline.stage_names)


async def test_a_refused_call_is_recorded_as_refused(engine: Engine, settings: Settings) -> None:
    call = make_call(headers={"authorization": "Bearer il_unknown_000000000000000000"}, parsed=False)
    refusal = await engine.pipeline.run(call)
    assert isinstance(refusal, Refusal)
    assert await engine.pipeline.finish(call) is None
    [record] = [r for r in read_records(settings.store.url) if r["request_id"] == call.request_id]
    assert (record["outcome"], record["refusal_code"], record["status"]) == ("refused", "invalid_api_key", 401)
    assert list(record["timings_ms"]) == ["authenticate"]


async def test_a_record_that_cannot_be_written_refuses_the_call(engine: Engine) -> None:
    call = make_call(principal=make_principal())
    await engine.writer.stop()
    failed = await engine.pipeline.finish(call)
    assert failed is not None
    assert failed.status >= 500
