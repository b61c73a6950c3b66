"""The policy engine: a loaded, validated, immutable Cedar policy set that answers Interlock's questions.

Everything is parsed once in ``load``: the schema, every policy, the static entity store. A decision
adds only the caller (principal and acting app) to the store, and that merged store is cached per
caller. Decisions that depend on nothing but the caller and static entities (data actions, restore)
are cached too; model and tool decisions depend on the request and are always evaluated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy
from cedarpy import pst

from interlock.identity.principal import Principal
from interlock.policy.arguments import ArgumentError, tool_context
from interlock.policy.decision import ClassDecision, DataAction, Decision, ToolDecision, UseCaseFacts
from interlock.policy.entities import (
    DATA_CLASS_FAMILIES,
    ENTITY_TYPE_BY_KIND,
    DocumentAccess,
    EntityConfig,
    UseCaseAccess,
    caller_delta,
    document_entities,
    family_of,
    principal_key,
    principal_uid,
    static_entities,
    use_case_entities,
)
from interlock.policy.source import PolicyLoadError, PolicySource, parse_file, validation_problems

DEFAULT_SCHEMA_PATH = Path(__file__).with_name("interlock.cedarschema")

# Asked in this order; the first permitted one wins, none permitted blocks.
DATA_ACTIONS: tuple[tuple[str, DataAction], ...] = (
    ("send_data_unredacted", "allow"),
    ("send_data_redacted", "redact"),
    ("send_data_masked", "mask"),
)
_CACHE_LIMIT = 4096

# Each question is evaluated against only the policies that can apply to its actions: a policy whose
# scope names another action never matches and never errors, so leaving it out changes no decision.
QUESTIONS: dict[str, frozenset[str]] = {
    "invoke_model": frozenset({"invoke_model"}),
    "send_data": frozenset(action for action, _ in DATA_ACTIONS),
    "restore_data": frozenset({"restore_data"}),
    "call_tool": frozenset({"call_tool", "call_tool_with_approval"}),
    "send_data_to_tool": frozenset({"send_data_to_tool"}),
    "reveal_data": frozenset({"reveal_data"}),
    "read_use_case": frozenset({"read_use_case"}),
    "read_usage": frozenset({"read_usage"}),
    "read_document": frozenset({"read_document"}),
    "send_document": frozenset({"send_document"}),
}


def _split_by_question(templates: dict[str, pst.Template]) -> dict[str, cedarpy.PolicySet]:
    out = {}
    for question, actions in QUESTIONS.items():
        # `action in ...` and an unconstrained action are kept everywhere: group membership is the
        # schema's business, and keeping a policy that cannot match is harmless.
        chosen = {pid: t for pid, t in templates.items()
                  if not isinstance(t.action, pst.ActionEq) or t.action.entity.id in actions}
        out[question] = cedarpy.PolicySet.from_pst(pst.PolicySet(templates={}, static_policies=chosen,
                                                                 template_links=()))
    return out


@dataclass(frozen=True, slots=True)
class _Outcome:
    allowed: bool
    policy_ids: tuple[str, ...]
    errors: tuple[str, ...]


def _action(name: str) -> dict[str, str]:
    return {"type": "Action", "id": name}


def _entity_ref(type_: str, id_: str) -> dict[str, dict[str, str]]:
    return {"__entity": {"type": type_, "id": id_}}


class _BoundedCache(dict[Any, Any]):
    """A dict that forgets its oldest entry when full; per engine, so a reload starts empty."""

    def put(self, key: Any, value: Any) -> None:
        if len(self) >= _CACHE_LIMIT:
            try:
                self.pop(next(iter(self)), None)
            except (StopIteration, RuntimeError):
                self.clear()
        self[key] = value


class PolicyEngine:
    """One immutable policy set. Build it with ``PolicyEngine.load``."""

    def __init__(self, *, policies: dict[str, cedarpy.PolicySet], store: cedarpy.Entities,
                 config: EntityConfig, sources: dict[str, PolicySource], version: str) -> None:
        self._policies = policies
        self._store = store
        self.config = config
        self.sources = sources
        self.version = version
        self._models = {m.alias: m for m in config.models}
        self._tools = {t.name: t for t in config.tools}
        self._classes = frozenset(config.data_classes)
        self._families = frozenset({family_of(c) for c in config.data_classes} | DATA_CLASS_FAMILIES)
        self._tenants = frozenset(config.tenants)
        self._caller_stores = _BoundedCache()
        self._class_decisions = _BoundedCache()
        self._model_decisions = _BoundedCache()

    # ---- loading

    @classmethod
    def load(cls, policy_dir: Path, entities: EntityConfig, schema_path: Path | None = None) -> PolicyEngine:
        """Parse and validate every ``*.cedar`` file in ``policy_dir``; raise ``PolicyLoadError`` on any
        problem, listing every problem found with its file and line."""
        schema_path = schema_path or DEFAULT_SCHEMA_PATH
        schema_text = schema_path.read_text(encoding="utf-8")
        try:
            schema = cedarpy.Schema.from_str(schema_text)
        except ValueError as exc:
            raise PolicyLoadError([f"{schema_path}: schema error: {exc}"]) from exc
        if not policy_dir.is_dir():
            raise PolicyLoadError([f"{policy_dir}: not a directory of .cedar policy files"])
        files = sorted(policy_dir.glob("*.cedar"))
        if not files:
            raise PolicyLoadError([f"{policy_dir}: no .cedar files; with no policies every call is denied"])

        problems: list[str] = []
        templates: dict[str, pst.Template] = {}
        sources: dict[str, PolicySource] = {}
        digest = hashlib.sha256()
        for path in files:
            text = path.read_text(encoding="utf-8")
            digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
            try:
                parsed, file_sources = parse_file(path.name, text)
            except PolicyLoadError as exc:
                problems += exc.problems
                continue
            problems += validation_problems(path.name, text, file_sources, schema)
            for node, source in zip(parsed, file_sources, strict=True):
                if source.id in sources:
                    first = sources[source.id]
                    problems.append(f"{path.name}:{source.line}: policy id {source.id!r} is already used at "
                                    f"{first.file}:{first.line}; policy ids must be unique")
                    continue
                templates[source.id] = node
                sources[source.id] = source
        if problems:
            raise PolicyLoadError(problems)
        digest.update(schema_text.encode())

        policies = _split_by_question(templates)
        try:
            store = cedarpy.Entities.from_json_str(json.dumps(static_entities(entities)), schema)
        except ValueError as exc:
            raise PolicyLoadError([f"entities: the entity catalogue does not fit the schema: {exc}"]) from exc
        return cls(policies=policies, store=store, config=entities, sources=sources,
                   version=digest.hexdigest()[:12])

    # ---- evaluation

    def _caller_problem(self, principal: Principal, app: Principal | None) -> str:
        for who, p in (("principal", principal), ("app", app)):
            if p is None:
                continue
            if not p.id:
                return f"{who} has no id"
            if p.kind not in ENTITY_TYPE_BY_KIND:
                return f"{who} {p.id!r} has unknown kind {p.kind!r}"
            if p.tenant not in self._tenants:
                return f"{who} {p.id!r} belongs to unknown tenant {p.tenant!r}"
        return ""

    def _caller_store(self, principal: Principal, app: Principal | None) -> cedarpy.Entities:
        key = (principal_key(principal), None if app is None else principal_key(app))
        store = self._caller_stores.get(key)
        if store is None:
            store = self._store.with_added_json_str(caller_delta(principal, app))
            self._caller_stores.put(key, store)
        assert isinstance(store, cedarpy.Entities)
        return store

    def evaluate(self, question: str, principal: Principal, app: Principal | None,
                 requests: list[tuple[str, str, str, dict[str, Any]]]) -> list[_Outcome]:
        """Evaluate (action, resource type, resource id, context) requests for one caller, in one batch;
        every action must belong to ``question`` (a key of ``QUESTIONS``).

        Fails closed: a Cedar error of any kind, including an exception from the binding, denies.
        """
        uid = principal_uid(principal)
        batch = [{"principal": uid, "action": _action(action), "resource": {"type": rtype, "id": rid},
                  "context": context} for action, rtype, rid, context in requests]
        try:
            store = self._caller_store(principal, app)
            results = cedarpy.is_authorized_batch(batch, self._policies[question], store)
        except Exception as exc:  # the binding must never turn into an allow
            error = f"policy evaluation failed: {type(exc).__name__}: {exc}"
            return [_Outcome(False, (), (error,)) for _ in requests]
        outcomes = []
        for result in results:
            errors = tuple(result.diagnostics.errors)
            reasons = tuple(result.diagnostics.reasons)
            outcomes.append(_Outcome(result.allowed and not errors, reasons, errors))
        return outcomes

    def _app_context(self, app: Principal | None) -> dict[str, Any]:
        return {} if app is None else {"app": _entity_ref(ENTITY_TYPE_BY_KIND[app.kind], app.id)}

    def resolve_class(self, data_class: str) -> str:
        """The class Cedar is asked about: the class itself, else its family parent, else ''."""
        if data_class in self._classes:
            return data_class
        family = family_of(data_class)
        return family if family in self._families else ""

    # ---- the questions

    def model_access(self, principal: Principal, app: Principal | None, model: str,
                     capabilities: frozenset[str], max_tokens: int | None, budget_spent_percent: int | None = None,
                     rate_remaining_percent: int | None = None, use_case: UseCaseFacts | None = None) -> Decision:
        # The request context is built from exactly these arguments, so the answer can be kept for them
        # (the usage figures are whole percentages, so they add at most 101 entries each).
        key = (principal, app, model, capabilities, max_tokens, budget_spent_percent, rate_remaining_percent,
               use_case)
        cached: Decision | None = self._model_decisions.get(key)
        if cached is not None:
            return cached
        decision = self._model_access(principal, app, model, capabilities, max_tokens, budget_spent_percent,
                                      rate_remaining_percent, use_case)
        if not decision.errors:
            self._model_decisions.put(key, decision)
        return decision

    def _model_access(self, principal: Principal, app: Principal | None, model: str,
                      capabilities: frozenset[str], max_tokens: int | None, budget_spent_percent: int | None,
                      rate_remaining_percent: int | None, use_case: UseCaseFacts | None) -> Decision:
        problem = self._caller_problem(principal, app)
        if problem:
            return Decision(False, reason=problem)
        if model not in self._models:
            return Decision(False, reason=f"unknown model {model!r}; known models: {sorted(self._models)}")
        context: dict[str, Any] = {
            "capabilities": [_entity_ref("Capability", c) for c in sorted(capabilities)],
            "streaming": "streaming" in capabilities,
            **self._app_context(app),
        }
        if max_tokens is not None:
            context["max_tokens"] = max_tokens
        if budget_spent_percent is not None:
            context["budget_spent_percent"] = budget_spent_percent
        if rate_remaining_percent is not None:
            context["rate_remaining_percent"] = rate_remaining_percent
        if use_case is not None:
            context["use_case"] = use_case.as_context()
        request = ("invoke_model", "Model", model, context)
        outcome = self.evaluate("invoke_model", principal, app, [request])[0]
        return _decision(outcome, f"use model {model!r}")

    def data_actions(self, principal: Principal, app: Principal | None, model: str,
                     classes: Iterable[str]) -> dict[str, ClassDecision]:
        wanted = list(dict.fromkeys(classes))
        problem = self._caller_problem(principal, app)
        if not problem and model not in self._models:
            problem = f"unknown model {model!r}"
        if problem:
            return {c: ClassDecision(c, "block", reason=problem) for c in wanted}

        caller = (principal_key(principal), None if app is None else principal_key(app))
        out: dict[str, ClassDecision] = {}
        pending: list[tuple[str, str]] = []
        for data_class in wanted:
            evaluated_as = self.resolve_class(data_class)
            if not evaluated_as:
                out[data_class] = ClassDecision(data_class, "block",
                                                reason=f"unknown data class family {family_of(data_class)!r}")
                continue
            cached = self._class_decisions.get(("send", caller, model, evaluated_as))
            if cached is not None:
                out[data_class] = _renamed(cached, data_class)
            else:
                pending.append((data_class, evaluated_as))
        if pending:
            context = {"model": _entity_ref("Model", model), **self._app_context(app)}
            requests = [(action, "DataClass", evaluated_as, context)
                        for _, evaluated_as in pending for action, _ in DATA_ACTIONS]
            outcomes = self.evaluate("send_data", principal, app, requests)
            step = len(DATA_ACTIONS)
            for i, (data_class, evaluated_as) in enumerate(pending):
                decision = _class_decision(data_class, evaluated_as, model, outcomes[i * step:(i + 1) * step])
                self._class_decisions.put(("send", caller, model, evaluated_as), decision)
                out[data_class] = decision
        return {c: out[c] for c in wanted}

    def may_restore(self, principal: Principal, data_class: str, app: Principal | None = None) -> Decision:
        problem = self._caller_problem(principal, app)
        if problem:
            return Decision(False, reason=problem)
        evaluated_as = self.resolve_class(data_class)
        if not evaluated_as:
            return Decision(False, reason=f"unknown data class family {family_of(data_class)!r}")
        caller = (principal_key(principal), None if app is None else principal_key(app))
        key = ("restore", caller, evaluated_as)
        cached = self._class_decisions.get(key)
        if isinstance(cached, Decision):
            return cached
        outcome = self.evaluate("restore_data", principal, app,
                                [("restore_data", "DataClass", evaluated_as, self._app_context(app))])[0]
        decision = _decision(outcome, f"see restored {data_class!r} values")
        self._class_decisions.put(key, decision)
        return decision

    def may_reveal(self, principal: Principal, data_class: str, tool: str, app: Principal | None = None) -> Decision:
        """May this reviewer see values of ``data_class`` in the arguments of a held call of ``tool``?"""
        problem = self._caller_problem(principal, app)
        if not problem and tool not in self._tools:
            problem = f"unknown tool {tool!r}"
        evaluated_as = self.resolve_class(data_class) if not problem else ""
        if not problem and not evaluated_as:
            problem = f"unknown data class family {family_of(data_class)!r}"
        if problem:
            return Decision(False, reason=problem)
        caller = (principal_key(principal), None if app is None else principal_key(app))
        key = ("reveal", caller, tool, evaluated_as)
        cached = self._class_decisions.get(key)
        if isinstance(cached, Decision):
            return cached
        context = {"tool": _entity_ref("Tool", tool), **self._app_context(app)}
        outcome = self.evaluate("reveal_data", principal, app, [("reveal_data", "DataClass", evaluated_as, context)])[0]
        decision = _decision(outcome, f"see {data_class!r} values in the arguments of {tool!r}")
        if not decision.errors:
            self._class_decisions.put(key, decision)
        return decision

    def tool_call(self, principal: Principal, app: Principal | None, tool: str,
                  arguments: dict[str, Any], use_case: UseCaseFacts | None = None) -> ToolDecision:
        problem = self._caller_problem(principal, app)
        if problem:
            return ToolDecision("deny", reason=problem)
        if tool not in self._tools:
            return ToolDecision("deny", reason=f"unknown tool {tool!r}; declare it in the tool catalogue")
        try:
            context = {**tool_context(arguments), **self._app_context(app)}
        except ArgumentError as exc:
            return ToolDecision("deny", errors=(str(exc),), reason=f"tool arguments cannot be checked: {exc}")
        if use_case is not None:
            context["use_case"] = use_case.as_context()
        now, approved = self.evaluate("call_tool", principal, app, [("call_tool", "Tool", tool, context),
                                                       ("call_tool_with_approval", "Tool", tool, context)])
        errors = now.errors + approved.errors
        if errors:
            return ToolDecision("deny", now.policy_ids + approved.policy_ids, errors,
                                "policy evaluation failed; the tool call is refused")
        if now.allowed:
            return ToolDecision("allow", now.policy_ids, reason=f"permitted to call {tool!r}")
        if approved.allowed:
            return ToolDecision("approve", approved.policy_ids,
                                reason=f"calling {tool!r} with these arguments needs approval")
        forbids = tuple(dict.fromkeys(now.policy_ids + approved.policy_ids))
        why = f"forbidden by {', '.join(forbids)}" if forbids else "no policy permits it"
        return ToolDecision("deny", forbids, reason=f"calling {tool!r} is denied: {why}")


    def data_to_tool(self, principal: Principal, app: Principal | None, tool: str,
                     classes: Iterable[str]) -> dict[str, Decision]:
        """May values of these classes travel to (or come back from) this tool? Not allowed: refuse the call."""
        wanted = list(dict.fromkeys(classes))
        problem = self._caller_problem(principal, app)
        if not problem and tool not in self._tools:
            problem = f"unknown tool {tool!r}"
        if problem:
            return {c: Decision(False, reason=problem) for c in wanted}
        caller = (principal_key(principal), None if app is None else principal_key(app))
        out: dict[str, Decision] = {}
        pending: list[tuple[str, str]] = []
        for data_class in wanted:
            evaluated_as = self.resolve_class(data_class)
            if not evaluated_as:
                out[data_class] = Decision(False, reason=f"unknown data class family {family_of(data_class)!r}")
                continue
            cached = self._class_decisions.get(("tool", caller, tool, evaluated_as))
            if isinstance(cached, Decision):
                out[data_class] = cached
            else:
                pending.append((data_class, evaluated_as))
        if pending:
            context = {"tool": _entity_ref("Tool", tool), **self._app_context(app)}
            outcomes = self.evaluate("send_data_to_tool", principal, app,
                                     [("send_data_to_tool", "DataClass", ev, context) for _, ev in pending])
            for (data_class, evaluated_as), outcome in zip(pending, outcomes, strict=True):
                decision = _decision(outcome, f"pass {evaluated_as!r} values to tool {tool!r}")
                if not decision.errors:
                    self._class_decisions.put(("tool", caller, tool, evaluated_as), decision)
                out[data_class] = decision
        return {c: out[c] for c in wanted}

    def documents(self, principal: Principal, app: Principal | None, documents: list[DocumentAccess],
                  model: str | None = None) -> list[Decision]:
        """``read_document`` for each document (``model`` None), or ``send_document`` toward ``model``:
        may a passage of it reach this caller (or this model's prompt)? Never cached: an access rule
        can change between two calls. Any evaluation error denies."""
        problem = self._caller_problem(principal, app)
        if not problem and model is not None and model not in self._models:
            problem = f"unknown model {model!r}"
        if problem or not documents:
            return [Decision(False, reason=problem) for _ in documents]
        question = "read_document" if model is None else "send_document"
        context = self._app_context(app)
        if model is not None:
            context = {"model": _entity_ref("Model", model), **context}
        uid = principal_uid(principal)
        batch = [{"principal": uid, "action": _action(question), "resource": {"type": "Document", "id": d.key},
                  "context": context} for d in documents]
        try:
            store = self._caller_store(principal, app).with_added_json_str(document_entities(documents))
            results = cedarpy.is_authorized_batch(batch, self._policies[question], store)
        except Exception as exc:  # the binding must never turn into an allow
            error = f"policy evaluation failed: {type(exc).__name__}: {exc}"
            return [Decision(False, (), (error,), "policy evaluation failed; refused") for _ in documents]
        what = "read" if model is None else f"send to model {model!r}"
        return [_decision(_Outcome(r.allowed and not r.diagnostics.errors, tuple(r.diagnostics.reasons),
                                   tuple(r.diagnostics.errors)), f"{what} document {d.key!r}")
                for d, r in zip(documents, results, strict=True)]

    def use_cases(self, principal: Principal, use_cases: list[UseCaseAccess]) -> list[Decision]:
        """``read_use_case`` for each use case: may this principal read its page?"""
        return self._about_use_cases(principal, [("read_use_case", "UseCase", u.name, {}) for u in use_cases],
                                     use_cases, "read use case")

    def usage(self, principal: Principal, wanted: list[tuple[str, UseCaseAccess]]) -> list[Decision]:
        """``read_usage`` for each (tenant, use case): may this principal read the usage of those calls?"""
        requests = [("read_usage", "Tenant", tenant, {"use_case": _entity_ref("UseCase", u.name)})
                    for tenant, u in wanted]
        return self._about_use_cases(principal, requests, [u for _, u in wanted], "read usage of")

    def _about_use_cases(self, principal: Principal, requests: list[tuple[str, str, str, dict[str, Any]]],
                         use_cases: list[UseCaseAccess], what: str) -> list[Decision]:
        """Never cached: a manifest's owners can change between two reads. Any evaluation error denies."""
        problem = self._caller_problem(principal, None)
        if problem or not requests:
            return [Decision(False, reason=problem) for _ in requests]
        uid = principal_uid(principal)
        batch = [{"principal": uid, "action": _action(action), "resource": {"type": rtype, "id": rid},
                  "context": context} for action, rtype, rid, context in requests]
        question = requests[0][0]
        try:
            store = self._caller_store(principal, None).with_added_json_str(use_case_entities(use_cases))
            results = cedarpy.is_authorized_batch(batch, self._policies[question], store)
        except Exception as exc:  # the binding must never turn into an allow
            error = f"policy evaluation failed: {type(exc).__name__}: {exc}"
            return [Decision(False, (), (error,), "policy evaluation failed; refused") for _ in requests]
        return [_decision(_Outcome(r.allowed and not r.diagnostics.errors, tuple(r.diagnostics.reasons),
                                   tuple(r.diagnostics.errors)), f"{what} {u.name!r}")
                for u, r in zip(use_cases, results, strict=True)]

    def may_list_tool(self, principal: Principal, app: Principal | None, tool: str) -> bool:
        """Could some call of this tool run, or wait for approval, for this caller?

        Asked with the whole request context unknown (Cedar partial evaluation): a policy that looks at
        the arguments (or at the acting app) leaves a residual and the tool is shown; only a tool this
        caller can never call, whatever the arguments, is hidden. Showing a tool grants nothing: every
        call is decided in full by ``tool_call``. Any evaluation error hides the tool.
        """
        if self._caller_problem(principal, app) or tool not in self._tools:
            return False
        uid = principal_uid(principal)
        who = f"{uid['type']}::{json.dumps(uid['id'], ensure_ascii=False)}"
        try:
            store = self._caller_store(principal, app)
            for action in ("call_tool", "call_tool_with_approval"):
                result = cedarpy.is_authorized_partial(
                    {"principal": who, "action": f'Action::"{action}"',
                     "resource": f"Tool::{json.dumps(tool, ensure_ascii=False)}", "context": None},
                    self._policies["call_tool"], store)
                if result.diagnostics.errors:
                    continue
                if result.decision == cedarpy.Decision.Allow or (
                        result.decision == cedarpy.Decision.NoDecision and result.residuals):
                    return True
        except Exception:  # the binding failing hides the tool, it never shows one
            return False
        return False


def _decision(outcome: _Outcome, what: str) -> Decision:
    if outcome.errors:
        return Decision(False, outcome.policy_ids, outcome.errors, "policy evaluation failed; refused")
    if outcome.allowed:
        return Decision(True, outcome.policy_ids, reason=f"permitted to {what}")
    why = f"forbidden by {', '.join(outcome.policy_ids)}" if outcome.policy_ids else "no policy permits it"
    return Decision(False, outcome.policy_ids, reason=f"not permitted to {what}: {why}")


def _class_decision(data_class: str, evaluated_as: str, model: str,
                    outcomes: list[_Outcome]) -> ClassDecision:
    errors = tuple(e for o in outcomes for e in o.errors)
    if errors:
        return ClassDecision(data_class, "block", (), errors, "policy evaluation failed; blocked",
                             evaluated_as)
    for (_, action), outcome in zip(DATA_ACTIONS, outcomes, strict=True):
        if outcome.allowed:
            return ClassDecision(data_class, action, outcome.policy_ids,
                                 reason=f"{action} {evaluated_as!r} for model {model!r}",
                                 evaluated_as=evaluated_as)
    forbids = tuple(dict.fromkeys(p for o in outcomes for p in o.policy_ids))
    why = f"forbidden by {', '.join(forbids)}" if forbids else "no policy permits sending it"
    return ClassDecision(data_class, "block", forbids, evaluated_as=evaluated_as,
                         reason=f"{evaluated_as!r} to {model!r} is blocked: {why}")


def _renamed(decision: ClassDecision, data_class: str) -> ClassDecision:
    if decision.data_class == data_class:
        return decision
    return ClassDecision(data_class, decision.action, decision.policy_ids, decision.errors, decision.reason,
                         decision.evaluated_as)
