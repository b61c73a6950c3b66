"""Evaluation suites: YAML (principals, defaults, cases) or JSON Lines (one case a line), checked against
the shipped schema before anything runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml
from jsonschema import Draft202012Validator

from interlock.identity.principal import Principal

# Kinds whose failure is a permission or leak failure: never averaged into a pass rate, always fatal.
CRITICAL_KINDS = frozenset({"permission", "redaction", "tool_policy"})


class SuiteError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("interlock.evals").joinpath("suite.schema.json").read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    kind: str
    principal: str
    doc: dict[str, Any]

    @property
    def critical(self) -> bool:
        return self.kind in CRITICAL_KINDS

    @property
    def expect(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.doc["expect"])


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    path: Path
    cases: tuple[Case, ...]
    principals: dict[str, dict[str, Any]] = field(default_factory=dict)
    use_case: str | None = None
    model: str | None = None
    min_pass_rate: float = 1.0
    # Thresholds on the averaged retrieval metrics (min_recall, min_citation_precision).
    retrieval: dict[str, float] = field(default_factory=dict)
    # The model-graded judge: model, rubric, and optionally as, use_case, min_score, mock.
    judge: dict[str, Any] = field(default_factory=dict)

    def principal(self, name: str) -> Principal:
        doc = self.principals[name]
        return Principal(id=doc["id"], kind=doc.get("kind", "user"), tenant=doc.get("tenant", "default"),
                         roles=frozenset(doc.get("roles", ())), groups=frozenset(doc.get("groups", ())),
                         name=doc["id"])


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError([f"{path}: cannot be read: {exc.strerror}"]) from None
    if path.suffix == ".jsonl":
        cases, principals = [], {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SuiteError([f"{path}:{number}: not JSON: {exc.msg}"]) from None
            # A JSONL case names its principal inline: {"as": {"id": ...}} becomes a named principal.
            if isinstance(case, dict) and isinstance(case.get("as"), dict):
                who = case["as"]
                principals[str(who.get("id"))] = who
                case["as"] = str(who.get("id"))
            cases.append(case)
        return {"name": path.stem, "principals": principals, "cases": cases}
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteError([f"{path}: not valid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise SuiteError([f"{path}: at /: a suite is a mapping with cases (or use .jsonl, one case a line)"])
    return doc


def load_suite(path: Path) -> Suite:
    doc = _read(path)
    problems = [f"{path}: at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    principals = doc.get("principals") or {}
    for i, case in enumerate(doc.get("cases") or []):
        if not isinstance(case, dict):
            continue
        for role in ("as", "app"):
            if role in case and case[role] not in principals:
                problems.append(f"{path}: at /cases/{i}/{role}: principal {case[role]!r} is not under principals")
        if isinstance(case.get("expect"), dict) and "judge" in case["expect"] and not doc.get("judge"):
            problems.append(f"{path}: at /cases/{i}/expect/judge: the suite configures no judge (judge: model, rubric)")
    judge = doc.get("judge")
    if isinstance(judge, dict) and "as" in judge and judge["as"] not in principals:
        problems.append(f"{path}: at /judge/as: principal {judge['as']!r} is not under principals")
    if problems:
        raise SuiteError(problems)
    cases = tuple(Case(c["name"], c["kind"], c["as"], c) for c in doc["cases"])
    return Suite(name=doc.get("name", path.stem), path=path, cases=cases, principals=principals,
                 use_case=doc.get("use_case"), model=doc.get("model"),
                 min_pass_rate=float(doc.get("min_pass_rate", 1.0)), retrieval=dict(doc.get("retrieval") or {}),
                 judge=dict(doc.get("judge") or {}))
