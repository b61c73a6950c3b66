"""The use-case manifest: ``usecases/NAME.yaml``, validated against the JSON Schema shipped beside it.

A manifest is read and checked once (at start-up, or by a command); the hot path only reads the
``UseCase`` values built here. Every problem names the file, where in the document it is, and what is
wrong, so an owner can fix a manifest without reading the schema.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from interlock.settings import Settings

State = Literal["draft", "pilot", "production", "retired"]
STATES: tuple[State, ...] = ("draft", "pilot", "production", "retired")
# Fields that change as a use case moves through its life; the digest the gate signs leaves them out,
# so a promotion does not invalidate the gate result it relied on, and any other edit does. Prompts are
# left out too: each version of a prompt is approved on its own (usecases/prompts.py).
LIFECYCLE_FIELDS = frozenset({"state", "lifecycle", "prompts"})


class ManifestError(Exception):
    """One or more manifests are invalid; ``problems`` lists each as ``file: at /path: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@cache
def manifest_schema() -> dict[str, Any]:
    text = resources.files("interlock.usecases").joinpath("manifest.schema.json").read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(manifest_schema())


@dataclass(frozen=True, slots=True)
class Members:
    principals: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def admit(self, principal_id: str, groups: frozenset[str]) -> bool:
        return principal_id in self.principals or not self.groups.isdisjoint(groups)

    @property
    def empty(self) -> bool:
        return not self.principals and not self.groups


@dataclass(frozen=True, slots=True)
class UseCase:
    """One validated manifest. ``doc`` is the document as read; the fields are what the code uses."""

    name: str
    path: Path
    state: State
    doc: dict[str, Any]
    users: Members = Members()
    testers: Members = Members()
    applications: frozenset[str] = frozenset()
    models: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    knowledge_sources: tuple[str, ...] = ()
    budgets: tuple[str, ...] = ()
    data_classes: tuple[str, ...] = ()
    lifecycle: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """What the manifest says, less its lifecycle fields: what a gate result vouches for."""
        return manifest_digest(self.doc)

    @property
    def owners(self) -> frozenset[str]:
        """The principal ids of the owner and escalation contacts that name one."""
        contacts = [self.doc.get("owner") or {}, *(self.doc.get("escalation") or ())]
        return frozenset(str(c["principal"]) for c in contacts if isinstance(c, dict) and c.get("principal"))

    def admits(self, principal_id: str, groups: frozenset[str]) -> bool:
        """May this principal (or application) choose this use case? Testers may, whatever its state."""
        return (self.users.admit(principal_id, groups) or principal_id in self.applications
                or self.testers.admit(principal_id, groups))


def manifest_digest(doc: dict[str, Any]) -> str:
    kept = {k: v for k, v in doc.items() if k not in LIFECYCLE_FIELDS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _where(error: ValidationError) -> str:
    return "/" + "/".join(str(p) for p in error.absolute_path)


def _message(error: ValidationError) -> str:
    schema, allowed = error.schema, error.validator_value
    if error.validator == "additionalProperties" and isinstance(schema, dict):
        known = sorted(schema.get("properties", {}))
        return f"{error.message}; the fields allowed here are {', '.join(known)}"
    if error.validator == "enum" and isinstance(allowed, list):
        return f"{error.instance!r} is not one of {', '.join(map(str, allowed))}"
    return error.message


def _members(doc: Any) -> Members:
    doc = doc or {}
    return Members(frozenset(doc.get("principals", ())), frozenset(doc.get("groups", ())))


def parse_manifest(path: Path, text: str) -> UseCase:
    """Validate one manifest's text; ``ManifestError`` lists every problem found."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError([f"{path}: not valid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise ManifestError([f"{path}: at /: a use-case manifest is a mapping (name, purpose, owner, state, ...)"])
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    problems = [f"{path}: at {_where(e)}: {_message(e)}" for e in errors]
    if not problems and doc["name"] != path.stem:
        problems.append(f"{path}: at /name: {doc['name']!r} does not match the file name; "
                        f"rename the file to {doc['name']}.yaml or the use case to {path.stem!r}")
    if problems:
        raise ManifestError(problems)
    return UseCase(
        name=doc["name"], path=path, state=doc["state"], doc=doc,
        users=_members(doc.get("users")), testers=_members(doc.get("testers")),
        applications=frozenset(doc.get("applications", ())),
        models=tuple(doc.get("models", ())), tools=tuple(doc.get("tools", ())),
        knowledge_sources=tuple(doc.get("knowledge_sources", ())), budgets=tuple(doc.get("budgets", ())),
        data_classes=tuple(doc.get("data_classes", ())), lifecycle=dict(doc.get("lifecycle", {})),
    )


def load_manifest(path: Path) -> UseCase:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError([f"{path}: cannot be read: {exc.strerror}"]) from None
    return parse_manifest(path, text)


def manifest_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_directory(directory: Path) -> dict[str, UseCase]:
    """Every manifest in ``directory``; ``ManifestError`` lists the problems of all of them at once."""
    if not directory.is_dir():
        raise ManifestError([f"{directory}: use_cases.dir is not a directory"])
    problems: list[str] = []
    found: dict[str, UseCase] = {}
    for path in manifest_paths(directory):
        try:
            found[path.stem] = load_manifest(path)
        except ManifestError as exc:
            problems += exc.problems
    bound: dict[str, str] = {}
    for uc in found.values():
        for app in sorted(uc.applications):
            if app in bound:
                problems.append(f"{uc.path}: at /applications: {app!r} is already bound to use case "
                                f"{bound[app]!r}; an application belongs to one use case by default "
                                f"(it may still name others with the use-case header if it is a user of them)")
            bound[app] = uc.name
    if problems:
        raise ManifestError(problems)
    return found


def references_problems(uc: UseCase, settings: Settings) -> list[str]:
    """What the manifest names that the deployment does not have (models, tools, review route)."""
    problems = []
    models = {m.alias for m in settings.models}
    for i, alias in enumerate(uc.models):
        if alias not in models:
            problems.append(f"{uc.path}: at /models/{i}: model {alias!r} is not under models in {settings.source}")
    tools = {t.name for t in settings.tools}
    for i, tool in enumerate(uc.tools):
        if tool not in tools:
            problems.append(f"{uc.path}: at /tools/{i}: tool {tool!r} is not in the tool registry (tools:)")
    review = uc.doc.get("review")
    if review and review["route"] not in settings.approvals.routes:
        problems.append(f"{uc.path}: at /review/route: approval route {review['route']!r} is not under "
                        f"approvals.routes")
    return problems
