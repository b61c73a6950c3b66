"""The principal: whoever a call is attributed to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PrincipalKind = Literal["user", "app", "service"]


@dataclass(frozen=True, slots=True)
class Principal:
    """A user, an application or a service account, with what it belongs to.

    ``roles`` and ``groups`` are names; ``tenant`` partitions data and records. ``may_act_for`` is
    whether this principal may assert an end user (``X-Interlock-End-User`` or a user JWT) and
    thereby make that user the subject of the call. Whom it may act for is bounded: its own tenant
    always; ``act_for_ids`` and ``act_for_groups``, when either is set, name the only end users (by id)
    and groups (of token-holding users) it may act for; and a principal that holds keys of its own, or
    an administrator, only if named in ``act_for_ids``.
    """

    id: str
    kind: PrincipalKind
    tenant: str = "default"
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    may_act_for: bool = False
    name: str = ""
    act_for_ids: frozenset[str] = field(default_factory=frozenset)
    act_for_groups: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str) -> bool:
        return role in self.roles
