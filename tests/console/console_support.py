"""A gateway for the console's tests: the example deployment's tools, approval routes and policies, the
people who ask and decide, and helpers to hold a tool call and resume it as the agent would.

Browsers reach a served gateway (a real socket) at ``localhost``, which browsers count as a secure
origin, so the console's Secure cookies work as they would over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interlock.merkle.checkpoint import SIGNING_KEY_ENV
from support.gateways import ApiKey, Gateway, GatewayFactory, KeySpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "console"
CHROMIUM = Path("/usr/bin/chromium")

KEYS = (
    KeySpec("support", ("support_agent",), tenant="acme"),
    KeySpec("admin", ("admin",), tenant="acme"),
    KeySpec("analyst", ("analyst",), tenant="acme"),
)


def example_policies() -> dict[str, str]:
    return {str(p.relative_to(EXAMPLES / "policies")): p.read_text(encoding="utf-8")
            for p in (EXAMPLES / "policies").rglob("*") if p.is_file()}


def example_tools(tree: dict[str, Any]) -> None:
    example = yaml.safe_load((EXAMPLES / "interlock.yaml").read_text(encoding="utf-8"))
    tree["tools"] = example["tools"]
    tree["approvals"] = example["approvals"]
    tree["console"] = {"refresh_seconds": 1}


def signing_seed_with_a_plus() -> str:
    """A fixed audit signing key whose public key, in base64, holds a "+": the verifier key string
    (``name+hash+base64``) must then be read by position, not split on "+"."""
    for i in range(1000):
        seed = hashlib.sha256(f"console test key {i}".encode()).digest()
        raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if "+" in base64.b64encode(b"\x01" + raw).decode():
            return base64.b64encode(seed).decode()
    raise AssertionError("no seed gave a public key with a '+' in base64")


def console_gateway(factory: GatewayFactory, store: str) -> Gateway:
    gw = factory(store, keys=KEYS, policies=example_policies(), adjust=example_tools, start=False)
    gw.env[SIGNING_KEY_ENV] = signing_seed_with_a_plus()
    gw.start()
    doc = json.loads(gw.cli(["keys", "create"], "--name", "finance", "--tenant", "acme", "--group", "finance",
                            "--json").stdout)
    gw.keys["finance"] = ApiKey(doc["key"], doc["id"], doc["principal"])
    return gw


def browser_url(gw: Gateway) -> str:
    return f"http://localhost:{gw.port}"


def api(gw: Gateway, key: str, method: str, path: str, *, headers: dict[str, str] | None = None,
        **kwargs: Any) -> httpx.Response:
    return gw.request(method, path, headers={"authorization": f"Bearer {gw.keys[key].key}", **(headers or {})},
                      **kwargs)


def refund(amount: float, payment_id: str) -> dict[str, Any]:
    return {"payment_id": payment_id, "amount": amount, "currency": "EUR"}


def hold_refund(gw: Gateway, amount: float, payment_id: str, call_id: str) -> tuple[list[dict[str, Any]], str]:
    """The support agent asks; the model proposes a refund, which policy holds for the finance group.
    Returns the conversation so far and the approval id."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Please refund the customer."}]
    scenario = {"mock": {"tool_calls": [{"name": "refund_payment", "arguments": refund(amount, payment_id),
                                         "id": call_id}]}}
    r = api(gw, "support", "POST", "/v1/chat/completions", json={"model": "mock", "messages": messages, **scenario})
    assert r.status_code == 200, r.text
    answer = r.json()
    (entry,) = answer["interlock"]["tool_calls"]
    assert entry["outcome"] == "held", entry
    messages.append({k: v for k, v in answer["choices"][0]["message"].items() if v is not None})
    return messages, entry["approval_id"]


def resume(gw: Gateway, messages: list[dict[str, Any]], approval_id: str) -> httpx.Response:
    """The agent sends the conversation again naming the approval, as the held answer told it to."""
    return api(gw, "support", "POST", "/v1/chat/completions", json={"model": "mock", "messages": messages},
               headers={"x-interlock-resume": approval_id})
