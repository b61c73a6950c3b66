"""A deployment with everything the gate asks for: policy tests, an evaluation run, an approver, pilot calls."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.ids import new_request_id
from interlock.settings import Settings
from interlock.store import open_store
from interlock.usage.report import FEEDBACK_ENDPOINT
from interlock.usecases.gate import Deployment, GateResult, eval_record, eval_run_facts, run_gate
from interlock.usecases.lifecycle import append_signed
from interlock.usecases.manifest import load_manifest
from support.calls import make_call
from support.engines import running_engine
from usecases.conftest import SettingsMaker
from usecases.usecases_support import manifest

POLICY_TESTS = """\
cases:
  - name: a support user may use the mock model
    principal: {id: alice, kind: user, tenant: default}
    action: invoke_model
    resource: mock
    expect: allow
"""
SUITE = "cases:\n  - name: placeholder suite the gate looks up by digest\n"
BUDGETS = {"support-monthly": {"limit_usd": 100}}
SOURCES = {"help-center": {"owner": "support", "default_access": {"groups": ["support"]}}}


@dataclass
class Ready:
    settings: Settings
    deployment: Deployment


def prepare(directory: Path, *, suite: bool = True) -> None:
    tests = directory / "policies" / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "models.yaml").write_text(POLICY_TESTS, encoding="utf-8")
    if suite:
        (directory / "usecases" / "evals").mkdir(exist_ok=True)
        (directory / "usecases" / "evals" / "support-evals.yaml").write_text(SUITE, encoding="utf-8")


async def deploy(make: SettingsMaker, *, doc: dict[str, Any] | None = None, calls: int = 3,
                  approver: bool = True, eval_run: bool = True, eval_passed: bool = True,
                  eval_retrieval: dict[str, Any] | None = None, feedback: int = 0) -> Ready:
    settings = make([doc or manifest()])
    directory = Path(settings.source).parent
    prepare(directory)
    async with running_engine(settings) as engine:
        if approver:
            _, record = new_key("ann", Principal(id="ann", kind="user", roles=frozenset({"admin"}), name="ann"))
            await engine.store.create_key(record)
        key, record = new_key("alice", Principal(id="alice", kind="user", name="alice"))
        await engine.store.create_key(record)
        for _ in range(calls):
            call = make_call(key=key, headers={"x-interlock-use-case": "support"}, parsed=False,
                             request_id=f"req_{uuid.uuid4().hex}")
            assert await engine.chat(call) is None
        for _ in range(feedback):  # ratings of the calls: records of the use case that are not calls
            await append_signed(engine.store, settings, {
                "v": 1, "request_id": new_request_id(), "time": round(time.time(), 6), "endpoint": FEEDBACK_ENDPOINT,
                "principal": "alice", "use_case": "support", "status": 200, "outcome": "ok",
                "feedback": {"request_id": "req_rated", "score": 0.0}})
        if eval_run:
            suite = directory / "usecases" / "evals" / "support-evals.yaml"
            if eval_retrieval is not None:  # every case passed; the retrieval averages decide
                facts = eval_run_facts(suite, passed=bool(eval_retrieval["passed"]), pass_rate=1.0, leaks=0, cases=2,
                                       failed=0, retrieval=eval_retrieval)
            else:
                facts = eval_run_facts(suite, passed=eval_passed, pass_rate=1.0 if eval_passed else 0.5,
                                       leaks=0 if eval_passed else 1, cases=2, failed=0 if eval_passed else 1)
            await append_signed(engine.store, settings, eval_record("support", "ci", facts))
        await engine.audit.checkpoint()
    return Ready(settings, Deployment(settings, budgets=BUDGETS, knowledge_sources=SOURCES))


async def gate_of(ready: Ready, deployment: Deployment | None = None) -> GateResult:
    uc = load_manifest(ready.settings.use_cases.dir / "support.yaml")  # type: ignore[operator]
    store = open_store(ready.settings.store)
    await store.open()
    try:
        return await run_gate(store, deployment or ready.deployment, uc)
    finally:
        await store.close()
