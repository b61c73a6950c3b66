"""Cedar policy through a real gateway: default deny, capabilities, decisions in the record, hot reload
under traffic, broken sets, the catalogue, shadow sets and start-up refusal."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from interlock.policy.setup import default_policy_dir
from interlock.providers.mock import MockLLM
from support.gateways import STANDARD_KEYS, Gateway, GatewayFactory, KeySpec
from support.stores import STORES

EXAMPLE_POLICIES = Path(__file__).resolve().parents[2] / "examples" / "policies"

PLAIN_AND_ADMIN = (KeySpec("plain-user"), KeySpec("analyst", ("analyst",)), KeySpec("admin", ("admin",)))

EVERYONE_EVERY_MODEL = """\
@id("t.models.everyone")
permit (principal, action == Action::"invoke_model", resource);
"""

ONLY_MOCK = """\
@id("t.models.mock-only")
permit (principal, action == Action::"invoke_model", resource == Model::"mock");
"""

# The same as the standard test set: every model but "restricted" for everyone, "restricted" for analysts.
OPEN_BUT_RESTRICTED = """\
@id("t.models.open")
permit (principal, action == Action::"invoke_model", resource)
unless { resource == Model::"restricted" };

@id("t.models.restricted-for-analysts")
permit (principal in Role::"analyst", action == Action::"invoke_model", resource == Model::"restricted");
"""

CAPABILITIES = EVERYONE_EVERY_MODEL + """
@id("t.models.no-streaming")
forbid (principal, action == Action::"invoke_model", resource)
when { context.capabilities.contains(Capability::"streaming") };

@id("t.models.token-cap")
forbid (principal, action == Action::"invoke_model", resource)
when { context has max_tokens && context.max_tokens > 1000 };
"""


def policy_set(models: str | None, **extra: str) -> dict[str, str]:
    """The built-in data and restore policies, with these model policies (None: no model policy at all)."""
    files = {name: (default_policy_dir() / name).read_text(encoding="utf-8") for name in ("data.cedar", "restore.cedar")}
    if models is not None:
        files["models.cedar"] = models
    files.update(extra)
    return files


def fast_reload(tree: dict[str, Any]) -> None:
    tree["policy"]["reload_interval_seconds"] = 0.1


def replace_file(path: Path, text: str) -> None:
    """Write a policy file the way a deployment should: whole, in one rename."""
    staging = path.with_name(path.name + ".staging")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def admin_get(gw: Gateway, path: str) -> httpx.Response:
    return gw.request("GET", path, headers={"authorization": f"Bearer {gw.keys['admin'].key}"})


def admin_post(gw: Gateway, path: str) -> httpx.Response:
    return gw.request("POST", path, headers={"authorization": f"Bearer {gw.keys['admin'].key}"})


def policy_view(gw: Gateway) -> dict[str, Any]:
    r = admin_get(gw, "/admin/policy")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def listed_models(gw: Gateway, key: str) -> set[str]:
    return {m.id for m in gw.client(gw.keys[key]).models.list()}


def metric(gw: Gateway, name: str) -> float:
    r = gw.request("GET", "/metrics")
    assert r.status_code == 200
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return 0.0


def ask(client: openai.OpenAI, model: str, **kwargs: Any) -> tuple[int, str, str]:
    """(status, error code or "", request id) of one call."""
    try:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=user("hello"), **kwargs)
    except openai.APIStatusError as exc:
        body = exc.response.json()
        return exc.status_code, body["error"]["code"], body["error"]["request_id"]
    raw.parse()
    return raw.status_code, "", raw.headers["x-request-id"]


# -- default deny ------------------------------------------------------------------------------------


def test_a_model_without_a_permit_is_denied_and_not_listed(gateway_factory: GatewayFactory, mock: MockLLM) -> None:
    gw = gateway_factory("sqlite", keys=PLAIN_AND_ADMIN, policies=policy_set(ONLY_MOCK), served=False)
    client = gw.client(gw.keys["plain-user"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="twice", messages=user("hello"))
    assert caught.value.code == "policy_denied"
    assert caught.value.param == "model"
    assert mock.received == []
    record = gw.record(caught.value.response.json()["error"]["request_id"])
    (decision,) = [d for d in record["decisions"] if d["stage"] == "authorize"]
    # Nothing permitted it, so no policy decided it: the deny is the default.
    assert decision["outcome"] == "deny"
    assert "policy_ids" not in decision
    assert record["policy_version"] == policy_view(gw)["version"]
    assert listed_models(gw, "plain-user") == {"mock"}
    assert listed_models(gw, "admin") == {"mock"}
    assert client.chat.completions.create(model="mock", messages=user("fine")).choices[0].message.content == "fine"


def test_a_set_with_no_model_policy_denies_every_model(gateway_factory: GatewayFactory, mock: MockLLM) -> None:
    gw = gateway_factory("sqlite", keys=PLAIN_AND_ADMIN, policies=policy_set(None), served=False)
    assert listed_models(gw, "admin") == set()
    admin = gw.client(gw.keys["admin"])
    for model in ("mock", "restricted", "twice"):
        status, code, _ = ask(admin, model)
        assert (status, code) == (403, "policy_denied"), model
    assert mock.received == []


# -- capabilities and bounds -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def capped(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    gw = gateway_factory("sqlite", keys=PLAIN_AND_ADMIN, policies=policy_set(CAPABILITIES), served=False)
    yield gw
    gw.stop()


def test_streaming_forbidden_but_plain_calls_allowed(capped: Gateway, mock: MockLLM) -> None:
    client = capped.client(capped.keys["plain-user"])
    raw = client.chat.completions.with_raw_response.create(model="mock", messages=user("plain"))
    assert raw.parse().choices[0].message.content == "plain"
    (allowed,) = [d for d in capped.record(raw.headers["x-request-id"])["decisions"] if d["stage"] == "authorize"]
    assert allowed == {"stage": "authorize", "outcome": "allow", "reason": allowed["reason"],
                       "policy_ids": ["t.models.everyone"]}
    mock.clear()
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="mock", messages=user("stream it"), stream=True)
    assert caught.value.code == "policy_denied"
    assert "streaming" in caught.value.message
    assert mock.received == []
    record = capped.record(caught.value.response.json()["error"]["request_id"])
    (denied,) = [d for d in record["decisions"] if d["stage"] == "authorize"]
    assert denied["outcome"] == "deny"
    assert denied["policy_ids"] == ["t.models.no-streaming"]
    # Listing models asks without capabilities: the model is still listed.
    assert "mock" in listed_models(capped, "plain-user")


@pytest.mark.parametrize(
    ("tokens", "allowed"),
    [
        pytest.param({}, True, id="no-bound"),
        pytest.param({"max_tokens": 1000}, True, id="at-the-cap"),
        pytest.param({"max_tokens": 1001}, False, id="over-the-cap"),
        pytest.param({"max_completion_tokens": 5000}, False, id="max-completion-tokens"),
        # Both travel upstream; the larger one is what the provider may honour.
        pytest.param({"max_tokens": 5000, "max_completion_tokens": 10}, False, id="both-larger-max-tokens"),
        pytest.param({"max_tokens": 10, "max_completion_tokens": 5000}, False, id="both-larger-completion"),
        pytest.param({"max_tokens": 10, "max_completion_tokens": 20}, True, id="both-small"),
    ],
)
def test_max_tokens_bound(capped: Gateway, mock: MockLLM, tokens: dict[str, int], allowed: bool) -> None:
    status, code, request_id = ask(capped.client(capped.keys["plain-user"]), "mock", **tokens)
    if allowed:
        assert status == 200
        assert len(mock.received) == 1
        return
    assert (status, code) == (403, "policy_denied")
    assert mock.received == []
    (denied,) = [d for d in capped.record(request_id)["decisions"] if d["stage"] == "authorize"]
    assert denied["policy_ids"] == ["t.models.token-cap"]


# -- every decision names its policies and the version -----------------------------------------------


@pytest.mark.parametrize("store", STORES)
def test_every_decision_carries_policy_ids_and_the_version(gateway_factory: GatewayFactory, mock: MockLLM,
                                                           store: str) -> None:
    gw = gateway_factory(store, keys=PLAIN_AND_ADMIN, policies=policy_set(OPEN_BUT_RESTRICTED), served=False)
    client = gw.client(gw.keys["plain-user"])
    text = "Mail jane.doe@example.org, card 4111 1111 1111 1111, from 10.1.2.3."
    raw = client.chat.completions.with_raw_response.create(model="mock", messages=user(text),
                                                           extra_body={"mock": {"reply": "done"}})
    record = gw.record(raw.headers["x-request-id"])
    version = policy_view(gw)["version"]
    assert record["policy_version"] == version
    assert gw.request("GET", "/readyz").json()["policy_version"] == version
    outcomes = {d["reason"].split(":")[0] if d["stage"] == "data" else d["stage"]: (d["outcome"], d["policy_ids"])
                for d in record["decisions"]}
    assert outcomes == {
        "authorize": ("allow", ["t.models.open"]),
        "pii.email": ("redact", ["default.data.personal-redacted"]),
        "pci.card_number": ("mask", ["default.data.cards-masked"]),
        "net.ip_address": ("allow", ["default.data.network-allowed"]),
    }
    # A refusal by a forbid names the forbid.
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="mock", messages=user("key AKIAZ7VRSQ5TXYJ3KW2P"))
    refused = gw.record(caught.value.response.json()["error"]["request_id"])
    assert refused["policy_version"] == version
    blocked = [d for d in refused["decisions"] if d["outcome"] == "block"]
    assert [d["policy_ids"] for d in blocked] == [["default.data.secrets-blocked"]]


# -- hot reload while traffic flows -----------------------------------------------------------------


@dataclass
class Outcome:
    model: str
    status: int
    code: str
    request_id: str


class Traffic:
    """Calls the gateway from a thread, one call after the other, until stopped."""

    def __init__(self, gw: Gateway, key: str, models: tuple[str, ...]) -> None:
        self._client = gw.client(gw.keys[key])
        self._models = models
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self.outcomes: list[Outcome] = []
        self.failure: BaseException | None = None

    def _run(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                model = self._models[i % len(self._models)]
                status, code, request_id = ask(self._client, model, extra_body={"mock": {"reply": "ok"}})
                self.outcomes.append(Outcome(model, status, code, request_id))
                i += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def calls_since(self, start: int) -> int:
        return len(self.outcomes) - start


def test_rewritten_policy_takes_effect_while_calls_flow(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory("sqlite", keys=PLAIN_AND_ADMIN, policies=policy_set(OPEN_BUT_RESTRICTED),
                         adjust=fast_reload, served=False)
    before = policy_view(gw)["version"]
    with Traffic(gw, "plain-user", ("mock",)) as traffic:
        wait_for(lambda: traffic.calls_since(0) >= 5, "calls before the change")
        # Nobody may use "mock" any more.
        replace_file(gw.directory / "policies" / "models.cedar", """\
@id("t.models.all-but-mock")
permit (principal, action == Action::"invoke_model", resource)
unless { resource == Model::"mock" };
""")
        wait_for(lambda: bool(traffic.outcomes) and traffic.outcomes[-1].status == 403, "calls being refused")
        refused_at = len(traffic.outcomes)
        wait_for(lambda: traffic.calls_since(refused_at) >= 5, "calls after the change")
    assert traffic.failure is None
    statuses = [(o.status, o.code) for o in traffic.outcomes]
    first_refusal = statuses.index((403, "policy_denied"))
    # One switch, from the old decision to the new, and nothing else.
    assert set(statuses[:first_refusal]) == {(200, "")}
    assert set(statuses[first_refusal:]) == {(403, "policy_denied")}
    view = policy_view(gw)
    assert view["version"] != before
    assert view["last_error"] is None
    versions = [gw.record(o.request_id)["policy_version"] for o in traffic.outcomes]
    assert set(versions[:first_refusal]) == {before}
    assert set(versions[first_refusal:]) == {view["version"]}
    assert "mock" not in listed_models(gw, "plain-user")


def test_broken_file_keeps_the_running_set_and_says_where(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory("sqlite", keys=PLAIN_AND_ADMIN, policies=policy_set(OPEN_BUT_RESTRICTED),
                         adjust=fast_reload, served=False)
    old = policy_view(gw)["version"]
    broken = gw.directory / "policies" / "extra.cedar"
    with Traffic(gw, "plain-user", ("mock", "restricted")) as traffic:
        wait_for(lambda: traffic.calls_since(0) >= 6, "calls before the change")
        # A valid permit for "restricted" first, then a syntax error: loading half of it would let it through.
        replace_file(broken, """\
// Open "restricted" to everyone.
@id("t.extra.restricted-for-all")
permit (principal, action == Action::"invoke_model", resource == Model::"restricted");

@id("t.extra.broken")
permit (principal, action == Action::"invoke_model", resource)
when { principal.tenant == };
""")
        wait_for(lambda: policy_view(gw)["last_error"] is not None, "the rejection")
        view = policy_view(gw)
        assert view["version"] == old
        assert "extra.cedar:7" in view["last_error"]
        assert "syntax error" in view["last_error"]
        reload = admin_post(gw, "/admin/policy/reload")
        assert reload.status_code == 409
        assert "extra.cedar:7" in reload.json()["last_error"]
        assert reload.json()["version"] == old
        ready = gw.request("GET", "/readyz")
        assert ready.status_code == 200
        assert "extra.cedar:7" in ready.json()["policy_reload_error"]
        assert ready.json()["policy_version"] == old
        broken_at = len(traffic.outcomes)
        wait_for(lambda: traffic.calls_since(broken_at) >= 10, "calls while the file is broken")

        replace_file(broken, """\
@id("t.extra.restricted-for-all")
permit (principal, action == Action::"invoke_model", resource == Model::"restricted");
""")
        wait_for(lambda: policy_view(gw)["version"] != old, "the fixed set")
        fixed_at = len(traffic.outcomes)
        wait_for(lambda: traffic.calls_since(fixed_at) >= 6, "calls after the fix")
    assert traffic.failure is None
    new = policy_view(gw)
    assert new["last_error"] is None
    assert "policy_reload_error" not in gw.request("GET", "/readyz").json()
    for o in traffic.outcomes:
        version = gw.record(o.request_id)["policy_version"]
        # Every call was decided by the old set or the fixed one, never by part of the broken one.
        assert version in (old, new["version"]), o
        if o.model == "mock" or version == new["version"]:
            assert (o.status, o.code) == (200, ""), o
        else:
            assert (o.status, o.code) == (403, "policy_denied"), o
    assert any(o.model == "restricted" and o.status == 200 for o in traffic.outcomes[fixed_at:])
    assert admin_post(gw, "/admin/policy/reload").status_code == 200


def test_catalogue_changes_are_reloaded_and_a_broken_catalogue_is_rejected(gateway_factory: GatewayFactory) -> None:
    keys = (KeySpec("sam", ("support_agent",), tenant="acme"), KeySpec("newcomer", ("support_agent",), tenant="globex"),
            KeySpec("admin", ("admin",), tenant="acme"))
    gw = gateway_factory("sqlite", keys=keys, policies=EXAMPLE_POLICIES, adjust=fast_reload, served=False)
    sam, newcomer = gw.client(gw.keys["sam"]), gw.client(gw.keys["newcomer"])
    assert ask(sam, "mock")[0] == 200
    # A tenant the catalogue does not know is denied.
    assert ask(newcomer, "mock")[:2] == (403, "policy_denied")

    catalogue = gw.directory / "policies" / "entities.yaml"
    doc = yaml.safe_load(catalogue.read_text(encoding="utf-8"))
    doc["tenants"].append("globex")
    replace_file(catalogue, yaml.safe_dump(doc))
    wait_for(lambda: ask(newcomer, "mock")[0] == 200, "the new tenant being admitted")

    replace_file(catalogue, "tenants: [acme, globex\n")
    wait_for(lambda: policy_view(gw)["last_error"] is not None, "the rejection")
    assert "entities.yaml" in policy_view(gw)["last_error"]
    assert admin_post(gw, "/admin/policy/reload").status_code == 409
    # The running set (with the tenant) stays.
    assert ask(newcomer, "mock")[0] == 200
    assert ask(sam, "mock")[0] == 200


# -- shadow -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", STORES)
def test_shadow_set_reports_differences_without_enforcing(gateway_factory: GatewayFactory, mock: MockLLM,
                                                          store: str) -> None:
    candidate = policy_set("""\
@id("shadow.models.analysts-only")
permit (principal in Role::"analyst", action == Action::"invoke_model", resource);
""")
    gw = gateway_factory(store, keys=PLAIN_AND_ADMIN, policies=policy_set(OPEN_BUT_RESTRICTED),
                         shadow_policies=candidate, served=False)
    assert metric(gw, "interlock_policy_shadow_differences_total") == 0
    plain = gw.client(gw.keys["plain-user"])
    ids = []
    for i in range(3):
        raw = plain.chat.completions.with_raw_response.create(model="mock", messages=user(f"call {i}"))
        assert raw.parse().choices[0].message.content == f"call {i}"
        ids.append(raw.headers["x-request-id"])
    assert len(mock.received) == 3
    for request_id in ids:
        record = gw.record(request_id)
        assert record["status"] == 200
        assert record["shadow_differences"] == [
            {"question": "invoke_model", "active": True, "candidate": False, "candidate_policy_ids": []}]
    # Where the candidate agrees, nothing is reported.
    agreed = gw.client(gw.keys["analyst"]).chat.completions.with_raw_response.create(model="mock",
                                                                                      messages=user("same"))
    assert "shadow_differences" not in gw.record(agreed.headers["x-request-id"])
    assert metric(gw, "interlock_policy_shadow_differences_total") == 3
    view = policy_view(gw)
    assert view["shadow"]["version"] != view["version"]
    assert view["shadow"]["dir"].endswith("shadow")
    assert gw.request("GET", "/readyz").json()["shadow_policy_version"] == view["shadow"]["version"]


# -- a set that does not load stops start-up --------------------------------------------------------

BROKEN_SYNTAX = """\
// A condition with nothing to compare with.
@id("t.broken")
permit (principal, action == Action::"invoke_model", resource)
when { principal.tenant == };
"""

BROKEN_SCHEMA = """\
@id("t.models.open")
permit (principal, action == Action::"invoke_model", resource);

@id("t.misspelt")
permit (principal, action == Action::"invoke_model", resource)
when { principal.tennant == "default" };
"""


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("text", "says"), [
    pytest.param(BROKEN_SYNTAX, ["models.cedar:4", "syntax error"], id="syntax"),
    pytest.param(BROKEN_SCHEMA, ["models.cedar:4", "t.misspelt", "tennant"], id="schema"),
])
def test_gateway_with_a_broken_policy_set_does_not_start(gateway_factory: GatewayFactory, workers: int, text: str,
                                                         says: list[str]) -> None:
    gw = gateway_factory("sqlite", workers=workers, start=False, keys=STANDARD_KEYS[1:2], policies=policy_set(text))
    gw.start(wait=False)
    assert gw.proc is not None
    try:
        code = gw.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(gw.proc.pid, signal.SIGKILL)
        gw.proc.wait()
        raise AssertionError(f"serve with {workers} worker(s) kept running on a broken policy set:\n"
                             f"{gw.log()[-3000:]}") from None
    assert code != 0
    log = gw.log()
    for needle in says:
        assert needle in log
    assert "Traceback" not in log
    with pytest.raises(httpx.ConnectError):
        httpx.get(gw.url + "/readyz", timeout=2)


def test_sighup_reloads_the_policies_and_refusals_name_the_rule(gateway_factory: GatewayFactory) -> None:
    def no_polling(tree: dict[str, Any]) -> None:
        tree["policy"]["reload_interval_seconds"] = 0

    gw = gateway_factory("sqlite", keys=PLAIN_AND_ADMIN, policies=policy_set(EVERYONE_EVERY_MODEL), adjust=no_polling)
    client = gw.client(gw.keys["plain-user"])
    assert ask(client, "mock")[0] == 200
    deny = EVERYONE_EVERY_MODEL + '\n@id("t.models.mock-closed")\nforbid (principal, action, resource == Model::"mock");\n'
    replace_file(gw.directory / "policies" / "models.cedar", deny)
    time.sleep(0.3)
    # Without polling nothing changes until the process is told.
    assert ask(client, "mock")[0] == 200
    assert gw.proc is not None
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: ask(client, "mock")[0] == 403, "the SIGHUP reload")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="mock", messages=user("hello"))
    message = refused.value.response.json()["error"]["message"]
    assert "t.models.mock-closed" in message
    assert gw.proc.poll() is None
