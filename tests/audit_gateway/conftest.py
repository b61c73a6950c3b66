"""Fixtures for the audit log as the running service keeps it (the log code itself is tested in tests/audit):
a mock model, a PostgreSQL database per module, and a fresh log (store + settings file + signing key) per
test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_gateway_support import AuditEnv, EnvFactory, GatewayFactory, GatewayProcess, new_env

from interlock.providers.mock import MockLLM
from support.ports import free_port
from support.postgres import create_database, drop_database
from support.stores import STORES


@pytest.fixture(scope="session")
def audit_mock() -> Iterator[MockLLM]:
    with MockLLM() as server:
        yield server


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """This module's own database (each log gets a schema in it); a server that is down fails the test
    (it is never skipped)."""
    url = create_database("interlock_a_")
    yield url
    drop_database(url)


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def env_factory(request: pytest.FixtureRequest, tmp_path: Path, audit_mock: MockLLM) -> EnvFactory:
    """Makes fresh logs: ``env_factory("sqlite")`` or ``env_factory("postgresql")``."""
    made = 0

    def make(kind: str) -> AuditEnv:
        nonlocal made
        made += 1
        pg: str | None = request.getfixturevalue("pg_database") if kind == "postgresql" else None
        return new_env(kind, tmp_path / f"{kind}-{made}", pg, audit_mock.base_url)

    return make


@pytest.fixture
def audit_env(store_kind: str, env_factory: EnvFactory) -> AuditEnv:
    return env_factory(store_kind)


@pytest.fixture
def gateway_process() -> Iterator[GatewayFactory]:
    """Starts ``interlock serve`` on a log; every gateway still running at the end is stopped."""
    started: list[GatewayProcess] = []

    def start(env: AuditEnv, *, workers: int = 1) -> GatewayProcess:
        gw = GatewayProcess(env, free_port(), workers)
        started.append(gw)
        gw.start()
        return gw

    yield start
    for gw in started:
        gw.kill()
