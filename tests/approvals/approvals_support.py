"""Helpers for approval tests: services on a real store, the cast of principals, a webhook receiver that
checks signatures, and a gateway configured with approval routes."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.approvals import ApprovalService
from interlock.approvals.service import Recheck
from interlock.approvals.webhook import Webhook
from interlock.audit.writer import AuditWriter
from interlock.identity.principal import Principal
from interlock.redact import VaultCipher
from interlock.settings import ApprovalRouteSettings, ApprovalSettings, ApproverSettings, StoreSettings, WebhookSettings
from interlock.store import RecordQuery, Store, open_store
from support.gateways import ApiKey, Gateway, GatewayFactory
from support.http_servers import BackgroundServer, QuietHandler
from support.settings import write_policies

REVIEWERS = ApproverSettings(groups=("reviewers",))
ROUTES = ApprovalSettings(
    routes={
        "default": ApprovalRouteSettings(approvers=REVIEWERS, expires_after_seconds=600),
        "pair": ApprovalRouteSettings(approvers=REVIEWERS, quorum=2, expires_after_seconds=600),
        "brief": ApprovalRouteSettings(approvers=REVIEWERS, expires_after_seconds=0.4),
        "escalating": ApprovalRouteSettings(approvers=REVIEWERS, expires_after_seconds=600,
                                            escalate_after_seconds=0.4,
                                            escalate_to=ApproverSettings(roles=("manager",))),
        "payments": ApprovalRouteSettings(approvers=ApproverSettings(groups=("finance",)),
                                          editable_arguments=("amount", "note"), expires_after_seconds=600),
    },
    # Long enough that tests see what reading a request does by itself, not what the sweeper did.
    sweep_interval_seconds=30,
)


def person(pid: str, *, groups: tuple[str, ...] = (), roles: tuple[str, ...] = (), tenant: str = "acme",
           kind: str = "user", may_act_for: bool = False) -> Principal:
    return Principal(id=pid, kind=kind, tenant=tenant, roles=frozenset(roles),  # type: ignore[arg-type]
                     groups=frozenset(groups), may_act_for=may_act_for, name=pid)


# The requester is a reviewer too: being in the group never lets anyone decide their own request.
ALICE = person("alice", groups=("reviewers",))
BOT = person("support-bot", kind="app", groups=("reviewers",), may_act_for=True)
RITA = person("rita", groups=("reviewers",))
RON = person("ron", groups=("reviewers",))
MO = person("mo", roles=("manager",))
FIN = person("fin", groups=("finance",))
OUTSIDER = person("olga")
ADMIN = person("ada", roles=("admin",))
OTHER_TENANT = person("rita", groups=("reviewers",), tenant="other")


class ServiceFactory:
    """Approval services on one store URL, each with its own store connection, like separate workers."""

    def __init__(self, store_url: str, settings: ApprovalSettings) -> None:
        self.store_url = store_url
        self.settings = settings
        self.vault_key = VaultCipher.generate_key()
        self._running: list[tuple[Store, AuditWriter, ApprovalService]] = []

    async def __call__(self, *, recheck: Recheck | None = None, webhook: Webhook | None = None,
                       settings: ApprovalSettings | None = None, start: bool = True) -> ApprovalService:
        store = open_store(StoreSettings(url=self.store_url))
        await store.open()
        writer = AuditWriter(store, window_ms=0, batch_max=100, timeout_seconds=10)
        await writer.start()
        service = ApprovalService(store, settings or self.settings, writer, lambda: VaultCipher(self.vault_key),
                                  webhook, recheck=recheck)
        if start:
            await service.start()
        self._running.append((store, writer, service))
        return service

    async def stop(self, service: ApprovalService) -> None:
        for entry in list(self._running):
            if entry[2] is service:
                self._running.remove(entry)
                await _stop(*entry)

    async def close(self) -> None:
        while self._running:
            await _stop(*self._running.pop())

    async def records(self, approval_id: str, *, refused: bool = False) -> list[dict[str, Any]]:
        """The audit records about one request, in log order, read through a store of their own; records
        of refused decision attempts only with ``refused`` (their own test checks them)."""
        store = open_store(StoreSettings(url=self.store_url))
        await store.open()
        try:
            rows = await store.query_records(RecordQuery(request_id=approval_id, newest_first=False, limit=1000))
        finally:
            await store.close()
        return [record for _, record in rows if refused or record.get("event") != "approval.decision_refused"]

    async def events(self, approval_id: str) -> list[str]:
        return [r["event"] for r in await self.records(approval_id)]


async def _stop(store: Store, writer: AuditWriter, service: ApprovalService) -> None:
    await service.stop()
    await writer.stop()
    await store.close()


# -- webhooks -----------------------------------------------------------------------------------

WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef"


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def doc(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    def signed_with(self, secret: str) -> bool:
        """The check a receiver makes: the HMAC of "<timestamp>.<body>" and a fresh timestamp."""
        timestamp = self.headers.get("x-interlock-timestamp", "")
        expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + self.body,
                                        hashlib.sha256).hexdigest()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        return fresh and hmac.compare_digest(expected, self.headers.get("x-interlock-signature", ""))


class WebhookReceiver(BackgroundServer):
    """A real HTTP server on a free port that keeps every delivery it receives."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.deliveries.append(Delivery({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/hooks/interlock"

    def about(self, approval_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.doc["approval"]["id"] == approval_id]

    def events(self, approval_id: str) -> list[str]:
        return [d.doc["event"] for d in self.about(approval_id)]


# -- a gateway with approvals -------------------------------------------------------------------

APPROVERS = ("rita", "ron", "rex")


REFUND_TOOL = {
    "name": "refund_payment", "risk": "high", "side_effects": "write", "approval": "payments",
    "parameters": {
        "type": "object", "additionalProperties": False, "required": ["payment_id", "amount", "currency"],
        "properties": {"payment_id": {"type": "string"}, "amount": {"type": "integer", "minimum": 1, "maximum": 1000},
                       "currency": {"type": "string", "enum": ["EUR", "USD"]}}},
}


def approvals_gateway(factory: GatewayFactory, store: str, webhook_url: str, secret_file: Path,
                      directory: Path, *, served: bool = True, extra_policies: dict[str, str] | None = None) -> Gateway:
    """The standard test policies plus the built-in tool policies (riskier tools wait for a person), and
    ``extra_policies`` (file name -> text) if given."""
    from interlock.policy.setup import default_policy_dir

    policies = write_policies(directory / "policies")
    shutil.copy(default_policy_dir() / "tools.cedar", policies / "tools.cedar")
    for name, text in (extra_policies or {}).items():
        (policies / name).write_text(text, encoding="utf-8")

    def adjust(tree: dict[str, Any]) -> None:
        tree["tools"] = [*tree.get("tools", []), REFUND_TOOL]
        tree["approvals"] = {
            "routes": {
                "default": {"approvers": {"groups": ["reviewers"]}, "expires_after_seconds": 600},
                "pair": {"approvers": {"groups": ["reviewers"]}, "quorum": 2, "expires_after_seconds": 600},
                "brief": {"approvers": {"groups": ["reviewers"]}, "expires_after_seconds": 1},
                "payments": {"approvers": {"groups": ["reviewers"]}, "editable_arguments": ["amount"],
                             "expires_after_seconds": 600},
            },
            "webhook": {"url": webhook_url, "secret_file": str(secret_file), "timeout_seconds": 5},
            "max_wait_seconds": 8,
            "sweep_interval_seconds": 0.2,
        }

    gw = factory(store, adjust=adjust, start=False, policies=policies, served=served)
    people: list[tuple[str, list[str]]] = [
        ("alice", []), ("olga", []), ("ada", ["--role", "admin"]),
        # It acts for people who hold keys of their own, so its key names them.
        ("bot", ["--kind", "app", "--act-for", "alice", "--act-for", "rita"]), ("otto", ["--tenant", "other", "--group", "reviewers"]),
        *[(name, ["--group", "reviewers"]) for name in APPROVERS],
    ]
    for name, extra in people:
        doc = json.loads(gw.cli(["keys", "create"], "--name", name, "--json", *extra).stdout)
        gw.keys[name] = ApiKey(doc["key"], doc["id"], doc["principal"])
    gw.start()
    return gw


def headers_for(gw: Gateway, name: str, *, end_user: str | None = None, **extra: str) -> dict[str, str]:
    """Headers for one of the gateway's keys, acting for an end user if asked."""
    h = {"authorization": f"Bearer {gw.keys[name].key}"}
    if end_user is not None:
        h["x-interlock-end-user"] = end_user
    h.update(extra)
    return h


def webhook_settings(url: str, secret_file: Path) -> WebhookSettings:
    return WebhookSettings(url=url, secret_env="INTERLOCK_TEST_UNSET_SECRET", secret_file=secret_file,
                           timeout_seconds=5, retries=1)
