"""Fixtures for the MCP gateway tests: the upstream servers and the shared gateway (see mcp_support)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from mcp_support import KEYS, POLICIES, SERVER_SCRIPT, Upstreams, adjust_for_mcp

from support.gateways import Gateway, GatewayFactory
from support.ports import free_port
from support.processes import ServerProcess


@pytest.fixture(scope="session")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    """The HTTP upstream server, running for the session; the stdio one is started by each gateway."""
    directory = tmp_path_factory.mktemp("mcp-upstream")
    ups = Upstreams(directory, free_port())
    server = ServerProcess([sys.executable, str(SERVER_SCRIPT), "http", str(ups.http_port)],
                           directory / "http-server.log", directory, ups.env)
    server.start()
    try:
        # Any answer on /mcp means it listens (a bare GET is not a valid MCP request).
        server.wait_ready(f"http://127.0.0.1:{ups.http_port}", 20, path="/mcp", ready=lambda _: True)
        yield ups
    finally:
        server.stop(timeout=10)


@pytest.fixture(scope="session")
def mcp_gateway(gateway_factory: GatewayFactory, upstreams: Upstreams) -> Iterator[Gateway]:
    """The gateway most tests share (SQLite), with keys for an analyst, a support agent, an admin, nobody."""
    upstreams.clear()
    gw = gateway_factory("sqlite", keys=KEYS, policies=POLICIES, adjust=adjust_for_mcp(upstreams))
    yield gw
    gw.stop()


@pytest.fixture
def ups(upstreams: Upstreams) -> Upstreams:
    """The upstream servers with an empty call log (the description left as it is)."""
    upstreams.call_log.unlink(missing_ok=True)
    return upstreams


