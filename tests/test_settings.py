"""Settings: validated once, errors that name the file and the key, environment overrides, relative paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from interlock.settings import ConfigError, Settings, load_settings

BASE: dict[str, Any] = {
    "providers": {"upstream": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
    "models": [{"alias": "mock", "provider": "upstream", "upstream_model": "mock"}],
}


def write(tmp_path: Path, tree: Any, name: str = "interlock.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tree if isinstance(tree, str) else yaml.safe_dump(tree), encoding="utf-8")
    return path


def with_(**sections: Any) -> dict[str, Any]:
    return {**BASE, **sections}


def config_error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {})
    return str(caught.value)


def test_a_valid_file_loads(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, with_(server={"port": 9000, "workers": 3})), environ={})
    assert s.server.port == 9000
    assert s.server.workers == 3
    assert s.model("mock") is not None
    assert s.model("nope") is None
    assert s.providers["upstream"].base_url == "http://127.0.0.1:9/v1"
    assert s.source == str(tmp_path / "interlock.yaml")


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""), environ={})
    assert s.models == ()
    assert s.server.port == 8080


def test_embedded_defaults_serve_the_mock_on_their_own_port() -> None:
    s = load_settings(None, environ={"INTERLOCK_SERVER__PORT": "8123"})
    assert s.server.port == 8123
    assert s.server.mount_mock is True
    assert s.providers["mock"].base_url == "http://127.0.0.1:8123/_mock/v1"
    assert [m.alias for m in s.models] == ["mock"]


@pytest.mark.parametrize(
    ("tree", "key", "says"),
    [
        pytest.param(with_(server={"port": 70000}), "server.port", "less than or equal to 65535", id="port-too-big"),
        pytest.param(with_(server={"port": "eighty"}), "server.port", "integer", id="port-not-a-number"),
        pytest.param(with_(server={"workers": 0}), "server.workers", "greater than or equal to 1", id="no-workers"),
        pytest.param(with_(server={"prot": 80}), "server.prot", "Extra inputs", id="misspelt-key"),
        pytest.param(with_(store={"url": "mysql://db/x"}), "store.url", "sqlite:// or postgresql://",
                     id="store-scheme"),
        pytest.param(with_(limits={"max_json_depth": 2}), "limits.max_json_depth", "greater than or equal to 4",
                     id="depth-too-small"),
        pytest.param(with_(server={"header_timeout_seconds": 0}), "server.header_timeout_seconds", "greater than 0",
                     id="no-header-deadline"),
        pytest.param(with_(server={"body_timeout_seconds": -1}), "server.body_timeout_seconds", "greater than 0",
                     id="negative-body-deadline"),
        pytest.param(with_(server={"max_connections": 0}), "server.max_connections", "greater than or equal to 1",
                     id="no-connections"),
        pytest.param(with_(limits={"max_header_bytes": 100}), "limits.max_header_bytes",
                     "greater than or equal to 1024", id="headers-too-small"),
        pytest.param({**BASE, "providers": {"upstream": {"base_url": "ftp://x"}}}, "providers.upstream.base_url",
                     "http", id="provider-url"),
        pytest.param({**BASE, "providers": {"upstream": {"type": "openai"}}}, "providers.upstream.base_url",
                     "Field required", id="provider-without-url"),
        pytest.param(with_(models=[{"alias": "m", "provider": "nowhere", "upstream_model": "x"}]), "models",
                     "provider 'nowhere'", id="unknown-provider"),
        pytest.param(with_(models=[{"alias": "m", "provider": "upstream", "upstream_model": "x",
                                    "fallbacks": ["ghost"]}]), "models", "unknown alias 'ghost'",
                     id="fallback-to-unknown-alias"),
        pytest.param(with_(models=[{"alias": "m", "provider": "upstream", "upstream_model": "x",
                                    "fallbacks": ["m"]}]), "models", "falls back to itself", id="fallback-to-self"),
        pytest.param(with_(models=[BASE["models"][0], BASE["models"][0]]), "models", "share an alias",
                     id="duplicate-alias"),
        pytest.param(with_(audit={"integrator_lease_seconds": 0.3, "integrate_interval_seconds": 0.2}), "audit",
                     "must exceed twice integrate_interval_seconds", id="lease-shorter-than-two-rounds"),
        pytest.param(with_(audit={"gap_timeout_seconds": 0}), "audit.gap_timeout_seconds", "greater than 0",
                     id="no-gap-timeout"),
        pytest.param(with_(identity={"jwt": {"issuer": "i", "audience": "a"}}), "identity.jwt",
                     "exactly one of jwks_file or jwks_url", id="jwt-without-keys"),
        pytest.param(with_(identity={"jwt": {"issuer": "i", "audience": "a", "jwks_file": "k.json",
                                             "algorithms": ["HS256"]}}), "identity.jwt.algorithms", "RS256",
                     id="jwt-symmetric-algorithm"),
    ],
)
def test_validation_errors_name_the_file_and_the_key(tmp_path: Path, tree: dict[str, Any], key: str,
                                                      says: str) -> None:
    path = write(tmp_path, tree)
    message = config_error(path)
    assert message.startswith(f"{path}: invalid configuration")
    assert key in message
    assert says in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("server: [unclosed", "not valid YAML", id="bad-yaml"),
        pytest.param("- just\n- a list\n", "must be a mapping", id="not-a-mapping"),
    ],
)
def test_unreadable_files_are_named(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    message = config_error(path)
    assert message.startswith(str(path))
    assert says in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    message = config_error(path)
    assert str(path) in message
    assert "cannot read" in message


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, with_(store={"url": "sqlite:///from-file.db"}, server={"port": 9000}))
    s = load_settings(path, environ={"INTERLOCK_STORE__URL": "postgresql://postgres@127.0.0.1:5432/other",
                                     "INTERLOCK_SERVER__PORT": "9100", "INTERLOCK_LIMITS__MAX_JSON_DEPTH": "40",
                                     "UNRELATED": "x", "INTERLOCK_NO_DOUBLE_UNDERSCORE": "ignored"})
    assert s.store.url == "postgresql://postgres@127.0.0.1:5432/other"
    assert s.store.dialect == "postgresql"
    assert s.server.port == 9100
    assert s.limits.max_json_depth == 40


def test_an_invalid_environment_override_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    message = config_error(path, {"INTERLOCK_SERVER__PORT": "99999"})
    assert "server.port" in message


def test_the_process_environment_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE__URL", "sqlite:////var/lib/interlock/from-env.db")
    assert load_settings(write(tmp_path, BASE)).store.url == "sqlite:////var/lib/interlock/from-env.db"


def test_relative_sqlite_path_is_relative_to_the_settings_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "deploy" / "conf"
    path = write(conf_dir, with_(store={"url": "sqlite:///data/interlock.db"}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    s = load_settings(path, environ={})
    assert s.store.url == "sqlite:///" + str((conf_dir / "data" / "interlock.db").resolve())
    # So is a relative path that comes from the environment.
    s = load_settings(path, environ={"INTERLOCK_STORE__URL": "sqlite:///../env.db"})
    assert s.store.url == "sqlite:///" + str((tmp_path / "deploy" / "env.db").resolve())


def test_absolute_sqlite_path_and_memory_stay_as_they_are(tmp_path: Path) -> None:
    path = write(tmp_path, with_(store={"url": "sqlite:////srv/interlock.db"}))
    assert load_settings(path, environ={}).store.url == "sqlite:////srv/interlock.db"
    path = write(tmp_path, with_(store={"url": "sqlite:///:memory:"}))
    assert load_settings(path, environ={}).store.url == "sqlite:///:memory:"


def test_other_relative_files_are_relative_to_the_settings_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "conf"
    tree = with_(identity={"jwt": {"issuer": "i", "audience": "a", "jwks_file": "keys/jwks.json"}})
    tree["providers"]["upstream"]["api_key_file"] = "secrets/upstream.key"
    path = write(conf_dir, tree)
    monkeypatch.chdir(tmp_path)
    s = load_settings(path, environ={})
    assert s.identity.jwt is not None
    assert s.identity.jwt.jwks_file == (conf_dir / "keys" / "jwks.json").resolve()
    assert s.providers["upstream"].api_key_file == (conf_dir / "secrets" / "upstream.key").resolve()


def test_upstream_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "up.key").write_text("sk-from-file\n", encoding="utf-8")
    tree = with_()
    tree["providers"] = {
        "env": {"base_url": "http://a", "api_key_env": "TEST_UPSTREAM_KEY"},
        "file": {"base_url": "http://b", "api_key_file": "up.key"},
        "none": {"base_url": "http://c"},
        "missing": {"base_url": "http://d", "api_key_file": "absent.key"},
    }
    tree["models"] = []
    s = load_settings(write(tmp_path, tree), environ={})
    monkeypatch.delenv("TEST_UPSTREAM_KEY", raising=False)
    with pytest.raises(ConfigError, match="TEST_UPSTREAM_KEY"):
        s.providers["env"].api_key()
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-from-env")
    assert s.providers["env"].api_key() == "sk-from-env"
    assert s.providers["file"].api_key() == "sk-from-file"
    assert s.providers["none"].api_key() is None
    with pytest.raises(ConfigError, match=r"absent\.key"):
        s.providers["missing"].api_key()


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, BASE), environ={})
    with pytest.raises(ValidationError):
        s.server.port = 1
    assert isinstance(s, Settings)
