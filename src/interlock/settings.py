"""The deployment file (``interlock.yaml``) plus environment overrides, validated once and frozen.

Nothing on the hot path reads configuration: the pipeline is built from a ``Settings`` at start-up.
Errors name the file, the key and what is wrong, so a bad deployment fails before it serves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "INTERLOCK_"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(_Frozen):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    # How long a graceful shutdown waits for calls in flight before it gives up on them.
    shutdown_grace_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Mount the built-in mock model at /_mock on this server (the embedded default does).
    mount_mock: bool = False
    # A peer must finish sending a request's headers within this time (counted from its first byte, or
    # from the connection's opening), and its body within body_timeout_seconds of the headers; otherwise
    # it gets 408 and the connection is closed, so a peer that never finishes cannot hold a worker's slot.
    header_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0
    body_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # Open connections one worker serves; a request on a connection over the cap gets 503 and the
    # connection is closed. Each may hold up to limits.max_body_bytes while its body arrives.
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 1024
    # Connections the kernel queues before the server accepts them (capped by net.core.somaxconn).
    backlog: Annotated[int, Field(ge=1, le=65_535)] = 2048


class LimitSettings(_Frozen):
    max_body_bytes: Annotated[int, Field(ge=1024)] = 8 * 1024 * 1024
    # The request line and headers together; more gets 431 and the connection is closed.
    max_header_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    max_json_depth: Annotated[int, Field(ge=4, le=512)] = 64
    max_messages: Annotated[int, Field(ge=1)] = 4096


class StoreSettings(_Frozen):
    # sqlite:///relative/path.db, sqlite:////absolute/path.db, or postgresql://user@host:port/db
    url: str = "sqlite:///interlock.db"
    # Group commit: how long the writer waits to gather more records before one durable commit.
    commit_window_ms: Annotated[float, Field(ge=0, le=1000)] = 0.0
    commit_batch_max: Annotated[int, Field(ge=1, le=100_000)] = 1024
    # A call whose record is not durable within this time is refused (fail closed).
    commit_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # SQLite: commit on the event loop (it waits for the disk; no thread hand-offs or GIL contention)
    # rather than in the writer thread (the loop keeps serving while the disk is slow).
    commit_on_loop: bool = True
    pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    # /readyz: the store must answer within this time, and (SQLite) its disk must have this much room
    # left, or the instance reports itself not ready (a load balancer then sends calls elsewhere).
    readiness_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    min_free_bytes: Annotated[int, Field(ge=0)] = 64 * 1024 * 1024

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not (v.startswith("sqlite://") or v.startswith(("postgresql://", "postgres://"))):
            raise ValueError("must start with sqlite:// or postgresql://")
        return v

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return "sqlite" if self.url.startswith("sqlite://") else "postgresql"


class ProviderSettings(_Frozen):
    """An upstream that speaks the OpenAI chat-completions wire format, or (``anthropic``) the Anthropic
    Messages API, translated from and to the chat form (docs/configuration.md lists the lossy corners)."""

    type: Literal["openai", "azure", "mock", "anthropic"] = "openai"
    base_url: str
    # The upstream key comes from the environment or a secret file, never from the caller's request.
    api_key_env: str | None = None
    api_key_file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # Azure OpenAI style: api-key header and an api-version query parameter.
    api_version: str | None = None
    connect_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    read_timeout_seconds: Annotated[float, Field(gt=0)] = 120.0
    max_connections: Annotated[int, Field(ge=1, le=10_000)] = 256
    # The largest answer accepted from this provider, as sent and once decoded (gzip, deflate); a
    # larger one is refused with 502 instead of being held in memory.
    max_response_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    # Top-level request fields this provider takes that the gateway does not know: forwarded unread,
    # by the deployment's choice (an unknown field is refused otherwise). The built-in mock takes "mock".
    pass_through_fields: tuple[str, ...] = ()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")

    def api_key(self) -> str | None:
        """Read the upstream key; a named source that is missing is a configuration error."""
        if self.api_key_file is not None:
            try:
                return self.api_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"providers: api_key_file {self.api_key_file} cannot be read: {exc}") from exc
        if self.api_key_env is not None:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ConfigError(
                    f"providers: environment variable {self.api_key_env} (api_key_env) is not set"
                )
            return value
        return None


class PriceSettings(_Frozen):
    """A model's price in USD per million tokens, in place of the vendored table's (docs/cost-and-limits.md)."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    # Cached input tokens (prompt cache reads); unset: the input price.
    cached_input: Annotated[float, Field(ge=0)] | None = None


class ModelSettings(_Frozen):
    """A model alias callers use, mapped to a provider and the upstream model's name."""

    alias: str
    provider: str
    upstream_model: str
    hosting: Literal["external", "on_prem"] = "external"
    # Aliases tried in order when this one fails to connect or answers 5xx; never on a refusal.
    fallbacks: tuple[str, ...] = ()
    description: str = ""
    # As the provider's pass_through_fields, for this alias only.
    pass_through_fields: tuple[str, ...] = ()
    # Unset: the vendored price table's entry for upstream_model (the built-in mock has its own price).
    price: PriceSettings | None = None


class JwtSettings(_Frozen):
    issuer: str
    audience: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    algorithms: tuple[Literal["RS256", "ES256"], ...] = ("RS256", "ES256")
    leeway_seconds: Annotated[float, Field(ge=0, le=300)] = 30.0
    subject_claim: str = "sub"
    tenant_claim: str = "tenant"
    roles_claim: str = "roles"
    groups_claim: str = "groups"

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtSettings:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("set exactly one of jwks_file or jwks_url")
        return self


class IdentitySettings(_Frozen):
    jwt: JwtSettings | None = None
    end_user_header: str = "x-interlock-end-user"
    end_user_token_header: str = "x-interlock-end-user-token"


class PolicySettings(_Frozen):
    """Cedar policies: who may use which model, what happens to each data class, who sees values again."""

    # Directory of .cedar files. Unset: the built-in defaults (every caller may use every model; secrets
    # blocked; personal data redacted for external models and restored for the caller; cards masked).
    dir: Path | None = None
    # Schema to validate against. Unset: the shipped schema (interlock/policy/interlock.cedarschema).
    schema_file: Path | None = None
    # The catalogue policies may name (principals' tenants must be listed; unknown roles match nothing).
    tenants: tuple[str, ...] = ("default",)
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    # A candidate set evaluated beside the active one on live traffic; differences are recorded, not enforced.
    shadow_dir: Path | None = None
    # How often each worker checks the policy directory for changes and reloads (0: only on request).
    reload_interval_seconds: Annotated[float, Field(ge=0)] = 2.0


class CustomPatternSettings(_Frozen):
    data_class: Annotated[str, Field(pattern=r"^custom\.[a-z0-9_.-]+$")]
    pattern: str
    context: tuple[str, ...] = ()
    checksum: Literal["luhn", "mod97", "aba"] | None = None
    confidence: Annotated[float, Field(gt=0, le=1)] = 0.8
    context_required: bool = False
    max_len: Annotated[int, Field(ge=1, le=4096)] = 256
    group: Annotated[int, Field(ge=0)] = 0


# National phone formats are tried against all of these (international "+CC" numbers are checked
# against every country's plan whatever this says): most of Europe, the Americas' largest plans, and
# the larger plans of Asia-Pacific, the Middle East and Africa. A deployment may narrow or widen it.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = (
    "GB", "IE", "FR", "DE", "AT", "CH", "LI", "NL", "BE", "LU", "ES", "PT", "IT", "MT", "DK", "SE", "NO", "FI",
    "IS", "PL", "CZ", "SK", "HU", "RO", "BG", "GR", "CY", "HR", "SI", "RS", "BA", "EE", "LV", "LT", "UA", "RU",
    "TR", "US", "CA", "MX", "BR", "AR", "CL", "CO", "PE", "AU", "NZ", "JP", "KR", "CN", "HK", "SG", "IN", "PK",
    "ID", "MY", "PH", "TH", "VN", "TW", "IL", "AE", "SA", "ZA", "NG", "EG", "KE", "MA",
)


class DetectionSettings(_Frozen):
    """Which recognizers run and with what deployment data; compiled once at start-up."""

    # Regions whose national phone formats are recognised ("+CC" numbers are checked for every country).
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    # Values known to be safe (your own support address): never treated as findings.
    allow_list: tuple[str, ...] = ()
    # custom.<name> -> terms matched as whole words, case-insensitively (code names, customer names).
    dictionaries: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    custom_patterns: tuple[CustomPatternSettings, ...] = ()
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5
    # None: patterns, checksums and rules only. "spacy" or "spacy:<model>" adds a NER backend (extra "ner").
    ner_backend: str | None = None
    disabled: tuple[str, ...] = ()
    # Scan what the model returns too (values it emits are handled by the same policy).
    scan_output: bool = True
    # A call whose texts add up to more than this many characters is scanned away from the event loop,
    # so that it keeps serving other calls meanwhile (a 1 MB dense text takes about a second).
    offload_chars: Annotated[int, Field(ge=0)] = 64 * 1024
    # Processes (per worker) that scan large calls, cut into segments scanned at once; each holds its
    # own detector (about 200 MB). 0: large calls are scanned on threads of the worker instead.
    scan_processes: Annotated[int, Field(ge=0, le=64)] = Field(default_factory=lambda: min(2, os.cpu_count() or 1))
    # Start the scan processes with the worker rather than on the first large call (about 1.5 s).
    scan_processes_at_start: bool = False
    # Threads that scan large calls when there are no scan processes; more large calls wait for one.
    scan_threads: Annotated[int, Field(ge=1, le=64)] = 2


class RedactionSettings(_Frozen):
    # AES-GCM key (32 bytes, base64) for the placeholder vault; from the environment or a file.
    vault_key_env: str = "INTERLOCK_VAULT_KEY"
    vault_key_file: Path | None = None
    # How long a conversation's placeholder map is kept (callers send x-interlock-conversation-id).
    vault_ttl_seconds: Annotated[float, Field(gt=0)] = 24 * 3600.0


class AuditSettings(_Frozen):
    # The log's name: the first line of every signed checkpoint. Keep it constant for a deployment.
    key_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$")] = "interlock"
    # Ed25519 signing key (PEM or raw/base64 seed). INTERLOCK_AUDIT_SIGNING_KEY takes precedence.
    # Unset: interlock-audit.key beside the settings file (or in the working directory), created if absent.
    signing_key_file: Path | None = None
    # The integrator (one process of the deployment at a time) signs a checkpoint at least this often while
    # records arrive, and on shutdown; it folds sequenced records into the Merkle tree every
    # integrate_interval_seconds.
    checkpoint_interval_seconds: Annotated[float, Field(gt=0)] = 1.0
    integrate_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 0.2
    # The integrator holds a lease renewed every round; a dead, paused or hung one is replaced once it lapses.
    integrator_lease_seconds: Annotated[float, Field(gt=0, le=300)] = 3.0
    # A reserved log index nobody wrote for this long is taken as lost (its writer died) and filled with a
    # signed gap record, so integration goes on. A writer slower than this writes its batch again.
    gap_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0

    @model_validator(mode="after")
    def _lease_outlasts_a_round(self) -> AuditSettings:
        if self.integrator_lease_seconds <= 2 * self.integrate_interval_seconds:
            raise ValueError(f"integrator_lease_seconds ({self.integrator_lease_seconds}) must exceed twice "
                             f"integrate_interval_seconds ({self.integrate_interval_seconds}), or the "
                             "integrator loses its lease between its own rounds; raise the lease")
        return self
    # How long redacted payloads (prompts, outputs, tool arguments) are kept; records and proofs stay.
    payload_retention_days: Annotated[float, Field(ge=0)] = 30.0


class ApproverSettings(_Frozen):
    """Who may decide: anyone holding one of these roles or belonging to one of these groups."""

    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> ApproverSettings:
        if not self.roles and not self.groups:
            raise ValueError("name at least one role or group that may approve")
        return self


class ApprovalRouteSettings(_Frozen):
    """How one kind of request is approved: by whom, how many, for how long, and who is asked next."""

    approvers: ApproverSettings = ApproverSettings(roles=("admin",))
    # Distinct approvers needed; a single rejection rejects.
    quorum: Annotated[int, Field(ge=1, le=20)] = 1
    # A request still pending after this long is expired, which counts as rejected.
    expires_after_seconds: Annotated[float, Field(gt=0)] = 3600.0
    # After this long without a decision, ``escalate_to`` may decide too (the first approvers still may).
    escalate_after_seconds: Annotated[float, Field(gt=0)] | None = None
    escalate_to: ApproverSettings | None = None
    # Argument names an approver may change when approving (the edited call is checked by policy again).
    editable_arguments: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _escalation_complete(self) -> ApprovalRouteSettings:
        if (self.escalate_after_seconds is None) != (self.escalate_to is None):
            raise ValueError("escalate_after_seconds and escalate_to go together")
        if self.escalate_after_seconds is not None and self.escalate_after_seconds >= self.expires_after_seconds:
            raise ValueError("escalate_after_seconds must be shorter than expires_after_seconds")
        return self


class WebhookSettings(_Frozen):
    """Where new approval requests and decisions are announced (JSON, signed with HMAC-SHA256)."""

    url: Annotated[str, Field(pattern=r"^https?://")]
    # The signing secret: from this environment variable, or from a file.
    secret_env: str = "INTERLOCK_WEBHOOK_SECRET"
    secret_file: Path | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3


class ApprovalSettings(_Frozen):
    # Named routes; a tool names its route (default: "default"), a free-form proposal may name one.
    routes: dict[str, ApprovalRouteSettings] = Field(default_factory=lambda: {"default": ApprovalRouteSettings()})
    webhook: WebhookSettings | None = None
    # The longest a long-poll (`GET /v1/approvals/{id}/wait`) may hold a connection.
    max_wait_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    # How often pending requests are checked for expiry and escalation.
    sweep_interval_seconds: Annotated[float, Field(gt=0)] = 1.0

    @model_validator(mode="after")
    def _has_default(self) -> ApprovalSettings:
        if "default" not in self.routes:
            raise ValueError("routes must include 'default'")
        return self


ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class ToolSettings(_Frozen):
    """One entry of the tool registry. A tool call naming anything else is refused."""

    name: ToolName
    description: str = ""
    # JSON Schema (2020-12) of the arguments object; checked when the settings load.
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    risk: Literal["low", "medium", "high"] = "medium"
    side_effects: Literal["none", "read", "write", "external"] = "read"
    owner: str = ""
    # The approval route used when policy holds a call of this tool for a person.
    approval: str = "default"
    # Set for a tool served by an MCP server under ``mcp.servers`` (unset: the client runs it).
    server: str | None = None
    # The tool's name on that server, when it differs from ``name``.
    upstream_name: str | None = None

    @field_validator("parameters")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import Draft202012Validator, SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        if value.get("type", "object") != "object":
            raise ValueError("the arguments schema must describe an object (type: object)")
        return value


class McpServerSettings(_Frozen):
    """An upstream MCP server: a local process spoken to over stdio, or a streamable-HTTP endpoint."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    command: tuple[str, ...] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # Extra headers for an HTTP server; ``headers_env`` maps a header to an environment variable holding it.
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"MCP server {self.name!r}: give exactly one of command (stdio) or url (HTTP)")
        if self.command is not None and not self.command:
            raise ValueError(f"MCP server {self.name!r}: command is empty")
        return self


class McpSettings(_Frozen):
    """The MCP gateway at /mcp, in front of the servers below (off when there are none)."""

    servers: tuple[McpServerSettings, ...] = ()
    # How long tools/call waits for a person to approve before it answers "still pending".
    approval_wait_seconds: Annotated[float, Field(ge=0, le=600)] = 30.0


Classification = Literal["public", "internal", "confidential", "restricted"]
SourceName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class AccessRuleSettings(_Frozen):
    """Who may read a document: anyone named here (by principal id, group or role), within ``tenant``.
    ``tenant_wide`` opens it to every principal of the tenant. Nothing named means nobody may read it."""

    principals: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    tenant_wide: bool = False
    # Default: the source's tenant and classification.
    tenant: str | None = None
    classification: Classification | None = None


class FreshnessSettings(_Frozen):
    # How often the owner means to update the source, and the age of its newest ingest past which the
    # source is stale (flagged in `interlock knowledge list` and the metrics).
    cadence_hours: Annotated[float, Field(gt=0)] = 24.0
    max_age_hours: Annotated[float, Field(gt=0)] = 72.0


class KnowledgeSourceSettings(_Frozen):
    """A governed source: a directory of files, or documents pushed through the admin API (no ``path``)."""

    name: SourceName
    owner: Annotated[str, Field(min_length=1)]
    path: Path | None = None
    description: str = ""
    tenant: str = "default"
    classification: Classification = "internal"
    freshness: FreshnessSettings = FreshnessSettings()
    # The access rule of a document that declares none (front matter or sidecar). The default names
    # nobody: a document without rules is read by no one.
    default_access: AccessRuleSettings = AccessRuleSettings()
    # Model aliases whose prompts may carry this source's passages; None: any model the policy allows
    # (Cedar's `send_document`, per classification and hosting); (): retrieval only, never in a prompt.
    prompt_models: tuple[str, ...] | None = None


class KnowledgeSettings(_Frozen):
    # The index: sqlite:///knowledge.db (embedded) or postgresql://... (shared deployments).
    index_url: str = "sqlite:///knowledge.db"
    sources: tuple[KnowledgeSourceSettings, ...] = ()
    # Model aliases bound to sources: a chat call to such an alias is augmented with those sources.
    models: dict[str, tuple[SourceName, ...]] = Field(default_factory=dict)
    chunk_chars: Annotated[int, Field(ge=100, le=20_000)] = 1000
    chunk_overlap_chars: Annotated[int, Field(ge=0, le=5_000)] = 150
    # Candidates each leg (full text, vector) returns before fusion; reciprocal-rank constant.
    candidates_per_leg: Annotated[int, Field(ge=1, le=1000)] = 50
    rrf_k: Annotated[int, Field(ge=1, le=1000)] = 60
    max_top_k: Annotated[int, Field(ge=1, le=100)] = 20
    default_top_k: Annotated[int, Field(ge=1, le=100)] = 5

    @field_validator("index_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not (v.startswith("sqlite://") or v.startswith(("postgresql://", "postgres://"))):
            raise ValueError("must start with sqlite:// or postgresql://")
        return v

    @model_validator(mode="after")
    def _sources_resolve(self) -> KnowledgeSettings:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("two knowledge sources share a name")
        for alias, bound in self.models.items():
            for name in bound:
                if name not in names:
                    raise ValueError(f"models: {alias!r} is bound to unknown knowledge source {name!r}")
        if self.chunk_overlap_chars >= self.chunk_chars:
            raise ValueError("chunk_overlap_chars must be smaller than chunk_chars")
        return self

    def source(self, name: str) -> KnowledgeSourceSettings | None:
        for s in self.sources:
            if s.name == name:
                return s
        return None

# Whom a budget or a rate limit counts: every call of a tenant, of one API key (its id), of a principal
# (the call's subject), of a group the subject belongs to, of the acting application, or of a use case.
UsageScope = Literal["tenant", "key", "principal", "group", "app", "use_case"]


class BudgetSettings(_Frozen):
    """Spend allowed to one scope over a day or a calendar month (UTC), in USD, tokens or both."""

    scope: UsageScope
    # One id of that scope ("acme", a key id, "team-a"), or "*": each id gets a budget of its own.
    match: Annotated[str, Field(min_length=1, max_length=256)] = "*"
    window: Literal["day", "month"]
    # What a use-case manifest calls it (``budgets: [name]``); the launch gate checks that it exists and
    # bounds that use case.
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] | None = None
    usd: Annotated[float, Field(gt=0)] | None = None
    tokens: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _some_amount(self) -> BudgetSettings:
        if self.usd is None and self.tokens is None:
            raise ValueError("give usd, tokens or both")
        return self


class RateLimitSettings(_Frozen):
    """Requests and tokens (input plus the output bound) one scope may send per minute."""

    scope: UsageScope
    match: Annotated[str, Field(min_length=1, max_length=256)] = "*"
    requests_per_minute: Annotated[int, Field(gt=0)] | None = None
    tokens_per_minute: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _some_rate(self) -> RateLimitSettings:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("give requests_per_minute, tokens_per_minute or both")
        return self


class UsageSettings(_Frozen):
    """Budgets and rate limits, and where their counters live (docs/cost-and-limits.md). With neither
    declared, calls do no counting work at all (cost is still computed and recorded)."""

    budgets: tuple[BudgetSettings, ...] = ()
    rate_limits: tuple[RateLimitSettings, ...] = ()

    @model_validator(mode="after")
    def _unique_budget_names(self) -> UsageSettings:
        names = [b.name for b in self.budgets if b.name is not None]
        if len(names) != len(set(names)):
            raise ValueError("budget names must be unique")
        return self
    # sqlite:///path (one machine; every worker shares the file) or redis://host:port/db (many instances;
    # rediss:// for TLS). Relative SQLite paths are relative to the settings file.
    counters_url: str = "sqlite:///interlock-usage.db"
    # Prefix of every Redis key (several deployments may share one Redis).
    key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")] = "interlock"
    # A counter store that does not answer within this time counts as down: budgeted calls get 503.
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 0.5
    # The output bound reserved for a call that sets no max_tokens (its worst case).
    default_max_output_tokens: Annotated[int, Field(ge=1)] = 4096
    # A stream reserves its input and this many output tokens, then extends by as many as it goes.
    stream_extension_tokens: Annotated[int, Field(ge=1)] = 256
    # How long a charge is remembered for its idempotency key (a retry within it is counted once).
    charge_ttl_seconds: Annotated[float, Field(ge=60)] = 86400.0
    # When the counter store is down: "closed" refuses rate-limited calls (503), "open" lets them through
    # and logs each one. Budgets always fail closed.
    rate_limit_fail_mode: Literal["closed", "open"] = "closed"

    @field_validator("counters_url")
    @classmethod
    def _known_counter_scheme(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "redis://", "rediss://", "unix://")):
            raise ValueError("must start with sqlite:///, redis://, rediss:// or unix://")
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.budgets or self.rate_limits)


class TelemetrySettings(_Frozen):
    metrics: bool = True
    # OpenTelemetry traces (GenAI conventions) sent over OTLP/HTTP to this URL, e.g.
    # http://collector:4318/v1/traces. Unset: no tracing at all.
    otlp_endpoint: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # Headers for the collector (an API key, say).
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    service_name: str = "interlock"


class UseCaseSettings(_Frozen):
    """Use cases: one manifest per use case (``NAME.yaml``) in ``dir``; unset, calls carry no use case."""

    dir: Path | None = None
    # With use cases configured, a call that belongs to none (no header, no binding) is refused.
    required: bool = True
    # The header a caller names one of its use cases with.
    header: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")] = "x-interlock-use-case"
    # Approved prompt versions are read again from the store this often (in the background, on every
    # worker), and at once when a call names a version or sends a text not approved yet.
    prompt_refresh_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0


class OidcSettings(_Frozen):
    """Sign-in to the console with OpenID Connect (authorization code with PKCE, state and nonce)."""

    # The identity provider's issuer URL; its discovery document is read from
    # {issuer}/.well-known/openid-configuration. identity.jwt must trust the same issuer with the client
    # id as audience: the console presents the ID token to the API as the person's bearer token.
    issuer: Annotated[str, Field(pattern=r"^https?://")]
    client_id: Annotated[str, Field(min_length=1)]
    # Sent with client_secret_basic; unset for a public client (PKCE alone).
    client_secret: str | None = None
    # Where the provider sends the browser back: this gateway's /console/oidc/callback, as the browser
    # reaches it (registered with the provider).
    redirect_url: Annotated[str, Field(pattern=r"^https?://.+/console/oidc/callback$")]
    scopes: tuple[str, ...] = ("openid", "profile")
    # What the sign-in button says.
    name: str = "your identity provider"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class ConsoleSettings(_Frozen):
    # The web console at /console (docs/console.md).
    enabled: bool = True
    # Unset: sign-in by API key only.
    oidc: OidcSettings | None = None
    # A session ends this long after sign-in; the person signs in again.
    session_minutes: Annotated[float, Field(ge=1, le=24 * 60)] = 60.0
    # Session cookies are sent over HTTPS only. Turn off only where the console is reached over plain
    # HTTP on a trusted network (browsers treat http://localhost as secure already).
    secure_cookies: bool = True
    # How often the approvals queue refreshes itself in the browser.
    refresh_seconds: Annotated[float, Field(ge=1, le=600)] = 5.0


class Settings(_Frozen):
    server: ServerSettings = ServerSettings()
    limits: LimitSettings = LimitSettings()
    store: StoreSettings = StoreSettings()
    identity: IdentitySettings = IdentitySettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    usage: UsageSettings = UsageSettings()
    audit: AuditSettings = AuditSettings()
    policy: PolicySettings = PolicySettings()
    detection: DetectionSettings = DetectionSettings()
    redaction: RedactionSettings = RedactionSettings()
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    models: tuple[ModelSettings, ...] = ()
    tools: tuple[ToolSettings, ...] = ()
    approvals: ApprovalSettings = ApprovalSettings()
    mcp: McpSettings = McpSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    use_cases: UseCaseSettings = UseCaseSettings()
    console: ConsoleSettings = ConsoleSettings()
    # Where this settings object came from, for error messages and relative paths.
    source: str = "<defaults>"

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        aliases = {m.alias for m in self.models}
        if len(aliases) != len(self.models):
            raise ValueError("models: two models share an alias")
        for m in self.models:
            if m.provider not in self.providers:
                raise ValueError(
                    f"models: model {m.alias!r} names provider {m.provider!r}, which is not under providers"
                )
            for fb in m.fallbacks:
                if fb not in aliases:
                    raise ValueError(f"models: model {m.alias!r} falls back to unknown alias {fb!r}")
                if fb == m.alias:
                    raise ValueError(f"models: model {m.alias!r} falls back to itself")
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("tools: two tools share a name")
        oidc = self.console.oidc
        if oidc is not None:
            jwt = self.identity.jwt
            if jwt is None or jwt.issuer != oidc.issuer or jwt.audience != oidc.client_id:
                raise ValueError("console.oidc: identity.jwt must trust the same issuer with the client id as its "
                                 "audience (the console presents the ID token to the API)")
        servers = {s.name for s in self.mcp.servers}
        if len(servers) != len(self.mcp.servers):
            raise ValueError("mcp.servers: two servers share a name")
        for t in self.tools:
            if t.approval not in self.approvals.routes:
                raise ValueError(f"tools: tool {t.name!r} names approval route {t.approval!r}, "
                                 f"which is not under approvals.routes")
            if t.server is not None and t.server not in servers:
                raise ValueError(f"tools: tool {t.name!r} names MCP server {t.server!r}, which is not under mcp.servers")
        for alias in self.knowledge.models:
            if alias not in aliases:
                raise ValueError(f"knowledge.models: {alias!r} is not a model alias under models")
        return self

    def tool(self, name: str) -> ToolSettings | None:
        for t in self.tools:
            if t.name == name:
                return t
        return None

    def model(self, alias: str) -> ModelSettings | None:
        for m in self.models:
            if m.alias == alias:
                return m
        return None


class ConfigError(Exception):
    """The deployment cannot start as configured; the message says where and why."""


def embedded_defaults(port: int = 8080, host: str = "127.0.0.1") -> Settings:
    """One machine, nothing to install: SQLite in the working directory and the built-in mock model."""
    return Settings(
        server=ServerSettings(host=host, port=port, mount_mock=True),
        providers={"mock": ProviderSettings(type="mock", base_url=f"http://127.0.0.1:{port}/_mock/v1")},
        models=(
            # Treated as an external provider, so the built-in policies show redaction and restoration.
            ModelSettings(alias="mock", provider="mock", upstream_model="mock", hosting="external",
                          description="built-in mock model: echoes the prompt, scriptable"),
        ),
        source="<embedded defaults>",
    )


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _env_overrides(tree: dict[str, Any], environ: dict[str, str]) -> None:
    """``INTERLOCK_STORE__URL=...`` sets ``store.url``; values are parsed as YAML scalars."""
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        _set_path(tree, path, value)


def _format_validation(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def load_settings(path: Path | None, environ: dict[str, str] | None = None) -> Settings:
    """Load and validate settings once. ``path=None`` means the embedded defaults (+ environment)."""
    env = dict(os.environ if environ is None else environ)
    if path is None:
        # The built-in mock is reached on this server's own port, so the port must be known first.
        port = int(env.get(ENV_PREFIX + "SERVER__PORT") or 8080)
        host = env.get(ENV_PREFIX + "SERVER__HOST") or "127.0.0.1"
        base = embedded_defaults(port=port, host=host)
        tree: dict[str, Any] = base.model_dump(mode="python", exclude={"source"})
        source = "<embedded defaults>"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the settings file: {exc.strerror}") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        tree = loaded
        source = str(path)
    _env_overrides(tree, env)
    tree["source"] = source
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, source)) from exc
    return _resolve_relative(settings, path.parent if path is not None else Path.cwd())


def _resolve_relative(settings: Settings, base: Path) -> Settings:
    """Relative file paths in a settings file are relative to that file, not the working directory."""
    url = _absolute_sqlite(settings.store.url, base)
    usage = settings.usage.model_copy(update={"counters_url": _absolute_sqlite(settings.usage.counters_url, base)})
    providers = {
        name: p.model_copy(update={"api_key_file": (base / p.api_key_file).resolve()})
        if p.api_key_file is not None and not p.api_key_file.is_absolute() else p
        for name, p in settings.providers.items()
    }
    identity = settings.identity
    if identity.jwt is not None and identity.jwt.jwks_file is not None and not identity.jwt.jwks_file.is_absolute():
        identity = identity.model_copy(
            update={"jwt": identity.jwt.model_copy(update={"jwks_file": (base / identity.jwt.jwks_file).resolve()})}
        )
    policy = settings.policy
    policy = policy.model_copy(update={
        k: (base / v).resolve() for k, v in (("dir", policy.dir), ("schema_file", policy.schema_file),
                                             ("shadow_dir", policy.shadow_dir))
        if v is not None and not v.is_absolute()})
    redaction = settings.redaction
    if redaction.vault_key_file is not None and not redaction.vault_key_file.is_absolute():
        redaction = redaction.model_copy(update={"vault_key_file": (base / redaction.vault_key_file).resolve()})
    audit = settings.audit
    key_file = audit.signing_key_file or Path("interlock-audit.key")
    if not key_file.is_absolute():
        audit = audit.model_copy(update={"signing_key_file": (base / key_file).resolve()})
    mcp = settings.mcp.model_copy(update={"servers": tuple(
        s.model_copy(update={"cwd": (base / s.cwd).resolve()}) if s.cwd is not None and not s.cwd.is_absolute() else s
        for s in settings.mcp.servers)})
    use_cases = settings.use_cases
    if use_cases.dir is not None and not use_cases.dir.is_absolute():
        use_cases = use_cases.model_copy(update={"dir": (base / use_cases.dir).resolve()})
    approvals = settings.approvals
    hook = approvals.webhook
    if hook is not None and hook.secret_file is not None and not hook.secret_file.is_absolute():
        approvals = approvals.model_copy(update={
            "webhook": hook.model_copy(update={"secret_file": (base / hook.secret_file).resolve()})})
    return settings.model_copy(
        update={"store": settings.store.model_copy(update={"url": url}), "usage": usage, "providers": providers,
                "identity": identity, "audit": audit, "policy": policy, "redaction": redaction,
                "mcp": mcp, "approvals": approvals, "use_cases": use_cases}
    )


def _absolute_sqlite(url: str, base: Path) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///"):]
        if rel != ":memory:":
            return "sqlite:///" + str((base / rel).resolve())
    return url


def sqlite_path(url: str) -> str:
    """The file path in a ``sqlite:///`` URL (``:memory:`` stays as is)."""
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"store.url {url!r} is not a sqlite:/// URL")
    return url[len("sqlite:///"):]
