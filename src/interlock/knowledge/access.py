"""Access rules: who may read a document, and the version that says when that changed.

A rule names principals (by id), groups and roles within one tenant, or opens the document to the
whole tenant. Its version is a digest of its canonical form, so the same rule always has the same
version and any change to it is a new one; records and citations carry it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interlock.settings import AccessRuleSettings

CLASSIFICATIONS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
_FIELDS = frozenset({"principals", "groups", "roles", "tenant_wide", "tenant", "classification"})


class AccessRuleError(ValueError):
    """An access rule that cannot be read; the message names the field."""


@dataclass(frozen=True, slots=True)
class AccessRule:
    tenant: str
    classification: str
    principals: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    tenant_wide: bool = False

    @property
    def version(self) -> str:
        canonical = json.dumps({"tenant": self.tenant, "classification": self.classification,
                                "principals": sorted(self.principals), "groups": sorted(self.groups),
                                "roles": sorted(self.roles), "tenant_wide": self.tenant_wide},
                               sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def grants(self) -> list[tuple[str, str]]:
        """The rule as (kind, value) rows, the form every index leg filters on."""
        rows = [("principal", p) for p in sorted(self.principals)]
        rows += [("group", g) for g in sorted(self.groups)]
        rows += [("role", r) for r in sorted(self.roles)]
        if self.tenant_wide:
            rows.append(("tenant", "*"))
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "classification": self.classification,
                "principals": sorted(self.principals), "groups": sorted(self.groups), "roles": sorted(self.roles),
                "tenant_wide": self.tenant_wide, "version": self.version}

    @classmethod
    def from_settings(cls, rule: AccessRuleSettings, tenant: str, classification: str) -> AccessRule:
        return cls(tenant=rule.tenant or tenant, classification=rule.classification or classification,
                   principals=frozenset(rule.principals), groups=frozenset(rule.groups),
                   roles=frozenset(rule.roles), tenant_wide=rule.tenant_wide)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], default: AccessRule) -> AccessRule:
        """A rule from front matter, a sidecar file or an API body; unset fields come from ``default``'s
        tenant and classification (the names are the rule's own: absent means nobody by that route)."""
        unknown = set(raw) - _FIELDS
        if unknown:
            raise AccessRuleError(f"unknown access rule field(s) {sorted(unknown)}; known: {sorted(_FIELDS)}")

        def names(field: str) -> frozenset[str]:
            value = raw.get(field, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise AccessRuleError(f"access rule field {field!r} must be a list of non-empty strings")
            return frozenset(value)

        tenant = raw.get("tenant", default.tenant)
        classification = raw.get("classification", default.classification)
        tenant_wide = raw.get("tenant_wide", False)
        if not isinstance(tenant, str) or not tenant:
            raise AccessRuleError("access rule field 'tenant' must be a non-empty string")
        if classification not in CLASSIFICATIONS:
            raise AccessRuleError(f"access rule field 'classification' must be one of {list(CLASSIFICATIONS)}")
        if not isinstance(tenant_wide, bool):
            raise AccessRuleError("access rule field 'tenant_wide' must be true or false")
        return cls(tenant=tenant, classification=classification, principals=names("principals"),
                   groups=names("groups"), roles=names("roles"), tenant_wide=tenant_wide)
