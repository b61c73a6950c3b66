"""The static entities policies refer to, and how a caller becomes a Cedar entity.

Static entities (tenants, roles, groups, models, tools, the data-class taxonomy) are turned into one
Cedar entity store at load. Per call only the principal and the acting app are added to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from interlock.identity.principal import Principal

Hosting = Literal["external", "on_prem"]
Risk = Literal["low", "medium", "high"]
SideEffects = Literal["none", "read", "write", "external"]

# ``threat``: content that attacks the model rather than exposing anyone (prompt injection in tool output).
# ``media``: images, audio and files, which the gateway cannot read and so cannot vouch for.
DATA_CLASS_FAMILIES: frozenset[str] = frozenset({"pii", "pci", "fin", "net", "secret", "threat", "media",
                                                 "custom"})

DEFAULT_DATA_CLASSES: tuple[str, ...] = (
    "pii.name", "pii.email", "pii.phone", "pii.address", "pii.date_of_birth", "pii.national_id",
    "pci.card_number", "fin.iban", "net.ip_address",
    "secret.api_key", "secret.private_key", "secret.password", "secret.token",
)

ENTITY_TYPE_BY_KIND: dict[str, str] = {"user": "User", "app": "App", "service": "ServiceAccount"}

_CLASS_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelEntity(_Frozen):
    alias: str
    provider: str
    hosting: Hosting


class ToolEntity(_Frozen):
    name: str
    risk: Risk = "medium"
    side_effects: SideEffects = "read"
    owner: str = ""


class EntityConfig(_Frozen):
    """Everything policies may name besides the caller. Parsed once; immutable."""

    tenants: tuple[str, ...] = ("default",)
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    models: tuple[ModelEntity, ...] = ()
    tools: tuple[ToolEntity, ...] = ()
    data_classes: tuple[str, ...] = Field(default=DEFAULT_DATA_CLASSES)

    @field_validator("data_classes")
    @classmethod
    def _known_families(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _CLASS_NAME.match(name):
                raise ValueError(f"data class {name!r} must look like 'family.name', e.g. 'pii.email'")
            if family_of(name) not in DATA_CLASS_FAMILIES:
                raise ValueError(
                    f"data class {name!r} has unknown family {family_of(name)!r}; "
                    f"use one of {sorted(DATA_CLASS_FAMILIES)} (custom classes go under 'custom.')"
                )
        return value

    @classmethod
    def from_file(cls, path: Path) -> EntityConfig:
        """Read the entity catalogue from YAML (or JSON, a subset of YAML)."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.model_validate(raw)


def family_of(data_class: str) -> str:
    return data_class.split(".", 1)[0]


def _uid(type_: str, id_: str) -> dict[str, str]:
    return {"type": type_, "id": id_}


def static_entities(config: EntityConfig) -> list[dict[str, Any]]:
    """The Cedar JSON for every static entity in the catalogue."""
    out: list[dict[str, Any]] = []
    out += [{"uid": _uid("Tenant", t), "attrs": {}, "parents": []} for t in config.tenants]
    out += [{"uid": _uid("Role", r), "attrs": {}, "parents": []} for r in config.roles]
    out += [{"uid": _uid("Group", g), "attrs": {}, "parents": []} for g in config.groups]
    out += [
        {"uid": _uid("Model", m.alias), "parents": [],
         "attrs": {"alias": m.alias, "provider": m.provider, "hosting": m.hosting}}
        for m in config.models
    ]
    out += [
        {"uid": _uid("Tool", t.name), "parents": [],
         "attrs": {"risk": t.risk, "side_effects": t.side_effects, "owner": t.owner}}
        for t in config.tools
    ]
    families = sorted({family_of(c) for c in config.data_classes} | (DATA_CLASS_FAMILIES - {"custom"}))
    out += [{"uid": _uid("DataClass", f), "attrs": {"family": f}, "parents": []} for f in families]
    out += [
        {"uid": _uid("DataClass", c), "attrs": {"family": family_of(c)},
         "parents": [_uid("DataClass", family_of(c))]}
        for c in sorted(set(config.data_classes))
    ]
    return out


def principal_uid(principal: Principal) -> dict[str, str]:
    return _uid(ENTITY_TYPE_BY_KIND[principal.kind], principal.id)


def principal_entity(principal: Principal) -> dict[str, Any]:
    parents = [_uid("Tenant", principal.tenant)]
    parents += [_uid("Role", r) for r in sorted(principal.roles)]
    parents += [_uid("Group", g) for g in sorted(principal.groups)]
    return {
        "uid": principal_uid(principal),
        "attrs": {"tenant": principal.tenant, "kind": principal.kind, "name": principal.name,
                  "may_act_for": principal.may_act_for},
        "parents": parents,
    }


def caller_delta(principal: Principal, app: Principal | None) -> str:
    """The per-call entity JSON: the principal, and the acting app when it is another entity."""
    entities = [principal_entity(principal)]
    if app is not None and principal_uid(app) != principal_uid(principal):
        entities.append(principal_entity(app))
    return json.dumps(entities)


def principal_key(principal: Principal) -> tuple[object, ...]:
    """Everything about a principal that reaches Cedar; equal keys mean identical entities."""
    return (principal.kind, principal.id, principal.tenant, principal.roles, principal.groups,
            principal.may_act_for, principal.name)


@dataclass(frozen=True, slots=True)
class DocumentAccess:
    """A document as Cedar sees it: where it lives and who its access rule names."""

    key: str  # unique across sources: "<source>/<document id>"
    source: str
    source_owner: str
    tenant: str
    classification: str
    principals: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    tenant_wide: bool = False


@dataclass(frozen=True, slots=True)
class UseCaseAccess:
    """A use case as Cedar sees it: its name, state and its owners' principal ids."""

    name: str
    state: str
    owners: frozenset[str] = frozenset()


# Calls that belong to no use case are read as this one.
NO_USE_CASE = UseCaseAccess("-", "none")


def use_case_entities(use_cases: list[UseCaseAccess]) -> str:
    return json.dumps([{"uid": _uid("UseCase", u.name), "parents": [],
                        "attrs": {"state": u.state,
                                  "owners": [{"__entity": _uid("User", i)} for i in sorted(u.owners)]}}
                       for u in {u.name: u for u in use_cases}.values()])


def document_entities(documents: list[DocumentAccess]) -> str:
    """The Cedar JSON for these documents and their sources. A principal named by id is named as each
    principal type, since the access rule names an id, not a kind."""
    out: list[dict[str, Any]] = []
    sources: dict[str, dict[str, Any]] = {}
    for d in documents:
        sources.setdefault(d.source, {"uid": _uid("Source", d.source), "parents": [],
                                      "attrs": {"tenant": d.tenant, "owner": d.source_owner}})
        ids = sorted(d.principals)
        out.append({
            "uid": _uid("Document", d.key),
            "parents": [_uid("Source", d.source)],
            "attrs": {
                "tenant": d.tenant, "classification": d.classification, "tenant_wide": d.tenant_wide,
                "reader_users": [{"__entity": _uid("User", i)} for i in ids],
                "reader_apps": [{"__entity": _uid("App", i)} for i in ids],
                "reader_services": [{"__entity": _uid("ServiceAccount", i)} for i in ids],
                "reader_groups": [{"__entity": _uid("Group", g)} for g in sorted(d.groups)],
                "reader_roles": [{"__entity": _uid("Role", r)} for r in sorted(d.roles)],
            },
        })
    return json.dumps(list(sources.values()) + out)
