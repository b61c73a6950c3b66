"""The engine: every component built once from settings, shared by the HTTP app, the CLI and tests.

``Engine`` owns the store, the audit writer, the upstream sessions and the pipeline. The HTTP
layer is a thin shell over ``Engine.chat``; so is ``interlock`` on the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.approvals import ApprovalService
from interlock.approvals.webhook import Webhook
from interlock.audit.log import AuditLog
from interlock.audit.writer import AuditWriter
from interlock.detect import DetectionConfig, Detector
from interlock.detect.config import CustomPattern
from interlock.errors import Refusal
from interlock.identity.authenticator import Authenticator
from interlock.identity.jwt import JwtVerifier
from interlock.identity.principal import Principal
from interlock.ids import new_request_id
from interlock.knowledge import Knowledge
from interlock.pipeline.authenticate import Authenticate
from interlock.pipeline.authorize import AuthorizeModel
from interlock.pipeline.call import Call
from interlock.pipeline.embeddings.forward import ForwardEmbeddings
from interlock.pipeline.embeddings.parse import ParseEmbeddingsRequest
from interlock.pipeline.embeddings.protect import ProtectEmbeddingInput
from interlock.pipeline.forward import Forward, build_routes
from interlock.pipeline.knowledge import AugmentWithKnowledge, Cite
from interlock.pipeline.meter import AdmitUsage, Meter, MeterStream
from interlock.pipeline.parse import ParseChatRequest
from interlock.pipeline.parse_messages import ParseMessagesRequest
from interlock.pipeline.protect import ProtectInput
from interlock.pipeline.resume import ResumeApproved
from interlock.pipeline.reveal import RevealOutput
from interlock.pipeline.runner import Pipeline
from interlock.pipeline.schema import CHAT_FIELDS
from interlock.pipeline.stage import Stage
from interlock.pipeline.tools import CheckTools
from interlock.pipeline.usecase import PROMPT_HEADER, ApplyPrompt, BindUseCase
from interlock.policy.decision import UseCaseFacts
from interlock.policy.setup import default_policy_dir, load_policies
from interlock.policy.watch import PolicyWatcher
from interlock.providers.anthropic import AnthropicUpstream
from interlock.providers.openai_compat import OpenAIUpstream
from interlock.redact.guard import DataGuard, vault_cipher
from interlock.settings import ConfigError, DetectionSettings, ModelSettings, Settings, StoreSettings, sqlite_path
from interlock.store import Store, open_store
from interlock.telemetry.metrics import Metrics, metrics_dir
from interlock.tools import ToolGate, ToolRegistry
from interlock.usage.counters import CounterStore
from interlock.usage.limits import UsageLimits, open_counters
from interlock.usage.prices import Prices, resolve_prices
from interlock.usecases.catalog import UseCaseCatalog
from interlock.usecases.manifest import ManifestError, load_directory, references_problems

if TYPE_CHECKING:  # annotations only: the modules are loaded when they are used (see Engine.__init__)
    from opentelemetry.sdk.trace import SpanProcessor

    from interlock.telemetry.tracing import Tracing
    from interlock.tools.mcp.gateway import McpGateway


class Engine:
    def __init__(self, settings: Settings, *, store: Store | None = None,
                 span_processor: SpanProcessor | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(settings.store)
        # With several workers, each publishes its values to INTERLOCK_METRICS_DIR for the others' /metrics.
        self.metrics = Metrics(settings.telemetry.metrics, directory=metrics_dir())
        # Traces only when an OTLP endpoint is set (or a test hands in its processor): OpenTelemetry is not
        # even imported otherwise.
        self.tracing: Tracing | None = None
        telemetry = settings.telemetry
        if telemetry.otlp_endpoint is not None or span_processor is not None:
            from interlock.telemetry.tracing import Tracing

            types = {name: p.type for name, p in settings.providers.items()}
            self.tracing = (Tracing(span_processor, types, telemetry.service_name) if span_processor is not None
                            else Tracing.over_otlp(str(telemetry.otlp_endpoint), telemetry.otlp_headers, types,
                                                   telemetry.service_name))
        self.writer = AuditWriter(self.store, window_ms=settings.store.commit_window_ms,
                                  batch_max=settings.store.commit_batch_max,
                                  timeout_seconds=settings.store.commit_timeout_seconds,
                                  payload_retention_seconds=settings.audit.payload_retention_days * 86400,
                                  commit_on_loop=settings.store.commit_on_loop,
                                  on_commit=self.metrics.audit_commit)
        self.audit = AuditLog(self.store, settings.audit)
        self.jwt = JwtVerifier(settings.identity.jwt) if settings.identity.jwt is not None else None
        self.models: dict[str, ModelSettings] = {m.alias: m for m in settings.models}
        self.upstreams = {name: (AnthropicUpstream if p.type == "anthropic" else OpenAIUpstream)(name, p)
                          for name, p in settings.providers.items()}
        policy = load_policies(settings)
        assert policy is not None
        self.policy = policy
        self.authenticator = Authenticator(self.store.key_by_prefix, settings.identity, self.jwt,
                                           lambda: self.policy.engine.config.tenants or settings.policy.tenants,
                                           self.store.holds_key)
        self.shadow_policy = load_policies(settings, shadow=True)
        p = settings.policy
        self.policy_watchers = [PolicyWatcher(self.policy, p.dir or default_policy_dir(), p.reload_interval_seconds)]
        if self.shadow_policy is not None and p.shadow_dir is not None:
            self.policy_watchers.append(PolicyWatcher(self.shadow_policy, p.shadow_dir, p.reload_interval_seconds,
                                                      "shadow policy"))
        self.detector = build_detector(settings.detection)
        self.guard = DataGuard(self.detector, self.policy, self.store, settings.redaction, key_dir(settings),
                               offload_chars=settings.detection.offload_chars,
                               scan_threads=settings.detection.scan_threads,
                               scan_processes=settings.detection.scan_processes)
        self.tools = ToolRegistry(settings.tools)
        self.tool_gate = ToolGate(self.tools, self.policy, self.guard.scan)
        hook = settings.approvals.webhook
        self.approvals = ApprovalService(self.store, settings.approvals, self.writer,
                                         lambda: vault_cipher(settings.redaction, key_dir(settings)),
                                         Webhook(hook) if hook is not None else None,
                                         recheck=self._recheck_tool_call)
        # The MCP gateway at /mcp, when upstream MCP servers are declared. The MCP SDK is loaded only then:
        # importing it adds about 0.4 s to every start-up (each worker, each command) that has no use for it.
        self.use_cases = load_use_cases(settings)
        self.mcp: McpGateway | None = None
        if settings.mcp.servers:
            from interlock.tools.mcp.gateway import McpGateway

            self.mcp = McpGateway(settings.mcp, registry=self.tools, store=self.store, writer=self.writer,
                                  scan=self.guard.scan, policy=self.policy, authenticator=self.authenticator,
                                  tool_gate=self.tool_gate, approvals=self.approvals,
                                  count_refusal=self.metrics.count_refusal,
                                  max_body_bytes=settings.limits.max_body_bytes,
                                  bind_use_case=self._bind_use_case if self.use_cases is not None else None)
        authenticate = Authenticate(self.authenticator)
        # Without use cases configured the stage is not in the pipeline at all: such calls pay nothing.
        bind: tuple[BindUseCase, ...] = (BindUseCase(self.use_cases),) if self.use_cases is not None else ()
        prompt: tuple[ApplyPrompt, ...] = (ApplyPrompt(self.use_cases, self.store,
                                                        settings.use_cases.prompt_refresh_seconds),) \
            if self.use_cases is not None and self.use_cases.has_prompts else ()
        authorize = AuthorizeModel(self.models, self.policy, self.shadow_policy)
        routes = build_routes(self.models, self.upstreams)
        passed = pass_through_fields(settings)
        # Governed retrieval, when sources are declared; without them the chat stages are what they were.
        self.knowledge: Knowledge | None = None
        if settings.knowledge.sources:
            self.knowledge = Knowledge(settings.knowledge, self.policy, base_dir=key_dir(settings))
            self.metrics.add_gauge("interlock_knowledge_source_stale", "1 when a knowledge source's last ingest is "
                                   "older than its max_age_hours (or it was never ingested)", ("source",),
                                   self._stale_sources)
        parse = ParseChatRequest(settings.limits.max_json_depth, settings.limits.max_messages, passed,
                                 knowledge=self.knowledge is not None)
        augment = () if self.knowledge is None else (
            AugmentWithKnowledge(self.knowledge, self.guard, dict(settings.knowledge.models)),)
        cite = () if self.knowledge is None else (Cite(),)
        # Every call is priced when it ends; budgets and rate limits add their stages only when declared.
        self.prices: Prices = resolve_prices(settings.models, settings.providers)
        self.counters: CounterStore | None = None
        self.limits: UsageLimits | None = None
        admit: tuple[AdmitUsage, ...] = ()
        meter: tuple[MeterStream, ...] = ()
        if settings.usage.enabled:
            unpriced = [m.alias for m in settings.models if self.prices.of(m.alias) is None]
            if unpriced and any(b.usd is not None for b in settings.usage.budgets):
                raise ConfigError(f"models: {', '.join(unpriced)} not in the price table "
                                  f"({self.prices.version}); a money budget needs every model priced: set "
                                  f"models[].price (USD per million tokens)")
            self.counters = open_counters(settings.usage)
            self.limits = UsageLimits(settings.usage, self.counters)
            admit = (AdmitUsage(self.limits, self.prices, settings.usage),)
            meter = (MeterStream(self.limits, settings.usage),)
        finish = Meter(self.prices, self.limits).finish
        observe_call: Callable[[Call], None] = self.metrics.observe_call
        if self.tracing is not None:
            tracing, counted = self.tracing, self.metrics.observe_call

            def observe_traced(call: Call) -> None:
                counted(call)
                tracing.observe_call(call)

            observe_call = observe_traced

        after_parse: tuple[Stage, ...] = (
            *prompt,
            *admit,
            authorize,
            *augment,
            ProtectInput(self.guard),
            ResumeApproved(self.approvals),
            Forward(routes),
            *meter,
            RevealOutput(self.guard, settings.detection.scan_output),
            CheckTools(self.tool_gate, self.approvals, self.guard.scan),
            *cite,
        )
        self.pipeline = Pipeline((authenticate, *bind, parse, *after_parse), self.writer.record,
                                 self.metrics.stage_seconds, observe_call, finish)
        # The Anthropic Messages API: the same stages, with a parse stage that translates the request into
        # the chat form (the answer is translated back at the edge, api/messages.py).
        self.messages_pipeline = Pipeline(
            (authenticate, *bind, ParseMessagesRequest(parse, settings.limits.max_json_depth), *after_parse),
            self.writer.record, self.metrics.stage_seconds, observe_call, finish)
        # POST /v1/embeddings: the same caller, model and record checks; its own parse, protect and forward.
        self.embeddings = Pipeline(
            (authenticate, *bind, ParseEmbeddingsRequest(settings.limits.max_json_depth, passed), *admit,
             authorize,
             ProtectEmbeddingInput(self.guard), ForwardEmbeddings(routes)),
            self.writer.record,
            self.metrics.stage_seconds,
            observe_call,
            finish,
        )
        self.started = False

    async def start(self) -> None:
        try:
            await self.store.open()
        except Exception as exc:
            # Say which dependency is missing: a bare "Connection refused" names nothing.
            raise ConfigError(f"cannot open the {self.store.dialect} store (store.url): "
                              f"{type(exc).__name__}: {exc}") from exc
        if self.jwt is not None:
            await self.jwt.refresh()
        for up in self.upstreams.values():
            await up.start()
        if self.knowledge is not None:
            try:
                await asyncio.to_thread(self.knowledge.embedder.warm)
            except Exception as exc:
                raise ConfigError(f"knowledge: {exc}") from exc
        if self.counters is not None:
            try:
                await self.counters.open()
            except Exception as exc:
                raise ConfigError(f"cannot open the usage counters (usage.counters_url): "
                                  f"{type(exc).__name__}: {exc}") from exc
        await self.writer.start()
        await self.audit.start()
        if self.use_cases is not None:
            await self.use_cases.load_gates(self.store)
            await self.use_cases.load_prompts(self.store)
        for watcher in self.policy_watchers:
            await watcher.start()
        await self.approvals.start()
        if self.mcp is not None:
            await self.mcp.start()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # SIGHUP reloads the policies in this worker (a supervisor may deliver it to every worker).
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload_policies)
        if self.guard.scanner is not None and self.settings.detection.scan_processes_at_start:
            await self.guard.scanner.start()
        await self.metrics.start()
        self.started = True

    def reload_policies(self) -> None:
        for watcher in self.policy_watchers:
            watcher.reload()

    async def stop(self) -> None:
        """Flush records still queued, then close sessions and the store."""
        if not self.started:
            return
        self.started = False
        try:
            for watcher in self.policy_watchers:
                await watcher.stop()
            if self.mcp is not None:
                await self.mcp.stop()
            await self.approvals.stop()
            if self.use_cases is not None:
                await self.use_cases.stop()
            await self.writer.stop()
            await self.audit.stop()
            for up in self.upstreams.values():
                await up.close()
            if self.counters is not None:
                await self.counters.close()
            self.guard.close()
            if self.knowledge is not None:
                self.knowledge.close()
            await self.store.close()
        finally:
            if self.tracing is not None:
                # Spans still batched are sent (in a thread: the exporter blocks on its HTTP call).
                await asyncio.to_thread(self.tracing.shutdown)
            # Last: calls finishing during shutdown are counted in this worker's final snapshot.
            await self.metrics.stop()

    def _stale_sources(self) -> list[tuple[tuple[str, ...], float]]:
        knowledge = self.knowledge
        if knowledge is None:
            return []
        return [((s.name,), 1.0 if knowledge.status(s.name)["stale"] else 0.0) for s in knowledge.settings.sources]

    def _bind_use_case(self, principal: Principal, app: Principal | None,
                       headers: dict[str, str]) -> UseCaseFacts | None:
        """The use case an MCP tool call belongs to, bound as a chat call's is."""
        assert self.use_cases is not None
        bound = self.use_cases.bind(principal, app, headers)
        return bound.facts if bound is not None else None

    def _recheck_tool_call(self, principal: Principal, app: Principal | None, tool: str,
                           arguments: dict[str, Any]) -> str:
        """An approver's edited arguments must pass the gate as the original call did (run or approve)."""
        verdict = self.tool_gate.check(principal, app, tool, arguments)
        return verdict.message if verdict.outcome == "deny" else ""

    def new_call(self, endpoint: str, raw_body: bytes, headers: dict[str, str]) -> Call:
        return Call(request_id=new_request_id(), endpoint=endpoint, raw_body=raw_body, headers=headers)

    async def chat(self, call: Call, pipeline: Pipeline | None = None) -> Refusal | None:
        """Run the chat pipeline (or ``pipeline``, another format's over the same stages). Non-streaming
        calls are durable on return; streaming ones are made durable by whoever drains
        ``call.stream_iter`` (``finish`` after the last chunk)."""
        pipeline = pipeline or self.pipeline
        refusal = await pipeline.run(call)
        if refusal is not None or not call.stream:
            failed = await pipeline.finish(call)
            if refusal is None and failed is not None:
                refusal = pipeline.refuse(call, failed)
        return refusal

    async def embed(self, call: Call) -> Refusal | None:
        """Run the embeddings pipeline; the call is durable on return."""
        refusal = await self.embeddings.run(call)
        failed = await self.embeddings.finish(call)
        if refusal is None and failed is not None:
            refusal = self.embeddings.refuse(call, failed)
        return refusal

    async def explain(self, raw_body: bytes, principal: Principal, app: Principal | None, *,
                      use_case: str | None = None, prompt: str | None = None) -> dict[str, Any]:
        """What would happen to this request for this caller, without calling the model or recording it:
        as a call of ``use_case`` (as if named in the use-case header) naming ``prompt`` when given."""
        headers: dict[str, str] = {}
        if use_case is not None:
            headers[self.settings.use_cases.header] = use_case
        if prompt is not None:
            headers[PROMPT_HEADER] = prompt
        call = self.new_call("chat.completions", raw_body, headers)
        call.principal, call.app, call.auth_method = principal, app, "explain"
        outcome: dict[str, Any] = {"request_id": call.request_id, "principal": principal.id,
                                   "app": app.id if app else None}
        for stage in self.pipeline.stages:
            if stage.name in ("authenticate", "forward", "reveal"):
                continue
            try:
                await stage(call)
            except Refusal as refusal:
                outcome.update(outcome="refused", status=refusal.status, code=refusal.code, message=refusal.message,
                               stage=stage.name)
                break
        else:
            outcome["outcome"] = "would be sent"
            outcome["upstream_request"] = {"model": call.model_alias, "messages": call.body.get("messages")}
        outcome["policy_version"] = call.policy_version or self.policy.version
        if call.use_case is not None:
            outcome["use_case"] = call.use_case.as_context()
        if call.prompt_version is not None:
            outcome["prompt"] = {"name": call.prompt_version[0], "version": call.prompt_version[1]}
        outcome["decisions"] = [d.as_record() for d in call.decisions]
        outcome["data"] = call.record().get("data", [])
        return outcome

    def visible_models(self, principal: Principal, app: Principal | None) -> list[ModelSettings]:
        engine = self.policy.engine
        return [m for m in self.settings.models
                if engine.model_access(principal, app, m.alias, frozenset(), None).allowed]

    async def readiness(self) -> dict[str, Any]:
        """A fresh probe of what a call needs, answered within the store's readiness timeout."""
        checks: dict[str, Any] = {}
        limit = self.settings.store.readiness_timeout_seconds
        try:
            # Bounded: a store that hangs (a lock held elsewhere, a dead network, a disk that does not
            # answer) is an answer too. The disk is asked on a thread, never on the event loop.
            checks["store"] = await asyncio.wait_for(self._probe_store(), limit)
        except TimeoutError:
            checks["store"] = f"failed: no answer within {limit:g} s"
        except Exception as exc:
            checks["store"] = f"failed: {type(exc).__name__}"
        checks["audit_writer"] = "ok" if self.writer.healthy else f"failed: {self.writer.last_error}"
        # Reported, not required: one process of the deployment integrates the audit log at a time.
        checks["audit_integrator"] = self.audit.integrator
        checks["models"] = len(self.models)
        checks["policy_version"] = self.policy.version
        rejected = [w.last_error for w in self.policy_watchers if w.last_error]
        if rejected:
            checks["policy_reload_error"] = rejected[0]
        if self.shadow_policy is not None:
            checks["shadow_policy_version"] = self.shadow_policy.version
        if self.mcp is not None:
            # Reported, not required: an unreachable MCP server takes its tools away, not the gateway.
            checks["mcp_servers"] = self.mcp.readiness()
        checks["ready"] = self.started and checks["store"] == "ok" and self.writer.healthy and bool(self.models)
        return checks

    async def _probe_store(self) -> str:
        await self.store.ping()
        return await asyncio.to_thread(_disk_room, self.settings.store)


def _disk_room(store: StoreSettings) -> str:
    """"ok", or why an embedded store's disk cannot take the next records."""
    if store.dialect != "sqlite":
        return "ok"
    path = sqlite_path(store.url)
    if path == ":memory:":
        return "ok"
    free = shutil.disk_usage(Path(path).resolve().parent).free
    if free < store.min_free_bytes:
        return f"failed: {free} bytes free on the store's disk (store.min_free_bytes is {store.min_free_bytes})"
    return "ok"


def pass_through_fields(settings: Settings) -> dict[str, frozenset[str]]:
    """Per alias, the unknown top-level fields forwarded unread: those every provider on its route (the
    alias and its fallbacks) passes through, plus the alias's own. The built-in mock takes ``mock``."""
    models = {m.alias: m for m in settings.models}

    def provider_fields(alias: str) -> frozenset[str]:
        p = settings.providers[models[alias].provider]
        return frozenset(p.pass_through_fields) | (frozenset({"mock"}) if p.type == "mock" else frozenset())

    out: dict[str, frozenset[str]] = {}
    for m in settings.models:
        route = [m.alias, *(f for f in m.fallbacks if f in models)]
        shared = frozenset.intersection(*(provider_fields(a) for a in route))
        fields = shared | frozenset(m.pass_through_fields)
        known = fields & CHAT_FIELDS
        if known:
            raise ConfigError(f"models: {m.alias}: pass_through_fields names {', '.join(sorted(known))}, which "
                              f"the gateway knows and scans; only unknown fields can be passed through")
        if fields:
            out[m.alias] = fields
    return out


def load_use_cases(settings: Settings) -> UseCaseCatalog | None:
    """The use cases in ``use_cases.dir``, checked against this deployment; None when none are configured."""
    uc = settings.use_cases
    if uc.dir is None:
        return None
    try:
        found = load_directory(uc.dir)
    except ManifestError as exc:
        raise ConfigError("use_cases: invalid manifests\n  " + "\n  ".join(exc.problems)) from None
    problems = [p for case in found.values() for p in references_problems(case, settings)]
    if problems:
        raise ConfigError("use_cases: manifests name what this deployment lacks\n  " + "\n  ".join(problems))
    return UseCaseCatalog(found, header=uc.header, required=uc.required)


def key_dir(settings: Settings) -> Path:
    """Where generated key files live: beside the settings file, or the working directory."""
    source = Path(settings.source)
    return source.parent.resolve() if source.is_file() else Path.cwd()


def build_detector(d: DetectionSettings) -> Detector:
    try:
        return Detector(DetectionConfig(
            phone_regions=d.phone_regions, allow_list=d.allow_list, dictionaries=dict(d.dictionaries),
            custom_patterns=tuple(CustomPattern(data_class=p.data_class, pattern=p.pattern, context=p.context,
                                                checksum=p.checksum, confidence=p.confidence,
                                                context_required=p.context_required, max_len=p.max_len,
                                                group=p.group) for p in d.custom_patterns),
            min_confidence=d.min_confidence, ner_backend=d.ner_backend, disabled=d.disabled))
    except ValueError as exc:
        raise ConfigError(f"detection: {exc}") from None
