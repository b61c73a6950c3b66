"""The model-graded judge: a call of its own through the gateway (governed: its prompt is redacted like any
other, and a judge model the policy refuses is refused), its score held to the suite's minimum, and a judge
that cannot judge reported as such, never counted as a pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interlock.evals.runner import parse_verdict, run_suite
from interlock.evals.suite import SuiteError, load_suite
from interlock.evals.targets import InProcessTarget
from interlock.providers.mock import MockLLM
from interlock.settings import Settings
from support.cli import run_cli
from support.engines import engine_settings

RUBRIC = "The answer is polite and names the order."
VERDICT = json.dumps({"score": 0.8, "reason": "polite, names order 7"})


@pytest.fixture
def settings(tmp_path: Path, mock_llm: MockLLM, dead_port: int) -> Settings:
    return engine_settings(tmp_path / "gateway", mock_base_url=mock_llm.base_url, dead_port=dead_port)


def _suite(tmp_path: Path, judge: dict[str, Any], cases: list[dict[str, Any]]) -> Path:
    path = tmp_path / "judged.yaml"
    path.write_text(json.dumps({"name": "judged", "model": "mock",
                                "principals": {"alice": {"id": "alice", "groups": ["support"]},
                                               "mallory": {"id": "mallory"}},
                                "judge": judge, "cases": cases}))
    return path


ANSWERED = {"name": "order answer", "kind": "quality", "as": "alice", "prompt": "Where is order 7?",
            "mock": {"reply": "Order 7 ships today; mail jo.doe@example.com with questions."},
            "expect": {"judge": True}}


async def test_the_judge_grades_through_the_gateway(settings: Settings, tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, {"model": "mock", "rubric": RUBRIC, "mock": {"reply": VERDICT}},
                              [ANSWERED, {**ANSWERED, "name": "a stricter bar", "expect": {"judge": {"min_score": 0.9}}}]))
    async with InProcessTarget(settings) as target:
        result = await run_suite(suite, target)
        # The judge's call went to the upstream like any call: the rubric and the answer in its prompt, the
        # e-mail address in the answer redacted on the way (the caller saw it restored).
        judged = target.mock.last.body
    assert judged["model"] == "mock"
    prompt = json.dumps(judged["messages"])
    assert RUBRIC in prompt
    assert "Order 7 ships today" in prompt
    assert "jo.doe@example.com" not in prompt
    first, stricter = result.results
    assert "jo.doe@example.com" in first.outcome.answer
    assert first.passed
    assert first.judge is not None
    assert first.judge.score == 0.8
    assert first.judge.reason == "polite, names order 7"
    assert first.judge.request_id
    assert first.judge.request_id != first.outcome.request_id
    assert not stricter.passed
    assert stricter.failures == [("judge", "score 0.80 is below 0.9: polite, names order 7")]
    assert not stricter.leak
    assert (result.judge_score.value, result.judge_score.cases) == (0.8, 2)
    assert result.generation_pass_rate.value == 0.5


@pytest.mark.parametrize(("judge", "why"), [
    # The mock echoes the prompt: no verdict in it.
    ({"model": "mock", "rubric": RUBRIC}, "the judge's reply holds no JSON object"),
    ({"model": "mock", "rubric": RUBRIC, "mock": {"reply": '{"score": 7}'}}, "no score between 0 and 1"),
    ({"model": "mock", "rubric": RUBRIC, "mock": {"status": 503}}, "the judge's call was refused (upstream_"),
    # The policy keeps the restricted model from this caller: the judge is governed like any call.
    ({"model": "restricted", "rubric": RUBRIC, "as": "mallory", "mock": {"reply": VERDICT}},
     "the judge's call was refused (policy_denied"),
])
def test_a_judge_that_cannot_judge_is_a_failure_never_a_pass(settings: Settings, tmp_path: Path,
                                                             judge: dict[str, Any], why: str) -> None:
    suite = _suite(tmp_path, judge, [ANSWERED])
    result = run_cli(["eval", "run", str(suite), "-c", settings.source, "--json", str(tmp_path / "r.json"),
                      "--junit", str(tmp_path / "r.xml")])
    assert result.exit_code == 1, result.stdout + result.stderr
    [case] = json.loads((tmp_path / "r.json").read_text())["results"]
    assert not case["passed"]
    [failure] = case["failures"]
    assert failure["check"] == "judge_error"
    assert why in failure["message"]
    assert case["generation"]["judge"]["score"] is None
    assert why in case["generation"]["judge"]["error"]
    assert "judge_error: " in (tmp_path / "r.xml").read_text()


def test_verdicts_and_suite_errors(tmp_path: Path) -> None:
    assert parse_verdict('Here it is: {"score": 1, "reason": "fine"}') == (1.0, "fine")
    assert parse_verdict('{"pass": false}') == (0.0, "")
    with pytest.raises(ValueError, match="not JSON"):
        parse_verdict("{score: high}")
    with pytest.raises(ValueError, match="no score"):
        parse_verdict('{"score": true}')
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({"principals": {"a": {"id": "a"}}, "cases": [
        {"name": "n", "kind": "quality", "as": "a", "prompt": "p", "expect": {"judge": True}}]}))
    with pytest.raises(SuiteError) as raised:
        load_suite(path)
    assert raised.value.problems == [f"{path}: at /cases/0/expect/judge: the suite configures no judge (judge: model, rubric)"]
    path.write_text(json.dumps({"principals": {"a": {"id": "a"}}, "judge": {"model": "m", "rubric": "r", "as": "b"},
                                "cases": [{"name": "n", "kind": "quality", "as": "a", "prompt": "p",
                                           "expect": {"judge": True}}]}))
    with pytest.raises(SuiteError) as raised:
        load_suite(path)
    assert raised.value.problems == [f"{path}: at /judge/as: principal 'b' is not under principals"]
