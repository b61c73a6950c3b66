"""Helpers for the tests of the audit log as the service keeps it: stores, settings files, the CLI, gateways, SQL.

Every log lives in a real store: a SQLite file in the test's directory, or a fresh schema in the test
module's own PostgreSQL database (``interlock_a_<hex>``). Tampering is done with plain SQL on the tables,
the way someone with database access would do it, never through Interlock.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from interlock.errors import Refusal
from interlock.merkle.checkpoint import load_private_key
from interlock.merkle.tree import MerkleAccumulator
from interlock.pipeline.call import Call
from interlock.settings import Settings, load_settings
from support.aio import run_async
from support.app import Engine
from support.engines import add_key
from support.env import clean_env
from support.postgres import new_schema
from support.processes import ServerProcess, serve_args
from support.settings import write_policies
from support.stores import Statement, execute, query, sqlite_path

KEY_NAME = "audit.interlock.test/log"


# -- one log: a store, a settings file, its key ----------------------------------------------------

@dataclass
class AuditEnv:
    kind: str
    directory: Path
    store_url: str
    config: Path
    tree: dict[str, Any]

    def write(self) -> None:
        self.config.write_text(yaml.safe_dump(self.tree, sort_keys=False), encoding="utf-8")

    def settings(self) -> Settings:
        return load_settings(self.config, environ={})

    @property
    def key_file(self) -> Path:
        return self.directory / "interlock-audit.key"

    def public_key(self) -> Ed25519PublicKey:
        return load_private_key(self.key_file.read_bytes()).public_key()

    # -- raw SQL on the store, as an operator (or an attacker) with database access would run it ----

    def execute(self, *statements: Statement) -> None:
        """Run statements in one transaction; ``?`` placeholders on both stores."""
        execute(self.store_url, *statements)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return query(self.store_url, sql, *args)

    @property
    def sqlite_path(self) -> str:
        return sqlite_path(self.store_url)

    def rows(self) -> list[tuple[int, str, bytes, bytes]]:
        """(seq, request_id, leaf_hash, record) of every audit row, in seq order."""
        return [(int(s), str(r), bytes(h), bytes(rec)) for s, r, h, rec in
                self.query("SELECT seq, request_id, leaf_hash, record FROM audit_log ORDER BY seq")]

    def request_ids(self) -> list[str]:
        return [r for _, r, _, _ in self.rows()]

    def frontier(self) -> tuple[int, bytes]:
        found = self.query("SELECT size, frontier FROM audit_frontier WHERE id = 1")
        assert len(found) == 1, "the audit_frontier row is missing"
        return int(found[0][0]), bytes(found[0][1])

    def payload_count(self) -> int:
        return int(self.query("SELECT count(*) FROM audit_payload")[0][0])

    # -- the real command line ------------------------------------------------------------------

    def cli(self, *argv: str, check: bool = False, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """``python -m interlock <argv...> --config <this log's settings>`` as a child process."""
        args = [sys.executable, "-m", "interlock", *argv[:2], "--config", str(self.config), *argv[2:]]
        done = subprocess.run(args, capture_output=True, text=True, env=clean_env(), timeout=timeout,
                              cwd=self.directory, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"interlock {' '.join(argv)} failed ({done.returncode}):\n"
                                 f"{done.stdout}{done.stderr}")
        return done

    def add_keys(self, specs: dict[str, tuple[str, Sequence[str]]]) -> dict[str, str]:
        """Keys straight into the store, in-process (name -> (tenant, roles)); returns name -> key."""
        from interlock.store import open_store

        async def run() -> dict[str, str]:
            store = open_store(self.settings().store)
            await store.open()
            try:
                return {name: await add_key(store, name, tenant=tenant, roles=roles)
                        for name, (tenant, roles) in specs.items()}
            finally:
                await store.close()

        return run_async(run())

    def create_key(self, name: str, *, tenant: str = "default", roles: Sequence[str] = ()) -> str:
        """``interlock keys create --json``; returns the key."""
        argv = ["keys", "create", "--name", name, "--tenant", tenant, "--json"]
        for role in roles:
            argv += ["--role", role]
        done = self.cli(*argv, check=True)
        key: str = json.loads(done.stdout)["key"]
        return key


def settings_tree(store_url: str, mock_base_url: str) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": 8080, "workers": 1, "shutdown_grace_seconds": 5},
        "store": {"url": store_url, "commit_timeout_seconds": 5},
        "policy": {"dir": "policies", "tenants": ["default", "acme", "globex"], "roles": ["admin", "analyst"]},
        # A short lease and gap timeout: takeovers and filled holes within the tests' waits.
        "audit": {"key_name": KEY_NAME, "checkpoint_interval_seconds": 3600, "payload_retention_days": 30,
                  "integrator_lease_seconds": 2, "gap_timeout_seconds": 2},
        "providers": {"upstream": {"type": "openai", "base_url": mock_base_url, "pass_through_fields": ["mock"]}},
        "models": [
            {"alias": "mock", "provider": "upstream", "upstream_model": "mock"},
            {"alias": "mock-large", "provider": "upstream", "upstream_model": "mock-large"},
            # Analysts only (policies/models.cedar).
            {"alias": "restricted", "provider": "upstream", "upstream_model": "mock"},
        ],
    }


def new_env(kind: str, directory: Path, pg_url: str | None, mock_base_url: str) -> AuditEnv:
    """A fresh log: a SQLite file in ``directory``, or a new schema in the PostgreSQL database ``pg_url``."""
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        url = "sqlite:///" + str(directory / "interlock.db")
    else:
        assert pg_url is not None
        url = new_schema(pg_url)
    write_policies(directory / "policies")
    env = AuditEnv(kind, directory, url, directory / "interlock.yaml", settings_tree(url, mock_base_url))
    env.write()
    return env


# -- driving the engine in-process -------------------------------------------------------------------

async def chat(engine: Engine, key: str, content: str, *, model: str = "mock") -> tuple[Call, Refusal | None]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": content}]}).encode()
    call = engine.new_call("chat.completions", body, {"authorization": f"Bearer {key}",
                                                      "content-type": "application/json"})
    refused = await engine.chat(call)
    return call, refused


MODELS = ("mock", "mock-large")
CLASSES = ("pii.email", "pii.phone", "pci.card_number", "secret.api_key")


def record_for(i: int, *, tenant: str = "default", principal: str = "svc-writer",
               request_id: str | None = None) -> dict[str, Any]:
    """A call record shaped like the pipeline's (about 600 bytes in canonical form)."""
    return {
        "v": 1,
        "request_id": request_id or f"req_{secrets.token_hex(12)}",
        "time": round(time.time(), 6),
        "endpoint": "chat.completions",
        "principal": principal,
        "principal_kind": "service",
        "app": None,
        "tenant": tenant,
        "auth": "api_key",
        "model": MODELS[i % 2],
        "provider": "upstream",
        "upstream_model": MODELS[i % 2],
        "stream": False,
        "status": 200,
        "outcome": "ok",
        "refusal_code": None,
        "decisions": [{"stage": "authorize", "outcome": "allow", "reason": "model access",
                       "policy_ids": ["base-allow", f"team-{i % 7}"]},
                      {"stage": "classify", "outcome": "redact", "reason": CLASSES[i % 4]}],
        "timings_ms": {"authenticate": 0.021, "parse": 0.034, "authorize": 0.012, "forward": 41.7 + i % 13},
        "upstream_ms": 41.2 + i % 13,
        "latency_ms": 42.5 + i % 13,
        "usage": {"prompt_tokens": 200 + i % 300, "completion_tokens": 50 + i % 120,
                  "total_tokens": 250 + i % 300 + i % 120},
        "finish_reason": "stop",
    }


def payload_for(i: int) -> dict[str, Any]:
    return {"prompt": f"summarise invoice {i} for [EMAIL_1]", "output": f"Invoice {i}: paid in full."}


def tree_frontier(leaf_hashes: Sequence[bytes]) -> bytes:
    acc = MerkleAccumulator()
    acc.extend(leaf_hashes)
    return acc.to_bytes()


# -- a real gateway process ------------------------------------------------------------------------

@dataclass
class GatewayProcess:
    """``python -m interlock serve --config`` on one log, in its own process group."""

    env: AuditEnv
    port: int
    workers: int = 1
    server: ServerProcess = field(init=False)

    def __post_init__(self) -> None:
        self.server = ServerProcess(serve_args(self.env.config, self.port, self.workers),
                                    self.env.directory / f"serve-{self.port}.log", self.env.directory)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.server.proc

    def log(self) -> str:
        return self.server.log()

    def start(self, timeout: float = 40.0) -> None:
        self.server.start()
        self.server.wait_ready(self.url, timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hook, no final checkpoint."""
        self.server.kill()

    def stop(self) -> int | None:
        """SIGTERM and wait for a graceful exit (which signs a final checkpoint)."""
        return self.server.stop(timeout=30)


EnvFactory = Callable[[str], AuditEnv]
GatewayFactory = Callable[..., GatewayProcess]
