"""Helpers for the audit log's integration tests: stores, settings files, the CLI, gateways and raw SQL.

Every log lives in a real store: a SQLite file in the test's directory, or a fresh schema in the test
module's own PostgreSQL database (``interlock_a_<hex>``). Tampering is done with plain SQL on the tables,
the way someone with database access would do it, never through Interlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway_support import wait_until_ready, write_policies
from interlock.engine import Engine
from interlock.errors import Refusal
from interlock.identity.keys import new_key
from interlock.identity.principal import Principal
from interlock.merkle.checkpoint import load_private_key
from interlock.merkle.tree import MerkleAccumulator
from interlock.pipeline.call import Call
from interlock.settings import Settings, load_settings

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
STORES = ("sqlite", "postgresql")
KEY_NAME = "audit.interlock.test/log"

T = TypeVar("T")

# uvicorn re-raises SIGTERM after its graceful shutdown, so a clean stop may report -15.
GRACEFUL_EXIT = (0, -signal.SIGTERM)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh loop in a helper thread (safe inside a running loop)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child's environment with no INTERLOCK_* setting leaking in from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("INTERLOCK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def pg_args(statement: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    parts = statement.split("?")
    out = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        out += f"${i}{part}"
    return out


# -- PostgreSQL ------------------------------------------------------------------------------------

class PgDatabase:
    """One fresh database for a test module; each log inside it gets its own schema."""

    def __init__(self) -> None:
        self.name = "interlock_a_" + secrets.token_hex(6)
        self.url = f"{PG_SERVER_URL}/{self.name}"

    @staticmethod
    async def _admin(statement: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    def create(self) -> None:
        try:
            run_sync(self._admin(f'CREATE DATABASE "{self.name}"'))
        except (OSError, asyncpg.PostgresError) as exc:
            raise RuntimeError(f"these tests need PostgreSQL at {PG_ADMIN_URL}, which is not usable: {exc!r}") \
                from exc

    def drop(self) -> None:
        run_sync(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def new_schema(self) -> str:
        """A new empty schema; the returned URL puts it first on the search path, so tables land there."""
        schema = "log_" + secrets.token_hex(5)

        async def make() -> None:
            conn = await asyncpg.connect(self.url, timeout=10)
            try:
                await conn.execute(f'CREATE SCHEMA "{schema}"')
            finally:
                await conn.close()

        run_sync(make())
        return f"{self.url}?search_path={schema}"


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

    def execute(self, *statements: tuple[str, Sequence[Any]] | str) -> None:
        """Run statements in one transaction; ``?`` placeholders on both stores."""
        steps = [(s, ()) if isinstance(s, str) else s for s in statements]
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, timeout=15, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                for sql, args in steps:
                    conn.execute(sql, tuple(args))
                conn.execute("COMMIT")
            finally:
                conn.close()
            return

        async def run() -> None:
            conn = await asyncpg.connect(self.store_url, timeout=10)
            try:
                async with conn.transaction():
                    for sql, args in steps:
                        await conn.execute(pg_args(sql), *args)
            finally:
                await conn.close()

        run_sync(run())

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.sqlite_path, timeout=15)
            try:
                return [tuple(r) for r in conn.execute(sql, args).fetchall()]
            finally:
                conn.close()

        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.store_url, timeout=10)
            try:
                return [tuple(r) for r in await conn.fetch(pg_args(sql), *args)]
            finally:
                await conn.close()

        return run_sync(run())

    @property
    def sqlite_path(self) -> str:
        return self.store_url[len("sqlite:///"):]

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
                out = {}
                for name, (tenant, roles) in specs.items():
                    key, record = new_key(name, Principal(id=name, kind="user", tenant=tenant,
                                                          roles=frozenset(roles), name=name))
                    await store.create_key(record)
                    out[name] = key
                return out
            finally:
                await store.close()

        return run_sync(run())

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
        "audit": {"key_name": KEY_NAME, "checkpoint_interval_seconds": 3600, "payload_retention_days": 30},
        "providers": {"upstream": {"type": "openai", "base_url": mock_base_url, "pass_through_fields": ["mock"]}},
        "models": [
            {"alias": "mock", "provider": "upstream", "upstream_model": "mock"},
            {"alias": "mock-large", "provider": "upstream", "upstream_model": "mock-large"},
            # Analysts only (policies/models.cedar).
            {"alias": "restricted", "provider": "upstream", "upstream_model": "mock"},
        ],
    }


def new_env(kind: str, directory: Path, pg: PgDatabase | None, mock_base_url: str) -> AuditEnv:
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        url = "sqlite:///" + str(directory / "interlock.db")
    else:
        assert pg is not None
        url = pg.new_schema()
    write_policies(directory / "policies")
    env = AuditEnv(kind, directory, url, directory / "interlock.yaml", settings_tree(url, mock_base_url))
    env.write()
    return env


# -- driving the engine in-process -------------------------------------------------------------------

@contextlib.asynccontextmanager
async def running_engine(env: AuditEnv) -> AsyncIterator[Engine]:
    engine = Engine(env.settings())
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def add_key(engine: Engine, name: str, *, tenant: str = "default", roles: Sequence[str] = ()) -> str:
    key, record = new_key(name, Principal(id=name, kind="user", tenant=tenant, roles=frozenset(roles), name=name))
    await engine.store.create_key(record)
    return key


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

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class GatewayProcess:
    """``python -m interlock serve --config`` in its own process group."""

    env: AuditEnv
    port: int
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.env.directory / f"serve-{self.port}.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 40.0) -> None:
        args = [sys.executable, "-m", "interlock", "serve", "--config", str(self.env.config),
                "--port", str(self.port), "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.env.directory,
                                         env=clean_env(), start_new_session=True)
        try:
            wait_until_ready(self.proc, self.url, timeout, self.log)
        except RuntimeError:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hook, no final checkpoint."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int | None:
        """SIGTERM and wait for a graceful exit (which signs a final checkpoint)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"interlock serve did not stop on SIGTERM:\n{self.log()}") from None


EnvFactory = Callable[[str], AuditEnv]
GatewayFactory = Callable[..., GatewayProcess]
