"""The deployment files users copy (deploy/): they parse, agree with each other, and the settings they
ship load. Docker itself is not run here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from support.env import clean_env

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _yaml(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)s", value)
    assert m, value
    return float(m.group(1))


def test_the_compose_file_runs_instances_behind_a_checked_load_balancer() -> None:
    compose = _yaml("compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "interlock", "lb"}
    gateway = services["interlock"]
    assert gateway["deploy"]["replicas"] >= 2
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]
    assert "healthcheck" in services["redis"]
    env = gateway["environment"]
    assert env["INTERLOCK_STORE__URL"].startswith("postgresql://")
    assert "INTERLOCK_AUDIT_SIGNING_KEY" in env  # every instance signs with the same key
    # Every file a service mounts is in the repository, relative to deploy/.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
    # Calls in flight finish before the container is killed.
    settings = _yaml("interlock.yaml")
    assert _seconds(gateway["stop_grace_period"]) > settings["server"]["shutdown_grace_seconds"]
    assert gateway["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_load_balancer_routes_only_to_ready_instances_on_the_gateway_port() -> None:
    cfg = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    port = _yaml("interlock.yaml")["server"]["port"]
    assert "option httpchk GET /readyz" in cfg
    assert "http-check expect status 200" in cfg
    assert re.search(rf"server-template interlock \d+ interlock:{port} check", cfg)
    assert "option redispatch" in cfg
    lb = _yaml("compose.yaml")["services"]["lb"]
    assert any(v.startswith("./haproxy.cfg:") for v in lb["volumes"])


def test_the_image_serves_the_mounted_settings_on_the_gateway_port() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    port = _yaml("interlock.yaml")["server"]["port"]
    assert f"EXPOSE {port}" in dockerfile
    assert f"127.0.0.1:{port}/readyz" in dockerfile
    mounts = _yaml("compose.yaml")["services"]["interlock"]["volumes"]
    assert "./interlock.yaml:/etc/interlock/interlock.yaml:ro" in mounts
    assert '"--config", "/etc/interlock/interlock.yaml"' in dockerfile
    assert "USER interlock" in dockerfile


def test_the_shipped_settings_load() -> None:
    env = {**clean_env(), "OPENAI_API_KEY": "sk-test",
           "INTERLOCK_POLICY__DIR": str(DEPLOY.parent / "examples" / "policies")}
    done = subprocess.run([sys.executable, "-m", "interlock", "check-config", "--config", str(DEPLOY / "interlock.yaml")],
                          capture_output=True, text=True, env=env, timeout=120, check=False, cwd=os.getcwd())
    assert done.returncode == 0, done.stdout + done.stderr
