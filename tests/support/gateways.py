"""Test gateways: a settings file in a fresh directory, keys made with the CLI, and the gateway itself,
either in this process (through httpx's ASGI transport) or served by ``interlock serve`` in a child process.

Both kinds answer the same calls (``http()``, ``client()``, ``records()``); a test that needs a real socket,
several workers, a signal or a crash asks for a served one (``served=True``). Records are read straight
from the database tables, so a test sees exactly what is durable at that moment.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from interlock.providers.mock import MockLLM
from interlock.settings import load_settings
from support.app import make_app
from support.cli import CliResult, run_cli, run_cli_process
from support.identity import JwtIssuer
from support.inprocess import InProcessApp
from support.ports import free_port
from support.processes import ServerProcess, serve_args
from support.settings import PolicySource, gateway_settings, place_policies, write_policies, write_settings
from support.stores import StoreUrls, query, read_records

# The host name an in-process gateway answers on (nothing listens there: requests never leave the process).
IN_PROCESS_URL = "http://interlock.test"


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


STANDARD_KEYS = (
    KeySpec("analyst", ("analyst",)),
    KeySpec("plain-user"),
    KeySpec("admin", ("admin",)),
    KeySpec("acting-app", kind="app", may_act_for=True),
    KeySpec("plain-app", kind="app"),
    KeySpec("other-admin", ("admin",), tenant="other"),
)


@dataclass
class Gateway:
    """One gateway and the files around it: served by a process, or in this process (``served=False``)."""

    directory: Path
    config: Path
    store_url: str
    port: int
    workers: int = 1
    served: bool = True
    keys: dict[str, ApiKey] = field(default_factory=dict)
    # INTERLOCK_* variables for the gateway (nothing else from outside leaks in).
    env: dict[str, str] = field(default_factory=dict)
    server: ServerProcess | None = None
    app: InProcessApp | None = None
    _clients: list[openai.OpenAI] = field(default_factory=list)

    @property
    def store(self) -> str:
        return "sqlite" if self.store_url.startswith("sqlite") else "postgresql"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self.served else IN_PROCESS_URL

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def log_path(self) -> Path:
        return self.directory / "serve.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    @property
    def proc(self) -> Any:
        """The served gateway's process (``subprocess.Popen``)."""
        assert self.served, "an in-process gateway has no process; ask for served=True"
        return self.server.proc if self.server is not None else None

    # -- running --------------------------------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        if not self.served:
            settings = load_settings(self.config, environ=self.env)
            self.app = InProcessApp(make_app(settings), self.log_path, timeout=timeout)
            self.app.start()
            return
        self.server = ServerProcess(serve_args(self.config, self.port, self.workers), self.log_path,
                                    self.directory, self.env)
        self.server.start()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.server is not None
        self.server.wait_ready(self.url, timeout)

    def terminate(self) -> int:
        """SIGTERM, then wait for a graceful exit; returns the exit code."""
        assert self.server is not None
        return self.server.terminate()

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()
        if self.app is not None:
            self.app.stop()
        if self.server is not None and self.server.running:
            self.server.terminate()

    # -- clients --------------------------------------------------------------------------------

    def http(self, **options: Any) -> httpx.Client:
        """A raw HTTP client for this gateway (``base_url`` set), for what the SDK would not send."""
        options.setdefault("timeout", 30)
        if self.app is not None:
            options["transport"] = self.app.transport()
        return httpx.Client(base_url=self.url, **options)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One request on a client of its own (``headers``, ``json``, ``params``, ``timeout`` as httpx takes them)."""
        timeout = options.pop("timeout", 30)
        with self.http(timeout=timeout) as http:
            return http.request(method, path, **options)

    def async_http(self, **options: Any) -> httpx.AsyncClient:
        options.setdefault("timeout", 30)
        if self.app is not None:
            options["transport"] = self.app.async_transport()
        return httpx.AsyncClient(base_url=self.url, **options)

    def client(self, key: str | ApiKey, *, timeout: float = 30) -> openai.OpenAI:
        """An OpenAI SDK client for this gateway; closed when the gateway stops."""
        secret = key.key if isinstance(key, ApiKey) else key
        http_client = self.http(timeout=timeout) if self.app is not None else None
        c = openai.OpenAI(base_url=self.base_url, api_key=secret, max_retries=0, timeout=timeout,
                          http_client=http_client)
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
        rows = query(self.store_url, "SELECT hash, body FROM audit_payload")
        return {bytes(h).hex(): json.loads(bytes(body)) for h, body in rows}

    def payload(self, request_id: str | None) -> dict[str, Any]:
        """The stored audit payload of one request (through its record's ``payload_hash``)."""
        digest = self.record(request_id).get("payload_hash")
        assert digest, f"the record of {request_id} names no payload"
        return self.payloads()[digest]

    def vault_blobs(self) -> list[bytes]:
        """The sealed placeholder maps in the vault table, as stored."""
        return [bytes(blob) for (blob,) in query(self.store_url, "SELECT blob FROM vault")]

    def record(self, request_id: str | None) -> dict[str, Any]:
        """The one record of a request, read from the store now."""
        assert request_id, "the response carried no request id"
        found = [r for r in self.records() if r["request_id"] == request_id]
        assert len(found) == 1, f"expected one record for {request_id}, found {len(found)}"
        return found[0]


class GatewayFactory:
    """Writes an interlock.yaml into a fresh directory and starts a gateway on it."""

    def __init__(self, tmp: pytest.TempPathFactory, mock: MockLLM, issuer: JwtIssuer, dead_port: int) -> None:
        self._tmp = tmp
        self._mock = mock
        self._issuer = issuer
        self._dead_port = dead_port
        self._gateways: list[Gateway] = []
        self._stores = StoreUrls()

    def store_url(self, store: str, directory: Path) -> str:
        return self._stores.new(store, directory)

    def __call__(self, store: str = "sqlite", *, workers: int = 1, start: bool = True, served: bool = True,
                 adjust: Callable[[dict[str, Any]], None] | None = None,
                 keys: Iterable[KeySpec] = (), policies: PolicySource | None = None,
                 shadow_policies: PolicySource | None = None) -> Gateway:
        """A gateway in a fresh directory, served by a process unless ``served=False``.

        ``policies`` replaces the standard policy set (``write_policies``): a directory to copy, or file
        names mapped to their text. ``shadow_policies`` does the same for a shadow set in ``shadow/``,
        named as ``policy.shadow_dir``.
        """
        assert served or workers == 1, "several workers need a served gateway"
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
        gw = Gateway(directory=directory, config=config, store_url=tree["store"]["url"],
                     port=free_port() if served else 0, workers=workers, served=served)
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
        self._stores.close()
        if errors:
            raise RuntimeError("\n".join(errors))
