"""Where a suite's calls go: the in-process engine (every control observable, the upstream a recording
mock) or a running gateway by URL (what a client sees: refusals and answers)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import aiohttp

from interlock.engine import Engine
from interlock.evals.checks import Outcome
from interlock.evals.suite import Case, Suite
from interlock.identity.principal import Principal
from interlock.pipeline.runner import Pipeline
from interlock.providers.mock import MockLLM
from interlock.settings import Settings

_TOOL_OUTCOMES = {"allow": "allowed", "deny": "refused", "approve": "held"}


class Target(Protocol):
    name: str

    @property
    def default_model(self) -> str: ...

    async def __aenter__(self) -> Target: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    async def send(self, suite: Suite, body: dict[str, Any], principal: str, app: str | None,
                   use_case: str | None) -> Outcome:
        """One chat call as ``principal`` (``app`` acting for it), as a case's or the judge's call."""
        ...


async def run_case(target: Target, suite: Suite, case: Case, use_case: str | None, default_model: str) -> Outcome:
    return await target.send(suite, request_body(suite, case, default_model), case.principal, case.doc.get("app"),
                             use_case)


def request_body(suite: Suite, case: Case, default_model: str) -> dict[str, Any]:
    doc = case.doc
    if "request" in doc:
        body = dict(doc["request"])
    else:
        messages = [{"role": "system", "content": doc["system"]}] if "system" in doc else []
        messages.append({"role": "user", "content": doc["prompt"]})
        body = {"model": doc.get("model") or suite.model or default_model, "messages": messages}
    if "mock" in doc:
        body["mock"] = doc["mock"]
    if "knowledge" in doc:
        body["interlock"] = {**(body.get("interlock") or {}), "knowledge": doc["knowledge"]}
    body["stream"] = False
    return body


def citations_of(response: dict[str, Any] | None) -> list[dict[str, Any]]:
    extra = (response or {}).get("interlock")
    found = extra.get("citations") if isinstance(extra, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def answer_text(response: dict[str, Any] | None) -> str:
    """The content and any tool-call arguments of the first choice: everything a caller is shown."""
    if not response:
        return ""
    choices = response.get("choices") or [{}]
    message = choices[0].get("message") or {}
    parts = [message.get("content") or ""]
    parts += [str((t.get("function") or {}).get("arguments", "")) for t in message.get("tool_calls") or ()]
    return "\n".join(parts)


class InProcessTarget:
    """The deployment's settings (models, policies, detection, tools, use cases) on an engine of its own:
    a scratch store, and every provider pointed at a recording mock upstream, so a suite can see what
    the upstream received and never spends a real model's tokens."""

    name = "in-process"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._scratch = tempfile.TemporaryDirectory(prefix="interlock-eval-")
        self.mock = MockLLM()
        self.engine: Engine | None = None
        self._pipeline: Pipeline | None = None

    def _eval_settings(self) -> Settings:
        s, scratch = self._settings, Path(self._scratch.name)
        providers = {name: p.model_copy(update={"type": "mock", "base_url": self.mock.base_url, "api_key_env": None,
                                                "api_key_file": None})
                     for name, p in s.providers.items()}
        return s.model_copy(update={
            "store": s.store.model_copy(update={"url": f"sqlite:///{scratch / 'eval.db'}"}),
            "providers": providers,
            "audit": s.audit.model_copy(update={"signing_key_file": scratch / "audit.key"}),
            "redaction": s.redaction.model_copy(update={"vault_key_file": scratch / "vault.key"}),
            "telemetry": s.telemetry.model_copy(update={"metrics": False}),
            "mcp": s.mcp.model_copy(update={"servers": ()}),
        })

    async def __aenter__(self) -> InProcessTarget:
        self.mock.start()
        engine = Engine(self._eval_settings())
        await engine.start()
        self.engine = engine
        # The suite names its callers, so the credential check is the one stage left out.
        stages = [s for s in engine.pipeline.stages if s.name != "authenticate"]
        self._pipeline = Pipeline(stages, engine.writer.record, engine.metrics.stage_seconds,
                                  engine.metrics.observe_call)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if self.engine is not None:
                await self.engine.stop()
        finally:
            self.mock.stop()
            self._scratch.cleanup()

    @property
    def default_model(self) -> str:
        assert self.engine is not None
        return next(iter(self.engine.models), "")

    async def send(self, suite: Suite, body: dict[str, Any], principal: str, app: str | None,
                   use_case: str | None) -> Outcome:
        engine, pipeline = self.engine, self._pipeline
        assert engine is not None
        assert pipeline is not None
        headers = {"content-type": "application/json"}
        if use_case:
            headers[engine.settings.use_cases.header] = use_case
        call = engine.new_call("chat.completions", json.dumps(body).encode(), headers)
        acting: Principal | None = suite.principal(app) if app is not None else None
        call.principal, call.app, call.auth_method = suite.principal(principal), acting, "eval"
        self.mock.clear()
        started = time.perf_counter()
        refusal = await engine.chat(call, pipeline)
        outcome = Outcome(request_id=call.request_id, duration_ms=(time.perf_counter() - started) * 1000)
        if refusal is not None:
            outcome.refusal_code, outcome.refusal_message = refusal.code, refusal.message
        outcome.answer = answer_text(call.response)
        outcome.citations = citations_of(call.response)
        outcome.tool_outcomes = {str(v.get("tool")): _TOOL_OUTCOMES.get(str(v.get("outcome")), str(v.get("outcome")))
                                 for v in call.tool_verdicts}
        outcome.upstream = [json.dumps(r.body, ensure_ascii=False) for r in self.mock.received]
        outcome.flagged = {c for c, _, _ in call.data_findings}
        return outcome


class GatewayTarget:
    """A running gateway: each principal's key comes from the environment variable its ``key_env`` names;
    an acting application sends its own key and names the user in the end-user header."""

    name = "gateway"

    def __init__(self, url: str, settings: Settings) -> None:
        self._url = url.rstrip("/")
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GatewayTarget:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    def _key(self, suite: Suite, name: str) -> str:
        env = suite.principals[name].get("key_env")
        key = os.environ.get(env) if env else None
        if not key:
            raise LookupError(f"principal {name!r} needs key_env naming a set environment variable to call a gateway")
        return key

    @property
    def default_model(self) -> str:
        return self._settings.models[0].alias if self._settings.models else ""

    async def send(self, suite: Suite, body: dict[str, Any], principal: str, app: str | None,
                   use_case: str | None) -> Outcome:
        assert self._session is not None
        headers = {"content-type": "application/json"}
        if app is not None:
            headers["authorization"] = f"Bearer {self._key(suite, app)}"
            headers[self._settings.identity.end_user_header] = suite.principals[principal]["id"]
        else:
            headers["authorization"] = f"Bearer {self._key(suite, principal)}"
        if use_case:
            headers[self._settings.use_cases.header] = use_case
        started = time.perf_counter()
        async with self._session.post(f"{self._url}/v1/chat/completions", headers=headers, json=body) as response:
            doc = await response.json(content_type=None)
            outcome = Outcome(request_id=response.headers.get("x-request-id", ""),
                              duration_ms=(time.perf_counter() - started) * 1000)
            if response.status != 200:
                error = (doc or {}).get("error") or {}
                outcome.refusal_code = str(error.get("code") or response.status)
                outcome.refusal_message = str(error.get("message", ""))
            else:
                outcome.answer = answer_text(doc)
                outcome.citations = citations_of(doc)
        return outcome
