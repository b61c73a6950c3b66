"""The built-in mock model mounted on the gateway's own port: it answers the gateway and administrators
only, and keeps no record of the prompts it receives, so nobody can read them back through it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlock.providers.mock import build_mock_app
from support.gateways import STANDARD_KEYS, Gateway, GatewayFactory
from support.ports import free_port
from support.processes import ServerProcess, serve_args

MARKER = "zebra-marker-4711"
CHAT = {"model": "mock", "messages": [{"role": "user", "content": f"remember {MARKER}"}]}


def refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == r.headers["x-request-id"]
    assert MARKER not in r.text


@pytest.fixture(scope="module")
def mounted(gateway_factory: GatewayFactory) -> Iterator[Gateway]:
    def adjust(tree: dict[str, Any]) -> None:
        tree["server"]["mount_mock"] = True

    gw = gateway_factory("sqlite", served=False, adjust=adjust, keys=STANDARD_KEYS)
    yield gw
    gw.stop()


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/_mock/_mock/requests", None),
    ("DELETE", "/_mock/_mock/requests", None),
    ("POST", "/_mock/v1/chat/completions", CHAT),
    ("POST", "/_mock/v1/messages", {**CHAT, "max_tokens": 10}),
    ("GET", "/_mock/v1/models", None),
    ("GET", "/_mock/healthz", None),
])
def test_the_mounted_mock_answers_no_caller_without_a_key_and_no_caller_who_is_not_an_admin(
        mounted: Gateway, method: str, path: str, body: dict[str, Any] | None) -> None:
    with mounted.http() as http:
        for headers in ({}, {"authorization": "Bearer il_unknown-key-0000000000000000000000000000000"},
                        {"authorization": "Bearer " + "0" * 64}):
            refused(http.request(method, path, json=body, headers=headers), 401, "invalid_api_key")
        for who in ("plain-user", "analyst", "acting-app"):
            r = http.request(method, path, json=body, headers={"authorization": f"Bearer {mounted.keys[who].key}"})
            refused(r, 403, "permission_denied")


def test_an_admin_may_talk_to_the_mounted_mock_and_it_recorded_nothing(mounted: Gateway) -> None:
    admin = {"authorization": f"Bearer {mounted.keys['admin'].key}"}
    with mounted.http() as http:
        r = http.post("/_mock/v1/chat/completions", json=CHAT, headers=admin)
        assert r.status_code == 200, r.text
        assert MARKER in r.json()["choices"][0]["message"]["content"]
        r = http.get("/_mock/_mock/requests", headers=admin)
        assert r.status_code == 404
        assert MARKER not in r.text


def test_a_mock_that_does_not_record_keeps_nothing_and_a_standalone_one_still_does() -> None:
    assert build_mock_app(record=False).recorder is None
    kept = build_mock_app().recorder
    assert kept is not None
    assert len(kept) == 0


def test_the_embedded_defaults_call_their_mock_and_nobody_else_reads_it(tmp_path: Path) -> None:
    """`interlock serve` with no settings, as the quick start runs it: the gateway's own calls reach the
    mounted mock with its key; nobody else's do, and the prompt the gateway sent is nowhere to be read."""
    port = free_port()
    server = ServerProcess(serve_args(None, port), tmp_path.parent / f"{tmp_path.name}-serve.log", tmp_path)
    server.start()
    try:
        server.wait_ready(f"http://127.0.0.1:{port}")
        found = re.search(r"(il_[A-Za-z0-9_-]+)", server.log())
        assert found, server.log()
        admin = {"authorization": f"Bearer {found.group(1)}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            r = http.post("/v1/chat/completions", json=CHAT, headers=admin)
            assert r.status_code == 200, r.text
            assert MARKER in r.json()["choices"][0]["message"]["content"]
            refused(http.get("/_mock/_mock/requests"), 401, "invalid_api_key")
            refused(http.post("/_mock/v1/chat/completions", json=CHAT), 401, "invalid_api_key")
            kept = http.get("/_mock/_mock/requests", headers=admin)
            assert kept.status_code == 404
            assert MARKER not in kept.text
    finally:
        server.stop(timeout=30)
