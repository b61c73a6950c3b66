"""``interlock policy validate|test|explain`` and ``interlock scan``, run as real child processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.cli import CliResult, run_cli_process
from support.env import clean_env

EXAMPLE_POLICIES = Path(__file__).resolve().parents[1] / "examples" / "policies"
EXAMPLE_CONFIG = EXAMPLE_POLICIES.parent / "interlock.yaml"

EMAIL = "jane.doe@example.org"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415 555 0132"
AWS_KEY_ID = "AKIAZ7VRSQ5TXYJ3KW2P"
GITHUB_TOKEN = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"

SCAN_TEXT = (f"Hello Mr. John Smith, your e-mail address is {EMAIL} and your phone: {PHONE}.\n"
             f"Pay with credit card {CARD}.\n")
SCAN_VALUES = ("John Smith", EMAIL, PHONE, CARD)


def interlock(*argv: str, stdin: bytes | str | None = None, cwd: Path | None = None) -> CliResult:
    """``python -m interlock <argv>`` as a child process, with ``stdin`` as its input."""
    if stdin is None:
        return run_cli_process(argv, cwd=cwd)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run([sys.executable, "-m", "interlock", *argv], input=data, capture_output=True,
                          env=clean_env(), timeout=60, cwd=cwd)
    return CliResult(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A copy of the example organisation's policies, free to break."""
    return Path(shutil.copytree(EXAMPLE_POLICIES, tmp_path / "policies"))


@pytest.fixture
def config(tmp_path: Path, policies: Path) -> Path:
    """A deployment on the example policies. Its store does not exist: nothing here may need one."""
    tree: dict[str, Any] = {
        "store": {"url": "postgresql://postgres@127.0.0.1:9/nowhere"},
        "providers": {"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"alias": "gpt-4o", "provider": "up", "upstream_model": "gpt-4o", "hosting": "external"},
                   {"alias": "llama-onprem", "provider": "up", "upstream_model": "llama", "hosting": "on_prem"},
                   {"alias": "mock", "provider": "up", "upstream_model": "mock", "hosting": "on_prem"}],
        "policy": {"dir": "policies"},
    }
    path = tmp_path / "interlock.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def no_traceback(done: CliResult) -> None:
    assert "Traceback" not in done.stderr
    assert "Traceback" not in done.stdout


# -- validate -----------------------------------------------------------------------------------------


def test_validate_the_example_set() -> None:
    done = interlock("policy", "validate", "--config", str(EXAMPLE_CONFIG), "--dir", str(EXAMPLE_POLICIES))
    assert done.exit_code == 0, done.stderr
    assert done.stdout.strip() == f"{EXAMPLE_POLICIES}: OK"


def test_validate_names_file_and_line_of_a_syntax_error(policies: Path) -> None:
    (policies / "broken.cedar").write_text(
        '// Support may use everything.\n'
        '@id("broken.support")\n'
        'permit (principal in Role::"support_agent", action == Action::"invoke_model", resource)\n'
        'when { context.max_tokens < };\n', encoding="utf-8")
    done = interlock("policy", "validate", "--config", str(EXAMPLE_CONFIG), "--dir", str(policies))
    assert done.exit_code == 1
    assert "broken.cedar:4: syntax error" in done.stderr
    assert f"{policies}: 1 problem(s)" in done.stderr
    assert done.stdout == ""
    no_traceback(done)


def test_validate_lists_every_schema_violation_with_file_line_and_id(policies: Path) -> None:
    models = policies / "models.cedar"
    models.write_text(models.read_text(encoding="utf-8") + """
@id("models.typo")
permit (principal, action == Action::"invoke_model", resource)
when { resource.hostng == "on_prem" };
""", encoding="utf-8")
    (policies / "more.cedar").write_text("""\
// A misspelt context attribute.
@id("more.typo")
forbid (principal, action == Action::"invoke_model", resource)
when { context.capabilites.contains(Capability::"streaming") };
""", encoding="utf-8")
    done = interlock("policy", "validate", "--config", str(EXAMPLE_CONFIG), "--dir", str(policies))
    assert done.exit_code == 1
    line = models.read_text(encoding="utf-8").splitlines().index('@id("models.typo")') + 1
    assert f"models.cedar:{line}: [models.typo] schema violation" in done.stderr
    assert "hostng" in done.stderr
    assert "more.cedar:2: [more.typo] schema violation" in done.stderr
    assert "capabilites" in done.stderr
    assert "2 problem(s)" in done.stderr
    no_traceback(done)


# -- test ---------------------------------------------------------------------------------------------


def test_policy_tests_of_the_example_set_pass() -> None:
    done = interlock("policy", "test", "--config", str(EXAMPLE_CONFIG), "--dir", str(EXAMPLE_POLICIES))
    assert done.exit_code == 0, done.stdout + done.stderr
    passed, failed = done.stdout.strip().splitlines()[-1].split(", ")
    assert failed == "0 failed"
    assert int(passed.split()[0]) >= 30


def test_a_failing_policy_test_exits_1_and_names_the_case(policies: Path) -> None:
    (policies / "tests" / "wrong.yaml").write_text("""\
principals:
  ana: {id: ana, kind: user, tenant: acme, roles: [analyst]}
cases:
  - {name: analysts may use the external model, principal: ana, action: invoke_model, resource: gpt-4o,
     expect: allow}
  - {name: analysts may use the mock, principal: ana, action: invoke_model, resource: mock, expect: allow}
""", encoding="utf-8")
    done = interlock("policy", "test", "--config", str(EXAMPLE_CONFIG), "--dir", str(policies))
    assert done.exit_code == 1
    assert "1 failed" in done.stdout
    assert "FAIL wrong.yaml: analysts may use the external model: expected allow, got deny" in done.stdout
    assert "analysts may use the mock" not in done.stdout
    # Only that file.
    only = interlock("policy", "test", "--config", str(EXAMPLE_CONFIG), "--dir", str(policies), str(policies / "tests" / "wrong.yaml"))
    assert only.exit_code == 1
    assert only.stdout.strip().splitlines()[0] == "1 passed, 1 failed"


def test_policy_tests_against_a_broken_set_fail_with_the_problem(policies: Path) -> None:
    (policies / "zz.cedar").write_text('permit (principal, action, resource)\nwhen { 1 + };\n', encoding="utf-8")
    done = interlock("policy", "test", "--config", str(EXAMPLE_CONFIG), "--dir", str(policies))
    assert done.exit_code == 1
    assert "zz.cedar:2: syntax error" in done.stderr
    no_traceback(done)


# -- explain ------------------------------------------------------------------------------------------


def explain(config: Path, request: dict[str, Any], *args: str, cwd: Path | None = None) -> dict[str, Any]:
    done = interlock("policy", "explain", "--config", str(config), *args, stdin=json.dumps(request), cwd=cwd)
    assert done.exit_code == 0, done.stderr
    no_traceback(done)
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def chat(model: str, text: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "system", "content": "You help support agents."},
                                         {"role": "user", "content": text}]}


SUPPORT = ("--principal", "sam", "--tenant", "acme", "--role", "support_agent")


@pytest.mark.parametrize(("secret", "data_class"), [(AWS_KEY_ID, "secret.api_key"), (GITHUB_TOKEN, "secret.token")])
def test_explain_shows_a_secret_blocked(config: Path, secret: str, data_class: str) -> None:
    doc = explain(config, chat("llama-onprem", f"Deploy with {secret} please"), *SUPPORT)
    assert doc["outcome"] == "refused"
    assert (doc["status"], doc["code"], doc["stage"]) == (403, "data_blocked", "protect")
    assert data_class in doc["message"]
    assert "upstream_request" not in doc
    assert {"class": data_class, "action": "block", "where": "input", "count": 1} in doc["data"]
    blocked = [d for d in doc["decisions"] if d["outcome"] == "block"]
    assert [d["policy_ids"] for d in blocked] == [["data.secrets-never-leave"]]
    assert secret not in json.dumps(doc)


def test_explain_shows_the_redacted_upstream_request(config: Path) -> None:
    doc = explain(config, chat("gpt-4o", f"Mail {EMAIL} about card {CARD}."), *SUPPORT)
    assert doc["outcome"] == "would be sent"
    assert doc["upstream_request"] == {"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You help support agents."},
        {"role": "user", "content": "Mail [EMAIL_1] about card ****1111."}]}
    assert sorted((d["class"], d["action"]) for d in doc["data"]) == [("pci.card_number", "mask"),
                                                                       ("pii.email", "redact")]
    ids = {d["reason"].split(":")[0]: d["policy_ids"] for d in doc["decisions"] if d["stage"] == "data"}
    assert ids == {"pii.email": ["data.pii-redacted"], "pci.card_number": ["data.cards-masked"]}
    (model,) = [d for d in doc["decisions"] if d["stage"] == "authorize"]
    assert model["policy_ids"] == ["models.external-for-support-engineering"]
    assert doc["policy_version"]
    assert EMAIL not in json.dumps(doc)


def test_explain_on_prem_sends_pii_in_clear_and_refuses_an_analyst_outside(config: Path) -> None:
    on_prem = explain(config, chat("llama-onprem", f"Mail {EMAIL}."), *SUPPORT)
    assert on_prem["upstream_request"]["messages"][1]["content"] == f"Mail {EMAIL}."
    analyst = explain(config, chat("gpt-4o", "hello"), "--principal", "ana", "--tenant", "acme", "--role", "analyst")
    assert (analyst["outcome"], analyst["code"], analyst["stage"]) == ("refused", "policy_denied", "authorize")


def test_explain_needs_no_store_and_leaves_nothing_behind(tmp_path: Path) -> None:
    # No settings file: the built-in defaults, whose store would be ./interlock.db.
    workdir = tmp_path / "work"
    workdir.mkdir()
    done = interlock("policy", "explain", "--principal", "alice", stdin=json.dumps(chat("mock", f"Mail {EMAIL}.")),
                     cwd=workdir)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["upstream_request"]["messages"][1]["content"] == "Mail [EMAIL_1]."
    assert list(workdir.iterdir()) == []


# -- scan ---------------------------------------------------------------------------------------------


def test_scan_redacts_stdin() -> None:
    done = interlock("scan", stdin=SCAN_TEXT)
    assert done.exit_code == 0, done.stderr
    assert done.stdout == ("Hello Mr. [NAME_1], your e-mail address is [EMAIL_1] and your phone: [PHONE_1].\n"
                           "Pay with credit card [CARD_1].\n")
    # The findings go to stderr, with classes and reasons but no value.
    for data_class in ("pii.name", "pii.email", "pii.phone", "pci.card_number"):
        assert data_class in done.stderr
    for value in SCAN_VALUES:
        assert value not in done.stderr


def test_scan_json_lists_findings_without_values(tmp_path: Path) -> None:
    text = SCAN_TEXT + f"aws_access_key_id = {AWS_KEY_ID}\n"
    source = tmp_path / "note.txt"
    source.write_text(text, encoding="utf-8")
    done = interlock("scan", "--json", str(source))
    assert done.exit_code == 0, done.stderr
    doc = json.loads(done.stdout)
    found = {(f["data_class"], text[f["start"]:f["end"]]) for f in doc["findings"]}
    assert found == {("pii.name", "John Smith"), ("pii.email", EMAIL), ("pii.phone", PHONE),
                     ("pci.card_number", CARD), ("secret.api_key", AWS_KEY_ID)}
    for f in doc["findings"]:
        assert set(f) == {"data_class", "start", "end", "confidence", "detector", "explanation"}
        assert f["explanation"]
        assert 0 < f["confidence"] <= 1
    findings = json.dumps(doc["findings"])
    for value in (*SCAN_VALUES, AWS_KEY_ID, "Smith"):
        assert value not in findings
    assert doc["counts"] == {"pci.card_number": 1, "pii.email": 1, "pii.name": 1, "pii.phone": 1,
                             "secret.api_key": 1}
    assert "[API_KEY_1]" in doc["redacted"]
    assert AWS_KEY_ID not in doc["redacted"]


def test_scan_decides_as_for_a_model(config: Path) -> None:
    text = f"Mail {EMAIL}, card {CARD}."
    outside = interlock("scan", "--config", str(config), "--model", "gpt-4o", stdin=text)
    assert outside.exit_code == 0, outside.stderr
    assert outside.stdout == "Mail [EMAIL_1], card ****1111."
    on_prem = interlock("scan", "--config", str(config), "--model", "llama-onprem", stdin=text)
    assert on_prem.exit_code == 0, on_prem.stderr
    assert on_prem.stdout == f"Mail {EMAIL}, card ****1111."
    secret = interlock("scan", "--config", str(config), "--model", "llama-onprem", stdin=f"key {AWS_KEY_ID}")
    assert secret.exit_code == 1
    assert "secret.api_key" in secret.stderr
    assert AWS_KEY_ID not in secret.stderr + secret.stdout
    unknown = interlock("scan", "--config", str(config), "--model", "gpt-5", stdin=text)
    assert unknown.exit_code == 1
    assert "gpt-5" in unknown.stderr
    assert "gpt-4o" in unknown.stderr
    no_traceback(unknown)


@pytest.mark.parametrize("data", [b"mail jane.doe@example.org \xff\xfe end", b"\xc3\x28", b"ok \xed\xa0\x80 surrogate"])
def test_scan_of_invalid_utf8_is_a_clear_error(data: bytes) -> None:
    done = interlock("scan", stdin=data)
    assert done.exit_code == 1
    assert done.stderr.strip() == "Error: the input is not valid UTF-8 text"
    assert done.stdout == ""
    no_traceback(done)
