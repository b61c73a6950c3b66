"""``interlock usecases`` and ``interlock gate`` as an operator runs them: exit codes, the manifest rewritten,
every transition and gate result in the audit log under a signed checkpoint."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.errors import Refusal
from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.store import RecordQuery
from interlock.usecases import gate as gate_module
from interlock.usecases.gate import Deployment
from support.calls import make_call
from support.cli import run_cli
from support.engines import running_engine
from support.stores import read_records
from usecases.conftest import SettingsMaker
from usecases.gate_support import BUDGETS, SOURCES, deploy
from usecases.usecases_support import manifest, write_manifest


def _events(url: str, event: str) -> list[dict[str, Any]]:
    return [r for r in read_records(url) if r.get("event") == event]


async def test_validate_names_each_problem_and_exits_2(use_case_settings: SettingsMaker) -> None:
    settings = use_case_settings([manifest()])
    config = str(Path(settings.source))
    assert run_cli(["usecases", "validate", "-c", config]).exit_code == 0
    broken = write_manifest(settings.use_cases.dir, manifest(name="broken", owner=None, state="live",  # type: ignore[arg-type]
                                                            applications=[]))
    result = run_cli(["usecases", "validate", "-c", config])
    assert result.exit_code == 2
    assert f"{broken}: at /: 'owner' is a required property" in result.stderr
    assert f"{broken}: at /state: 'live' is not one of draft, pilot, production, retired" in result.stderr
    # The gateway would not start on it: check-config says so before a worker tries.
    checked = run_cli(["check-config", "-c", config])
    assert checked.exit_code == 1
    assert f"use_cases: invalid manifests\n  {broken}: at /: 'owner' is a required property" in checked.stderr


async def test_list_and_show(use_case_settings: SettingsMaker) -> None:
    settings = use_case_settings([manifest(), manifest(name="drafty", state="draft", applications=[])])
    config = str(Path(settings.source))
    listed = run_cli(["usecases", "list", "-c", config])
    assert listed.exit_code == 0
    assert [line.split()[:3] for line in listed.stdout.splitlines()] == [
        ["drafty", "draft", "dana@example.com"], ["support", "pilot", "dana@example.com"]]
    shown = json.loads(run_cli(["usecases", "show", "support", "-c", config]).stdout)
    assert shown["owner"]["email"] == "dana@example.com"
    assert len(shown["digest"]) == 64


async def test_a_transition_is_recorded_and_the_manifest_keeps_its_comments(use_case_settings: SettingsMaker) -> None:
    settings = use_case_settings([manifest(state="draft")])
    path = settings.use_cases.dir / "support.yaml"  # type: ignore[operator]
    path.write_text("# Owned by the support team.\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    async with running_engine(settings):
        pass  # the gateway's first start creates the audit signing key
    config = str(Path(settings.source))
    result = run_cli(["usecases", "promote", "support", "--to", "pilot", "--by", "dana", "-c", config])
    assert result.exit_code == 0, result.stderr
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Owned by the support team.\n")
    doc = yaml.safe_load(text)
    assert doc["state"] == "pilot"
    [record] = _events(settings.store.url, "use_case.transition")
    assert (record["use_case"], record["from"], record["to"], record["principal"]) == ("support", "draft", "pilot",
                                                                                     "dana")
    assert doc["lifecycle"]["transition_record"] == record["request_id"]
    verified = run_cli(["audit", "verify", "-c", config])
    assert verified.exit_code == 0, verified.stderr
    assert "1 signed checkpoints" in verified.stdout

    refused = run_cli(["usecases", "promote", "support", "--to", "pilot", "-c", config])
    assert refused.exit_code == 1
    assert "already pilot" in refused.stderr
    run_cli(["usecases", "promote", "support", "--to", "retired", "-c", config])
    refused = run_cli(["usecases", "promote", "support", "--to", "pilot", "-c", config])
    assert "a retired use case stays retired" in refused.stderr
    assert [r["to"] for r in _events(settings.store.url, "use_case.transition")] == ["pilot", "retired"]


async def test_gate_exit_codes(use_case_settings: SettingsMaker) -> None:
    ready = await deploy(use_case_settings)
    config = str(Path(ready.settings.source))
    # Through the settings as they stand: this deployment has no budgets or knowledge sections yet.
    result = run_cli(["gate", "support", "-c", config])
    assert result.exit_code == 1, result.stderr
    assert "FAIL  budgets set" in result.stdout
    assert "not configured" in result.stdout
    assert "PASS  owner set" in result.stdout
    [record] = _events(ready.settings.store.url, "use_case.gate")
    assert record["passed"] is False
    assert record["failing"] == ["budgets set", "knowledge sources governed"]

    path = ready.settings.use_cases.dir / "support.yaml"  # type: ignore[operator]
    write_manifest(path.parent, manifest(owner=None))
    result = run_cli(["gate", "support", "-c", config])
    assert result.exit_code == 2
    assert "at /: 'owner' is a required property" in result.stderr


async def test_production_needs_a_passing_gate_for_the_manifest_as_it_stands(
        use_case_settings: SettingsMaker, monkeypatch: pytest.MonkeyPatch) -> None:
    ready = await deploy(use_case_settings)
    settings, config = ready.settings, str(Path(ready.settings.source))

    failed = run_cli(["usecases", "promote", "support", "--to", "production", "-c", config])
    assert failed.exit_code == 1
    assert "stays pilot: the gate failed (budgets set, knowledge sources governed)" in failed.stderr
    assert yaml.safe_load((settings.use_cases.dir / "support.yaml").read_text())["state"] == "pilot"  # type: ignore[operator]
    assert _events(settings.store.url, "use_case.transition") == []

    monkeypatch.setattr(gate_module, "deployment_of",
                        lambda s: Deployment(s, budgets=BUDGETS, knowledge_sources=SOURCES))
    passed = run_cli(["gate", "support", "--json", "-c", config])
    assert passed.exit_code == 0, passed.stdout
    assert json.loads(passed.stdout)["passed"] is True
    promoted = run_cli(["usecases", "promote", "support", "--to", "production", "-c", config])
    assert promoted.exit_code == 0, promoted.stderr
    doc = yaml.safe_load((settings.use_cases.dir / "support.yaml").read_text())  # type: ignore[operator]
    assert doc["state"] == "production"
    [transition] = _events(settings.store.url, "use_case.transition")
    assert transition["gate_record"] == doc["lifecycle"]["gate_record"]

    async def ask() -> Refusal | None:
        async with running_engine(settings) as engine:
            key, record = new_key("alice", Principal(id="alice", kind="user", name="alice"))
            await engine.store.create_key(record)
            call = make_call(key=key, headers={"x-interlock-use-case": "support"}, parsed=False,
                             request_id=f"req_{uuid.uuid4().hex}")
            refusal = await engine.chat(call)
            [(_, rec)] = await engine.store.query_records(RecordQuery(request_id=call.request_id))
            assert rec["use_case_state"] == "production"
            return refusal

    assert await ask() is None
    # Any edit to what the manifest says voids the gate it passed: production refuses until it is run again.
    path = settings.use_cases.dir / "support.yaml"  # type: ignore[operator]
    path.write_text(path.read_text().replace("Answer customers'", "Answer anyone's"), encoding="utf-8")
    refusal = await ask()
    assert refusal is not None
    assert refusal.code == "policy_denied"
    assert "default.use_case.production-needs-gate" in refusal.message


REAL_SUITE = """\
name: support-evals
principals:
  alice: {id: alice, kind: user}
  mallory: {id: mallory, kind: user, groups: [sales]}
cases:
  - {name: a user of the use case is served, kind: permission, as: alice, prompt: hello, expect: {allowed: true}}
  - {name: an outsider is not, kind: permission, as: mallory, prompt: hello, expect: {refused: policy_denied}}
"""


async def test_an_evaluation_run_is_what_the_gate_finds(use_case_settings: SettingsMaker,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ready = await deploy(use_case_settings, eval_run=False)
    settings, config = ready.settings, str(Path(ready.settings.source))
    suite = settings.use_cases.dir / "evals" / "support-evals.yaml"  # type: ignore[operator]
    suite.write_text(REAL_SUITE, encoding="utf-8")
    monkeypatch.setattr(gate_module, "deployment_of",
                        lambda s: Deployment(s, budgets=BUDGETS, knowledge_sources=SOURCES))
    before = run_cli(["gate", "support", "--json", "-c", config])
    assert json.loads(before.stdout)["failing"] == ["evaluations pass"]

    ran = run_cli(["eval", "run", str(suite), "--use-case", "support", "--by", "ci", "-c", config])
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    [record] = _events(settings.store.url, "eval.run")
    assert (record["use_case"], record["passed"], record["cases"], record["principal"]) == ("support", True, 2, "ci")
    # The suite's calls ran on a scratch store: they do not count as pilot traffic.
    assert [r for r in read_records(settings.store.url) if r.get("auth") == "eval"] == []

    after = run_cli(["gate", "support", "--json", "-c", config])
    assert after.exit_code == 0, after.stdout
    item = next(i for i in json.loads(after.stdout)["items"] if i["item"] == "evaluations pass")
    assert record["request_id"] in item["evidence"]


async def test_policy_explain_as_a_call_of_a_use_case(use_case_settings: SettingsMaker) -> None:
    """``interlock policy explain --use-case``: the use case's state and the caller's place in it decide, as in
    a real call; the prompt named is checked against the approved versions in the store."""
    settings = use_case_settings([manifest(), manifest(name="drafty", state="draft", applications=[]),
                                  manifest(name="live", state="production", applications=[]),
                                  manifest(name="prompted", applications=[], prompts=[
                                      {"name": "agent", "version": 1, "text": "Be brief."}])])
    config = str(Path(settings.source))
    body = Path(config).parent / "chat.json"
    body.write_text(json.dumps({"model": "mock", "messages": [{"role": "user", "content": "hi"}]}))

    def explain(who: str, *args: str) -> dict[str, Any]:
        result = run_cli(["policy", "explain", "-c", config, "--principal", who, *args, str(body)])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    served = explain("alice", "--use-case", "support")
    assert served["outcome"] == "would be sent"
    assert served["use_case"] == {"name": "support", "state": "pilot", "gate_passed": False, "tester": False}
    # A draft serves only its testers.
    outsider = explain("alice", "--use-case", "drafty")
    assert (outsider["outcome"], outsider["stage"]) == ("refused", "authorize")
    assert any("default.use_case.draft-testers-only" in d.get("policy_ids", ()) for d in outsider["decisions"])
    assert explain("tess", "--use-case", "drafty")["outcome"] == "would be sent"
    # Production without a passing gate in the audit log serves no one.
    live = explain("alice", "--use-case", "live")
    assert live["outcome"] == "refused"
    assert live["use_case"]["gate_passed"] is False
    # Someone who is no user of it, and a use case that does not exist.
    stranger = explain("mallory", "--use-case", "support")
    assert (stranger["code"], stranger["stage"]) == ("policy_denied", "use_case")
    unknown = explain("alice", "--use-case", "nope")
    assert (unknown["code"], unknown["stage"]) == ("invalid_request", "use_case")
    # Without --use-case, the call belongs to none here (use cases are required).
    assert explain("alice")["stage"] == "use_case"
    # The prompt named has no approved version yet.
    prompted = explain("alice", "--use-case", "prompted", "--prompt", "agent")
    assert (prompted["outcome"], prompted["stage"]) == ("refused", "prompt")
    assert "has no approved version" in prompted["message"]
