"""A gateway for the console's tests: the example deployment's tools, approval routes and policies, the
people who ask and decide, and helpers to hold a tool call and resume it as the agent would.

Browsers reach a served gateway (a real socket) at ``localhost``, which browsers count as a secure
origin, so the console's Secure cookies work as they would over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
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
    # The support assistant's owner: no role, named as its owner in the manifest.
    KeySpec("olly", (), tenant="acme"),
)

# The support agent's calls belong to the support assistant (it is bound to the agent); the knowledge
# bot has another owner. Both are read by the use-case and cost pages.
USE_CASES: dict[str, dict[str, Any]] = {
    "support-assistant": {
        "name": "support-assistant", "purpose": "Help support agents answer customers and refund them.",
        "owner": {"name": "Olly Owner", "email": "olly@acme.example", "principal": "olly"},
        "escalation": [{"name": "Support lead", "email": "lead@acme.example"}],
        "applications": ["support"], "models": ["mock"], "tools": ["refund_payment", "send_email"],
        "budgets": ["support-daily"],
        "slos": {"p95_latency_ms": 5000, "error_rate": 0.05, "min_calls": 3},
        "expectations": {"cost_per_task_usd": 0.00001, "monthly_volume": 3000, "latency_target_ms": 2000},
        "alerts": [{"name": "errors", "when": "error_rate > 0.05 over 10m", "notify": ["lead@acme.example"]}],
        "state": "pilot",
    },
    "kb-bot": {
        "name": "kb-bot", "purpose": "Answer employees from the handbook.",
        "owner": {"name": "Kim Other", "email": "kim@acme.example", "principal": "kim"},
        "users": {"groups": ["engineering"]}, "models": ["mock"], "state": "draft",
    },
}


def example_policies() -> dict[str, str]:
    return {str(p.relative_to(EXAMPLES / "policies")): p.read_text(encoding="utf-8")
            for p in (EXAMPLES / "policies").rglob("*") if p.is_file()}


def example_tools(tree: dict[str, Any]) -> None:
    example = yaml.safe_load((EXAMPLES / "interlock.yaml").read_text(encoding="utf-8"))
    tree["tools"] = example["tools"]
    tree["approvals"] = example["approvals"]
    tree["console"] = {"refresh_seconds": 1}
    tree["use_cases"] = {"dir": "usecases", "required": False}
    # Priced in round figures (USD per million tokens), so every call has a cost and a money budget counts.
    for model in tree["models"]:
        model["price"] = {"input": 10.0, "output": 20.0}
    tree.setdefault("usage", {})["budgets"] = [
        {"name": "support-daily", "scope": "use_case", "match": "support-assistant", "window": "day", "usd": 5}]


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
    (gw.directory / "usecases").mkdir()
    for name, doc in USE_CASES.items():
        (gw.directory / "usecases" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
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


SET_COOKIE = re.compile(r"^([^=]+)=([^;]*)")


def cookies_of(response: httpx.Response) -> dict[str, str]:
    out = {}
    for header in response.headers.get_list("set-cookie"):
        m = SET_COOKIE.match(header)
        assert m is not None, header
        out[m.group(1)] = m.group(2)
    return out


def csrf_in(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None, "the page has no form with a CSRF token"
    return m.group(1)


class Browser:
    """What a browser keeps between requests over plain HTTP: the cookies (sent by hand, as they are Secure)."""

    def __init__(self, gw: Gateway) -> None:
        self.http = gw.http(follow_redirects=False)
        self.jar: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.jar.items() if v)
        r = self.http.request(method, path, headers={"cookie": cookie} if cookie else {}, **kwargs)  # type: ignore[arg-type]
        self.jar.update(cookies_of(r))
        return r

    def sign_in(self, key: str) -> httpx.Response:
        form = self.request("GET", "/console/sign-in")
        return self.request("POST", "/console/sign-in", data={"csrf": csrf_in(form.text), "api_key": key})
