"""Settings files and policy sets for test gateways, written the way a deployment writes them."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from interlock.policy.setup import default_policy_dir
from support.identity import JWT_AUDIENCE, JWT_ISSUER

MODELS_POLICY = """\
// Every caller may use every model but one; that one is for analysts.

@id("test.models.open")
permit (principal, action == Action::"invoke_model", resource)
unless { resource == Model::"restricted" };

@id("test.models.restricted-for-analysts")
permit (principal in Role::"analyst", action == Action::"invoke_model", resource == Model::"restricted");
"""

# A policy set for a test gateway: a directory to copy, or file names (relative) mapped to their text.
PolicySource = Path | Mapping[str, str]


def default_policies() -> dict[str, str]:
    """The standard test policy set as file name -> text: the built-in data, restore and tool policies, with
    model access narrowed (``restricted`` is for analysts). Replace a file to change one concern."""
    files = {name: (default_policy_dir() / name).read_text(encoding="utf-8")
             for name in ("data.cedar", "restore.cedar", "tools.cedar", "knowledge.cedar", "usecases.cedar")}
    return {**files, "models.cedar": MODELS_POLICY}


def write_policies(directory: Path) -> Path:
    """The standard test policy set (``default_policies``) written into ``directory``."""
    return place_policies(directory, default_policies())


def place_policies(directory: Path, source: PolicySource) -> Path:
    """Fill ``directory`` with a policy set: a copy of a directory, or the given files."""
    if isinstance(source, Path):
        shutil.copytree(source, directory)
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in source.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def write_settings(path: Path, tree: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


def gateway_settings(*, mock_base_url: str, dead_port: int, store_url: str, workers: int = 1,
                     jwks_file: str | None = "jwks.json", policy_dir: str = "policies") -> dict[str, Any]:
    """The settings every test gateway uses; callers adjust the returned tree before writing it.

    Relative paths (the JWKS, the policies) are relative to the settings file, as a deployment's are.
    """
    settings: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080, "workers": workers, "shutdown_grace_seconds": 10},
        "limits": {"max_body_bytes": 256 * 1024, "max_json_depth": 32},
        "store": {"url": store_url, "commit_timeout_seconds": 5},
        "policy": {"dir": policy_dir, "tenants": ["default", "other"],
                   "roles": ["admin", "analyst", "ops", "reviewer"]},
        # The mock speaks the OpenAI format (type openai, as a real provider would be configured); tests
        # script it with a top-level "mock" field, which the gateway forwards unread only because it is
        # passed through here.
        "providers": {
            "upstream": {"type": "openai", "base_url": mock_base_url, "pass_through_fields": ["mock"]},
            # Same mock, but the gateway gives up on it quickly.
            "slowup": {"type": "openai", "base_url": mock_base_url, "read_timeout_seconds": 0.5,
                       "pass_through_fields": ["mock"]},
            # A port that is bound and never listens: every connection is refused.
            "dead": {"type": "openai", "base_url": f"http://127.0.0.1:{dead_port}/v1",
                     "connect_timeout_seconds": 2, "pass_through_fields": ["mock"]},
        },
        "models": [
            {"alias": "mock", "provider": "upstream", "upstream_model": "mock"},
            # Analysts only (policies/models.cedar).
            {"alias": "restricted", "provider": "upstream", "upstream_model": "mock"},
            {"alias": "flaky", "provider": "dead", "upstream_model": "mock", "fallbacks": ["mock"]},
            {"alias": "down", "provider": "dead", "upstream_model": "mock"},
            {"alias": "slow", "provider": "slowup", "upstream_model": "mock"},
            # Both routes reach the mock: shows whether a failure was retried on the fallback.
            {"alias": "twice", "provider": "upstream", "upstream_model": "mock", "fallbacks": ["mock"]},
        ],
        # Every tool call a model proposes is judged against the registry: this one runs (low risk).
        "tools": [
            {"name": "get_weather", "description": "Current weather", "risk": "low", "side_effects": "read",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        ],
    }
    if jwks_file is not None:
        settings["identity"] = {"jwt": {"issuer": JWT_ISSUER, "audience": JWT_AUDIENCE, "jwks_file": jwks_file}}
    return settings
