"""Fixtures for the MCP gateway tests: the upstream servers and the shared gateway (see mcp_support)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from mcp_support import KEYS, POLICIES, SERVER_SCRIPT, Upstreams, adjust_for_mcp, wait_listening

from gateway_support import Gateway, GatewayFactory, clean_env, free_port


@pytest.fixture(scope="session")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    """The HTTP upstream server, running for the session; the stdio one is started by each gateway."""
    directory = tmp_path_factory.mktemp("mcp-upstream")
    ups = Upstreams(directory, free_port())
    log = (directory / "http-server.log").open("ab")
    proc = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), "http", str(ups.http_port)], stdout=log,
                            stderr=subprocess.STDOUT, env=clean_env(ups.env), start_new_session=True)
    try:
        wait_listening(ups.http_port, proc)
        yield ups
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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


