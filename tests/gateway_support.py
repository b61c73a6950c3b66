"""Running real gateways for tests: settings files, subprocesses, keys via the CLI, and the store read back.

A ``Gateway`` is ``python -m interlock serve`` in its own process, configured by an ``interlock.yaml``
written into a temporary directory, talking to the mock LLM over real HTTP. Records are read straight
from the database tables, so a test sees exactly what is durable at that moment.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import asyncpg
import httpx
import jwt
import openai
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from interlock.providers.mock import MockLLM

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"

JWT_ISSUER = "https://idp.interlock.test"
JWT_AUDIENCE = "interlock-gateway"

T = TypeVar("T")


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, log: Callable[[], str]) -> None:
    """Poll ``url``/readyz until it answers 200; raise with the server's log if it exits or never gets ready."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"interlock serve exited with {proc.returncode}:\n{log()}")
        try:
            r = httpx.get(url + "/readyz", timeout=2)
            if r.status_code == 200:
                return
            last = r.text
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise RuntimeError(f"interlock serve was not ready within {timeout} s ({last}):\n{log()}")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process, without any INTERLOCK_* setting leaking in from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("INTERLOCK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


# -- PostgreSQL ---------------------------------------------------------------------------------

async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database() -> str:
    """A fresh, empty database on the test server; returns its URL. Fails (never skips) without a server."""
    name = "interlock_t_" + secrets.token_hex(6)
    try:
        run_async(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"PostgreSQL at {PG_ADMIN_URL} is needed by this test and is not usable: {exc!r}") from exc
    return f"{PG_SERVER}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    run_async(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def set_pg_connections(url: str, allowed: bool) -> None:
    """Let clients connect to the database or not; refusing also cuts the connections open now."""
    name = url.rsplit("/", 1)[1]

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if allowed else "false"}')
            if not allowed:
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        finally:
            await conn.close()

    run_async(run())


# -- reading the store back ----------------------------------------------------------------------

def read_records(store_url: str) -> list[dict[str, Any]]:
    """Every audit record in log order, read from the table itself (not through the gateway)."""
    if store_url.startswith("sqlite:///"):
        conn = sqlite3.connect(store_url[len("sqlite:///"):], timeout=15)
        try:
            rows = conn.execute("SELECT seq, record FROM audit_log ORDER BY seq").fetchall()
        finally:
            conn.close()
        return [{"seq": seq, **json.loads(bytes(rec))} for seq, rec in rows]

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(store_url, timeout=10)
        try:
            rows = await conn.fetch("SELECT seq, record FROM audit_log ORDER BY seq")
        finally:
            await conn.close()
        return [{"seq": r["seq"], **json.loads(bytes(r["record"]))} for r in rows]

    return run_async(fetch())


def read_table(store_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Every row of a plain SELECT (no parameters), from either store."""
    if store_url.startswith("sqlite:///"):
        conn = sqlite3.connect(store_url[len("sqlite:///"):], timeout=15)
        try:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(store_url, timeout=10)
        try:
            return [tuple(r.values()) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return run_async(fetch())


# -- JWT ---------------------------------------------------------------------------------------

@dataclass
class JwtIssuer:
    """An identity provider for tests: an RSA and an EC signing key, published as a JWKS file."""

    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    jwks_path: Path

    @classmethod
    def create(cls, directory: Path) -> JwtIssuer:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
        rsa_jwk.update(kid="rsa-1", alg="RS256", use="sig")
        ec_jwk.update(kid="ec-1", alg="ES256", use="sig")
        path = directory / "jwks.json"
        path.write_text(json.dumps({"keys": [rsa_jwk, ec_jwk]}), encoding="utf-8")
        return cls(rsa_key, ec_key, path)

    def token(self, sub: str = "jwt-user", *, alg: str = "RS256", kid: str | None = None,
              audience: str = JWT_AUDIENCE, issuer: str = JWT_ISSUER, expires_in: float = 300,
              signing_key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": sub, "iss": issuer, "aud": audience, "iat": now, "exp": now + int(expires_in),
                   **claims}
        key = signing_key if signing_key is not None else (self.rsa_key if alg == "RS256" else self.ec_key)
        header_kid = kid if kid is not None else ("rsa-1" if alg == "RS256" else "ec-1")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": header_kid})


# -- gateways ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApiKey:
    key: str
    id: str
    principal: str


@dataclass(frozen=True)
class KeySpec:
    name: str
    roles: tuple[str, ...] = ()
    kind: str | None = None
    tenant: str | None = None
    may_act_for: bool = False
    ttl: float | None = None

    def args(self) -> list[str]:
        out = ["--name", self.name, "--json"]
        for role in self.roles:
            out += ["--role", role]
        if self.kind:
            out += ["--kind", self.kind]
        if self.tenant:
            out += ["--tenant", self.tenant]
        if self.may_act_for:
            out.append("--may-act-for")
        if self.ttl is not None:
            out += ["--ttl", str(self.ttl)]
        return out


MODELS_POLICY = """\
// Every caller may use every model but one; that one is for analysts.

@id("test.models.open")
permit (principal, action == Action::"invoke_model", resource)
unless { resource == Model::"restricted" };

@id("test.models.restricted-for-analysts")
permit (principal in Role::"analyst", action == Action::"invoke_model", resource == Model::"restricted");
"""


def write_policies(directory: Path) -> Path:
    """The built-in data, restore and tool policies, with model access narrowed: ``restricted`` is for analysts."""
    from interlock.policy.setup import default_policy_dir

    directory.mkdir(parents=True, exist_ok=True)
    for name in ("data.cedar", "restore.cedar", "tools.cedar"):
        shutil.copy(default_policy_dir() / name, directory / name)
    (directory / "models.cedar").write_text(MODELS_POLICY, encoding="utf-8")
    return directory


# A policy set for a test gateway: a directory to copy, or file names (relative) mapped to their text.
PolicySource = Path | Mapping[str, str]


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


@dataclass
class Gateway:
    """One ``interlock serve`` process and the files around it."""

    directory: Path
    config: Path
    store_url: str
    port: int
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None
    keys: dict[str, ApiKey] = field(default_factory=dict)
    # INTERLOCK_* variables for the server process (nothing else from outside leaks in).
    env: dict[str, str] = field(default_factory=dict)
    _clients: list[openai.OpenAI] = field(default_factory=list)

    @property
    def store(self) -> str:
        return "sqlite" if self.store_url.startswith("sqlite") else "postgresql"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def log_path(self) -> Path:
        return self.directory / "serve.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    # -- process --------------------------------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        args = [sys.executable, "-m", "interlock", "serve", "--config", str(self.config), "--port", str(self.port)]
        if self.workers != 1:
            args += ["--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                                         env=clean_env(self.env), start_new_session=True)
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.proc is not None
        wait_until_ready(self.proc, self.url, timeout, self.log)

    def terminate(self) -> int:
        """SIGTERM, then wait for a graceful exit; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise RuntimeError(f"interlock serve did not stop on SIGTERM:\n{self.log()}") from None

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()

    # -- clients --------------------------------------------------------------------------------

    def client(self, key: str | ApiKey, *, timeout: float = 30) -> openai.OpenAI:
        """An OpenAI SDK client for this gateway; closed when the gateway stops."""
        secret = key.key if isinstance(key, ApiKey) else key
        c = openai.OpenAI(base_url=self.base_url, api_key=secret, max_retries=0, timeout=timeout)
        self._clients.append(c)
        return c

    # -- the CLI --------------------------------------------------------------------------------

    def cli(self, command: Sequence[str], *args: str, check: bool = True, env: dict[str, str] | None = None,
            in_process: bool = True) -> CliResult:
        """``interlock <command> --config <this gateway's file> <args>``.

        In-process through click by default (the same command, without paying the interpreter's start-up
        for every key a fixture needs); ``in_process=False`` runs ``python -m interlock`` as a child.
        """
        argv = [*command, "--config", str(self.config), *args]
        result = run_cli(argv, env=env, cwd=self.directory) if in_process else run_cli_process(
            argv, env=env, cwd=self.directory)
        if check and result.exit_code != 0:
            raise AssertionError(f"interlock {' '.join(argv)} failed ({result.exit_code}):\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def create_key(self, name: str, *roles: str, kind: str | None = None, tenant: str | None = None,
                   may_act_for: bool = False, ttl: float | None = None) -> ApiKey:
        return self.create_keys([KeySpec(name, roles, kind, tenant, may_act_for, ttl)])[0]

    def create_keys(self, specs: Iterable[KeySpec]) -> list[ApiKey]:
        """Create keys with ``interlock keys create --json``."""
        out: list[ApiKey] = []
        for spec in specs:
            doc = json.loads(self.cli(["keys", "create"], *spec.args()).stdout)
            out.append(ApiKey(doc["key"], doc["id"], doc["principal"]))
        return out

    def export(self) -> list[dict[str, Any]]:
        """``interlock audit export``: every record, as JSON Lines parsed."""
        done = self.cli(["audit", "export"], in_process=False)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    # -- the store ------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.store_url)

    def payloads(self) -> dict[str, dict[str, Any]]:
        """Every stored audit payload (the redacted messages and output), by its hash in hex."""
        rows = read_table(self.store_url, "SELECT hash, body FROM audit_payload")
        return {bytes(h).hex(): json.loads(bytes(body)) for h, body in rows}

    def payload(self, request_id: str | None) -> dict[str, Any]:
        """The stored audit payload of one request (through its record's ``payload_hash``)."""
        digest = self.record(request_id).get("payload_hash")
        assert digest, f"the record of {request_id} names no payload"
        return self.payloads()[digest]

    def vault_blobs(self) -> list[bytes]:
        """The sealed placeholder maps in the vault table, as stored."""
        return [bytes(blob) for (blob,) in read_table(self.store_url, "SELECT blob FROM vault")]

    def record(self, request_id: str | None) -> dict[str, Any]:
        """The one record of a request, read from the store now."""
        assert request_id, "the response carried no request id"
        found = [r for r in self.records() if r["request_id"] == request_id]
        assert len(found) == 1, f"expected one record for {request_id}, found {len(found)}"
        return found[0]


STANDARD_KEYS = (
    KeySpec("analyst", ("analyst",)),
    KeySpec("plain-user"),
    KeySpec("admin", ("admin",)),
    KeySpec("acting-app", kind="app", may_act_for=True),
    KeySpec("plain-app", kind="app"),
    KeySpec("other-admin", ("admin",), tenant="other"),
)


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    """The ``interlock`` command run in this process (in a helper thread if an event loop runs here)."""
    from click.testing import CliRunner

    from interlock.cli import main

    def invoke() -> CliResult:
        previous = Path.cwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            r = CliRunner().invoke(main, list(argv), env=env, catch_exceptions=False)
        finally:
            os.chdir(previous)
        return CliResult(r.exit_code, r.stdout, r.stderr)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return invoke()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(invoke).result()


def run_cli_process(argv: Sequence[str], *, env: dict[str, str] | None = None,
                    cwd: Path | None = None) -> CliResult:
    """``python -m interlock <argv>`` as a child process."""
    done = subprocess.run([sys.executable, "-m", "interlock", *argv], capture_output=True, text=True,
                          env=clean_env(env), timeout=60, cwd=cwd)
    return CliResult(done.returncode, done.stdout, done.stderr)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def write_settings(path: Path, tree: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


class GatewayFactory:
    """Writes an interlock.yaml into a fresh directory and starts ``interlock serve`` on it."""

    def __init__(self, tmp: pytest.TempPathFactory, mock: MockLLM, issuer: JwtIssuer, dead_port: int) -> None:
        self._tmp = tmp
        self._mock = mock
        self._issuer = issuer
        self._dead_port = dead_port
        self._gateways: list[Gateway] = []
        self._databases: list[str] = []

    def store_url(self, store: str, directory: Path) -> str:
        if store == "sqlite":
            return "sqlite:///" + str(directory / "interlock.db")
        url = create_pg_database()
        self._databases.append(url)
        return url

    def __call__(self, store: str = "sqlite", *, workers: int = 1, start: bool = True,
                 adjust: Callable[[dict[str, Any]], None] | None = None,
                 keys: Iterable[KeySpec] = (), policies: PolicySource | None = None,
                 shadow_policies: PolicySource | None = None) -> Gateway:
        """A gateway in a fresh directory.

        ``policies`` replaces the standard policy set (``write_policies``): a directory to copy, or file
        names mapped to their text. ``shadow_policies`` does the same for a shadow set in ``shadow/``,
        named as ``policy.shadow_dir``.
        """
        directory = self._tmp.mktemp(f"gateway-{store}")
        shutil.copy(self._issuer.jwks_path, directory / "jwks.json")
        if policies is None:
            write_policies(directory / "policies")
        else:
            place_policies(directory / "policies", policies)
        store_url = self.store_url(store, directory)
        tree = gateway_settings(mock_base_url=self._mock.base_url, dead_port=self._dead_port,
                                store_url=store_url, workers=workers)
        if shadow_policies is not None:
            place_policies(directory / "shadow", shadow_policies)
            tree["policy"]["shadow_dir"] = "shadow"
        if adjust is not None:
            adjust(tree)
        config = write_settings(directory / "interlock.yaml", tree)
        gw = Gateway(directory=directory, config=config, store_url=tree["store"]["url"], port=free_port(),
                     workers=workers)
        self._gateways.append(gw)
        specs = list(keys)
        if specs:
            gw.keys = {s.name: k for s, k in zip(specs, gw.create_keys(specs), strict=True)}
        if start:
            gw.start()
        return gw

    def close(self) -> None:
        errors: list[str] = []
        for gw in self._gateways:
            try:
                gw.stop()
            except RuntimeError as exc:
                errors.append(str(exc))
        for url in self._databases:
            drop_pg_database(url)
        if errors:
            raise RuntimeError("\n".join(errors))


def load_module(name: str, path: Path) -> ModuleType:
    """A Python file that is not on the import path (an example, an independent verifier), loaded as ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
