"""The ``interlock`` command: check-config, keys, audit tail/export, run as a real child process."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.providers.mock import MockLLM
from support.cli import CliResult, run_cli_process
from support.gateways import Gateway

BASE: dict[str, Any] = {
    "store": {"url": "sqlite:///data/interlock.db"},
    "providers": {"upstream": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
    "models": [{"alias": "mock", "provider": "upstream", "upstream_model": "mock"},
               {"alias": "backup", "provider": "upstream", "upstream_model": "m2", "fallbacks": ["mock"]}],
    "policy": {"tenants": ["default", "acme"], "roles": ["analyst", "ops"]},
}


def write(path: Path, tree: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def interlock(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    return run_cli_process(argv, cwd=cwd, env=env)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write(tmp_path / "conf" / "interlock.yaml", BASE)


def test_version() -> None:
    done = interlock("--version")
    assert done.exit_code == 0
    assert "version" in done.stdout


# -- check-config ------------------------------------------------------------------------------------


def test_check_config_says_what_is_configured(config: Path) -> None:
    done = interlock("check-config", "--config", str(config))
    assert done.exit_code == 0, done.stderr
    assert "provider upstream: openai at http://127.0.0.1:9/v1" in done.stdout
    assert "model mock: upstream/mock" in done.stdout
    assert "model backup: upstream/m2 (fallbacks: mock)" in done.stdout
    assert f"store: sqlite:///{(config.parent / 'data' / 'interlock.db').resolve()}" in done.stdout
    assert done.stdout.rstrip().endswith(f"{config}: OK")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        pytest.param({"server": {"port": -1}}, "server.port", id="bad-port"),
        pytest.param({"models": [{"alias": "m", "provider": "ghost", "upstream_model": "x"}]}, "provider 'ghost'",
                     id="unknown-provider"),
        pytest.param({"models": [{"alias": "m", "provider": "upstream", "upstream_model": "x",
                                  "fallbacks": ["phantom"]}]}, "unknown alias 'phantom'", id="unknown-fallback"),
    ],
)
def test_check_config_refuses_a_bad_file(tmp_path: Path, change: dict[str, Any], says: str) -> None:
    path = write(tmp_path / "bad.yaml", {**BASE, **change})
    done = interlock("check-config", "--config", str(path))
    assert done.exit_code == 1
    assert done.stderr.startswith(f"Error: {path}: invalid configuration")
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_check_config_names_a_missing_api_key_variable(tmp_path: Path) -> None:
    tree = {**BASE, "providers": {"upstream": {"base_url": "https://api.example/v1",
                                               "api_key_env": "INTERLOCK_TEST_MISSING_KEY"}}}
    path = write(tmp_path / "interlock.yaml", tree)
    done = interlock("check-config", "--config", str(path))
    assert done.exit_code == 1
    assert str(path) in done.stderr
    assert "INTERLOCK_TEST_MISSING_KEY" in done.stderr
    assert "api_key_env" in done.stderr
    ok = interlock("check-config", "--config", str(path), env={"INTERLOCK_TEST_MISSING_KEY": "sk-present"})
    assert ok.exit_code == 0, ok.stderr
    assert "sk-present" not in ok.stdout


def test_the_example_deployment_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "interlock.yaml"
    done = interlock("check-config", "--config", str(example), env={"OPENAI_API_KEY": "sk-unused"})
    assert done.exit_code == 0, done.stderr
    assert "model gpt-4o" in done.stdout


def test_check_config_never_prints_a_store_password(tmp_path: Path) -> None:
    path = write(tmp_path / "interlock.yaml",
                 {**BASE, "store": {"url": "postgresql://gateway:hunter2secret@db.internal:5432/interlock"}})
    done = interlock("check-config", "--config", str(path))
    assert done.exit_code == 0, done.stderr
    assert "hunter2secret" not in done.stdout + done.stderr
    assert "store: postgresql://gateway:***@db.internal:5432/interlock" in done.stdout


def test_check_config_reads_the_environment(config: Path) -> None:
    done = interlock("check-config", "--config", str(config), env={"INTERLOCK_STORE__URL": "sqlite:////tmp/x.db"})
    assert done.exit_code == 0
    assert "store: sqlite:////tmp/x.db" in done.stdout


# -- keys --------------------------------------------------------------------------------------------


def test_keys_create_list_revoke(config: Path, tmp_path: Path) -> None:
    created = interlock("keys", "create", "--config", str(config), "--name", "ci-bot", "--kind", "service",
                        "--tenant", "acme", "--role", "analyst", "--role", "ops", "--json")
    assert created.exit_code == 0, created.stderr
    doc = json.loads(created.stdout)
    assert set(doc) == {"key", "id", "principal"}
    assert doc["principal"] == "ci-bot"
    plain = interlock("keys", "create", "--config", str(config), "--name", "human", "--principal", "h-42")
    assert plain.exit_code == 0
    key = plain.stdout.strip()
    assert key.startswith("il_")
    assert "shown once" in plain.stderr
    listing = interlock("keys", "list", "--config", str(config))
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 2
    bot = next(ln for ln in lines if ln.startswith(doc["id"]))
    assert "service" in bot
    assert "tenant=acme" in bot
    assert "roles=analyst,ops" in bot
    assert "active" in bot
    assert any("h-42" in ln for ln in lines)
    assert doc["key"] not in listing.stdout
    assert key not in listing.stdout
    revoked = interlock("keys", "revoke", "--config", str(config), doc["id"])
    assert revoked.exit_code == 0
    listing = interlock("keys", "list", "--config", str(config))
    assert "revoked" in next(ln for ln in listing.stdout.splitlines() if ln.startswith(doc["id"]))


def test_keys_go_next_to_the_settings_file_whatever_the_working_directory(config: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = interlock("keys", "create", "--config", str(config), "--name", "x", cwd=elsewhere)
    assert done.exit_code == 0, done.stderr
    assert (config.parent / "data" / "interlock.db").exists()
    assert list(elsewhere.iterdir()) == []


def test_keys_follow_the_store_url_from_the_environment(config: Path, tmp_path: Path) -> None:
    env = {"INTERLOCK_STORE__URL": "sqlite:///" + str(tmp_path / "env-store.db")}
    done = interlock("keys", "create", "--config", str(config), "--name", "env-key", "--json", env=env)
    assert done.exit_code == 0, done.stderr
    key_id = json.loads(done.stdout)["id"]
    assert (tmp_path / "env-store.db").exists()
    assert key_id in interlock("keys", "list", "--config", str(config), env=env).stdout
    assert not (config.parent / "data" / "interlock.db").exists()


def test_unreachable_store_is_a_clean_error(tmp_path: Path, dead_port: int) -> None:
    path = write(tmp_path / "interlock.yaml",
                 {**BASE, "store": {"url": f"postgresql://postgres:pw-not-shown@127.0.0.1:{dead_port}/x"}})
    done = interlock("keys", "list", "--config", str(path))
    assert done.exit_code == 1
    assert done.stderr.startswith("Error: cannot open the store")
    assert str(dead_port) in done.stderr
    assert "pw-not-shown" not in done.stderr
    assert "Traceback" not in done.stderr


def test_keys_revoke_unknown_id(config: Path) -> None:
    done = interlock("keys", "revoke", "--config", str(config), "key_0000")
    assert done.exit_code == 1
    assert "key_0000" in done.stderr


# -- audit -------------------------------------------------------------------------------------------


def _calls(gateway: Gateway, n: int) -> list[str]:
    ids = []
    with gateway.http() as http:
        for i in range(n):
            r = http.post("/v1/chat/completions", headers={"authorization": f"Bearer {gateway.keys['analyst'].key}"},
                          json={"model": "mock", "messages": [{"role": "user", "content": f"cli {i}"}]})
            assert r.status_code == 200
            ids.append(r.headers["x-request-id"])
    return ids


def test_audit_tail_shows_the_newest_oldest_first(gateway: Gateway, mock: MockLLM) -> None:
    ids = _calls(gateway, 3)
    done = gateway.cli(["audit", "tail"], "-n", "3", in_process=False)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["request_id"] for r in rows] == ids
    assert rows[0]["seq"] < rows[1]["seq"] < rows[2]["seq"]
    assert all(r["principal"] == "analyst" for r in rows)


def test_audit_export_is_every_record_in_order_with_filters(gateway: Gateway, mock: MockLLM) -> None:
    start = time.time()
    ids = _calls(gateway, 2)
    everything = gateway.export()
    seqs = [r["seq"] for r in everything]
    assert seqs == sorted(seqs)
    assert len(everything) == len(gateway.records())
    recent = gateway.cli(["audit", "export"], "--since", str(start - 1), in_process=False)
    recent_ids = [json.loads(line)["request_id"] for line in recent.stdout.splitlines()]
    assert recent_ids[-2:] == ids
    none_yet = gateway.cli(["audit", "export"], "--until", "1", in_process=False)
    assert none_yet.stdout == ""
    other = gateway.cli(["audit", "export"], "--tenant", "no-such-tenant", in_process=False)
    assert other.stdout == ""


@pytest.mark.parametrize(("args", "says"), [
    pytest.param(["--role", "wizard"], "unknown role(s) wizard", id="unknown-role"),
    pytest.param(["--ttl", "0"], "positive number of seconds", id="zero-ttl"),
    pytest.param(["--ttl", "-60"], "positive number of seconds", id="negative-ttl"),
])
def test_keys_create_refuses_what_the_catalogue_does_not_know(config: Path, args: list[str], says: str) -> None:
    done = interlock("keys", "create", "--config", str(config), "--name", "x", *args)
    assert done.exit_code == 1
    assert says in done.stderr
    assert "il_" not in done.stdout


def test_a_key_for_a_principal_that_holds_keys_needs_force_and_says_so(config: Path) -> None:
    first = interlock("keys", "create", "--config", str(config), "--name", "alice-laptop", "--principal", "alice")
    assert first.exit_code == 0, first.stderr
    borrowed = interlock("keys", "create", "--config", str(config), "--name", "mallory", "--principal", "alice")
    assert borrowed.exit_code == 1
    assert "already holds keys" in borrowed.stderr
    rotated = interlock("keys", "create", "--config", str(config), "--name", "alice-new", "--principal", "alice",
                        "--force")
    assert rotated.exit_code == 0, rotated.stderr
    lines = interlock("keys", "list", "--config", str(config)).stdout.splitlines()
    assert len([ln for ln in lines if " alice " in ln]) == 2
    assert sum("(forced)" in ln for ln in lines) == 1
    assert all("by=cli:" in ln for ln in lines)
