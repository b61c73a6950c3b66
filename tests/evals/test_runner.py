"""``interlock eval run``: a suite of every kind passes on the standard gateway; a planted permission leak and a
planted redaction leak are caught, reported in JUnit and JSON, and fail the run with exit 3."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlock.providers.mock import MockLLM
from interlock.settings import Settings
from support.cli import run_cli
from support.engines import engine_settings
from support.settings import MODELS_POLICY, default_policies

SUITE = Path(__file__).with_name("support_suite.yaml")
REFUND_TOOL = {"name": "refund_payment", "risk": "high", "side_effects": "write",
               "parameters": {"type": "object", "properties": {"payment_id": {"type": "string"},
                                                              "amount": {"type": "integer"}}}}
# A model policy that forgets the restricted model is for analysts.
LEAKY_MODELS = MODELS_POLICY.replace("unless { resource == Model::\"restricted\" }", "")
# A data policy that sends e-mail addresses to external models in the clear.
LEAKY_DATA = default_policies()["data.cedar"] + """
@id("planted.email-in-the-clear")
permit (principal, action == Action::"send_data_unredacted", resource == DataClass::"pii.email");
"""

Deploy = Callable[..., Settings]


@pytest.fixture
def deploy(tmp_path: Path, mock_llm: MockLLM, dead_port: int) -> Deploy:
    def make(**replaced: str) -> Settings:
        def adjust(tree: dict[str, Any]) -> None:
            tree["tools"].append(REFUND_TOOL)

        return engine_settings(tmp_path / "gateway", mock_base_url=mock_llm.base_url, dead_port=dead_port,
                               policies={**default_policies(), **replaced}, adjust=adjust)

    return make


def _run(settings: Settings, *args: str, suite: Path = SUITE) -> tuple[int, str, str]:
    result = run_cli(["eval", "run", str(suite), "-c", settings.source, *args])
    return result.exit_code, result.stdout, result.stderr


def test_every_kind_of_case_passes_on_the_standard_gateway(deploy: Deploy, tmp_path: Path) -> None:
    code, out, err = _run(deploy(), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"))
    assert code == 0, out + err
    assert "support-checks: PASSED: 9/9 passed" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["target"] == "in-process"
    assert (report["passed"], report["leaks"], report["pass_rate"]) == (True, 0, 1.0)
    assert {r["kind"] for r in report["results"]} == {"permission", "redaction", "tool_policy", "refusal",
                                                      "injection", "quality"}
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("9", "0")


def test_a_planted_permission_leak_fails_the_run(deploy: Deploy, tmp_path: Path) -> None:
    code, out, _ = _run(deploy(**{"models.cedar": LEAKY_MODELS}), "--junit", str(tmp_path / "r.xml"))
    assert code == 3
    assert "LEAK  [permission] an outsider does not get the restricted model: refused: expected a refusal" in out
    assert "1 permission or leak failures" in out
    # 8 of 9 pass, above no threshold could save it: a leak is never averaged away.
    assert "8/9 passed" in out
    [failure] = ET.parse(tmp_path / "r.xml").getroot().iter("failure")
    assert failure.get("type") == "permission or leak failure"


def test_a_planted_redaction_leak_fails_the_run(deploy: Deploy, tmp_path: Path) -> None:
    code, out, _ = _run(deploy(**{"data.cedar": LEAKY_DATA}), "--json", str(tmp_path / "r.json"))
    assert code == 3
    assert "LEAK  [redaction]" in out
    report = json.loads((tmp_path / "r.json").read_text())
    [leak] = [r for r in report["results"] if not r["passed"]]
    assert leak["kind"] == "redaction"
    assert leak["leak"] is True
    assert leak["failures"] == [{"check": "upstream_never_sees", "message": "the upstream received jo.…(18 chars)"}]
    # The report names the value by a prefix only: it never carries the sensitive value itself.
    assert "jo.doe@example.com" not in (tmp_path / "r.json").read_text()


def test_a_quality_miss_counts_toward_the_pass_rate(deploy: Deploy, tmp_path: Path) -> None:
    suite = tmp_path / "quality.yaml"
    suite.write_text(json.dumps({
        "name": "q", "min_pass_rate": 0.5, "principals": {"alice": {"id": "alice"}},
        "cases": [{"name": "says hello", "kind": "quality", "as": "alice", "prompt": "hello",
                   "expect": {"exact": "hello"}},
                  {"name": "says goodbye", "kind": "quality", "as": "alice", "prompt": "hello",
                   "expect": {"contains": ["goodbye"]}}]}))
    settings = deploy()
    code, out, _ = _run(settings, suite=suite)
    assert code == 0, out
    assert "FAIL  [quality] says goodbye: contains: the answer lacks 'goodbye'" in out
    suite.write_text(suite.read_text().replace('"min_pass_rate": 0.5', '"min_pass_rate": 0.9'))
    code, out, _ = _run(settings, suite=suite)
    assert code == 1
    assert "0 permission or leak failures" in out


def test_jsonl_suites_and_invalid_suites(deploy: Deploy, tmp_path: Path) -> None:
    settings = deploy()
    suite = tmp_path / "cases.jsonl"
    suite.write_text(json.dumps({"name": "outsider", "kind": "permission", "as": {"id": "mallory"},
                                 "model": "restricted", "prompt": "hi", "expect": {"refused": "policy_denied"}})
                     + "\n")
    code, out, err = _run(settings, suite=suite)
    assert code == 0, out + err
    suite.write_text(json.dumps({"name": "no expectations", "kind": "permission", "as": {"id": "m"},
                                 "prompt": "hi", "expect": {}}) + "\n")
    code, _, err = _run(settings, suite=suite)
    assert code == 2
    assert f"{suite}: at /cases/0/expect: {{}} should be non-empty" in err


def test_a_suite_against_a_running_gateway(gateway_factory: Any, tmp_path: Path) -> None:
    """Over HTTP the runner sees what a client sees; what only the engine can see fails, never passes unseen."""
    gw = gateway_factory("sqlite")
    mallory, ann = gw.create_key("mallory"), gw.create_key("ann", "analyst")
    suite = tmp_path / "over-http.yaml"
    suite.write_text(json.dumps({
        "name": "over-http", "model": "mock",
        "principals": {"mallory": {"id": "mallory", "key_env": "EVAL_MALLORY_KEY"},
                       "ann": {"id": "ann", "key_env": "EVAL_ANN_KEY"}},
        "judge": {"model": "mock", "rubric": "The answer greets.", "as": "ann",
                  "mock": {"reply": '{"score": 1, "reason": "it greets"}'}},
        "cases": [
            {"name": "an outsider does not get the restricted model", "kind": "permission", "as": "mallory",
             "model": "restricted", "prompt": "hi", "expect": {"refused": "policy_denied"}},
            {"name": "an analyst does", "kind": "permission", "as": "ann", "model": "restricted",
             "prompt": "hello there", "expect": {"allowed": True, "contains": ["hello there"], "judge": True}},
            {"name": "the upstream cannot be seen from here", "kind": "redaction", "as": "ann",
             "prompt": "mail jo.doe@example.com", "expect": {"upstream_never_sees": ["jo.doe@example.com"]}}]}))
    env = {"EVAL_MALLORY_KEY": mallory.key, "EVAL_ANN_KEY": ann.key}
    result = run_cli(["eval", "run", str(suite), "--url", gw.url, "-c", str(gw.config), "--json", "-"], env=env)
    report = json.loads(result.stdout)
    assert report["target"] == "gateway"
    outcomes = {r["name"]: r for r in report["results"]}
    assert outcomes["an outsider does not get the restricted model"]["passed"]
    assert outcomes["an analyst does"]["passed"]
    blind = outcomes["the upstream cannot be seen from here"]
    assert not blind["passed"]
    assert blind["failures"][0]["message"] == "this target cannot observe the upstream; run in-process"
    assert result.exit_code == 3
    # Each call is in the gateway's own audit log under the request id the report names, the judge's too.
    records = {r["request_id"]: r for r in gw.records()}
    assert outcomes["an analyst does"]["request_id"] in records
    judge = outcomes["an analyst does"]["generation"]["judge"]
    assert (judge["score"], judge["reason"]) == (1, "it greets")
    assert records[judge["request_id"]]["principal"] == "ann"
