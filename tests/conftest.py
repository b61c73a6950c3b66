"""Shared fixtures: the mock LLM, a JWT issuer, fresh stores, and gateways on SQLite or PostgreSQL.

The common gateway (``gateway``) runs in this process, once per store for the whole session, reached
through httpx's ASGI transport. Tests that need a real server (a socket, several workers, a signal, a
crash, a broken store) start ``python -m interlock serve`` through ``gateway_factory``; ``two_workers``
is such a gateway. The helpers live in ``tests/support`` (see tests/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from interlock.providers.mock import MockLLM
from support.gateways import STANDARD_KEYS, Gateway, GatewayFactory
from support.identity import JwtIssuer
from support.ports import free_port, refusing_port
from support.postgres import create_database, drop_database, set_connections
from support.stores import STORES, sqlite_url


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
    with refusing_port() as port:
        yield port


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
    """The common gateway, in this process, once per store, with the standard keys (``gateway.keys[name]``)."""
    gw = gateway_factory(request.param, keys=STANDARD_KEYS, served=False)
    yield gw
    gw.stop()


@pytest.fixture(scope="session", params=STORES)
def served_gateway(request: pytest.FixtureRequest, gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    """The common gateway served by ``interlock serve``, once per store, for what needs a real socket."""
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
    with gateway.http() as client:
        yield client


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store for one test: a SQLite file, or a PostgreSQL database (fails if the server is down)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "store.db")
        return
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def pg_gateway(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    """A gateway of its own on PostgreSQL, for tests that cut the store off (connections are allowed again
    afterwards); keys: plain-user and admin."""
    gw = gateway_factory("postgresql", keys=STANDARD_KEYS[1:3])
    yield gw
    set_connections(gw.store_url, True)
    gw.stop()
