"""Shared fixtures: the mock LLM, a JWT issuer, and real gateways on SQLite or PostgreSQL.

Gateways are real ``python -m interlock serve`` processes. The common one is started once per store
for the whole session (``gateway``); tests that need something special (several workers, a shutdown,
a broken store) start their own through ``gateway_factory``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway_support import (
    STANDARD_KEYS,
    Gateway,
    GatewayFactory,
    JwtIssuer,
    create_pg_database,
    drop_pg_database,
    free_port,
)
from interlock.providers.mock import MockLLM

# Either store; the PostgreSQL ones carry the ``postgres`` marker (they fail, never skip, without a server).
STORES = (pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))


@pytest.fixture(scope="session")
def mock_llm() -> Iterator[MockLLM]:
    with MockLLM() as server:
        yield server


@pytest.fixture
def mock(mock_llm: MockLLM) -> MockLLM:
    """The session's mock LLM with its record of received requests emptied."""
    mock_llm.clear()
    return mock_llm


@pytest.fixture(scope="session")
def jwt_issuer(tmp_path_factory: pytest.TempPathFactory) -> JwtIssuer:
    return JwtIssuer.create(tmp_path_factory.mktemp("idp"))


@pytest.fixture(scope="session")
def dead_port() -> Iterator[int]:
    """A port nobody listens on for the whole session: bound, never listening, so connects are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture(scope="session", name="free_port")
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture(scope="session")
def gateway_factory(tmp_path_factory: pytest.TempPathFactory, mock_llm: MockLLM, jwt_issuer: JwtIssuer,
                    dead_port: int) -> Iterator[GatewayFactory]:
    factory = GatewayFactory(tmp_path_factory, mock_llm, jwt_issuer, dead_port)
    yield factory
    factory.close()


@pytest.fixture(scope="session", params=STORES)
def gateway(request: pytest.FixtureRequest, gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    """The common gateway, once per store, with the standard keys (``gateway.keys[name]``)."""
    gw = gateway_factory(request.param, keys=STANDARD_KEYS)
    yield gw
    gw.stop()


@pytest.fixture(scope="session", params=STORES)
def two_workers(request: pytest.FixtureRequest, gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    """A gateway with two worker processes sharing one store, once per store, with the standard keys."""
    gw = gateway_factory(request.param, workers=2, keys=STANDARD_KEYS)
    yield gw
    gw.stop()


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    """A raw HTTP client for the common gateway, for what the SDK would not send."""
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store for one test: a SQLite file, or a PostgreSQL database (fails if the server is down)."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "store.db")
        return
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)
