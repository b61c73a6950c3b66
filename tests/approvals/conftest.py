"""Fixtures for approval tests: approval services on a real store (SQLite file or PostgreSQL database),
the people who ask and decide, and a gateway with approval routes and a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from approvals_support import (
    ROUTES,
    WEBHOOK_SECRET,
    ServiceFactory,
    WebhookReceiver,
    approvals_gateway,
)

from support.gateways import Gateway, GatewayFactory
from support.stores import STORES


@pytest.fixture
async def services(store_url: str) -> AsyncIterator[ServiceFactory]:
    """``await services()`` opens the store and starts an approval service on it; each call is another
    worker (or a restarted gateway) on the same store. All are stopped at the end."""
    factory = ServiceFactory(store_url, ROUTES)
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session", params=STORES)
def approvals_gw(request: pytest.FixtureRequest, gateway_factory: GatewayFactory,
                 webhook_receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway with approval routes, a signed webhook and keys for requesters and approvers, once per store."""
    directory = tmp_path_factory.mktemp("approvals")
    secret_file = directory / "webhook.secret"
    secret_file.write_text(WEBHOOK_SECRET, encoding="utf-8")
    gw = approvals_gateway(gateway_factory, request.param, webhook_receiver.url, secret_file, directory)
    yield gw
    gw.stop()


@pytest.fixture
def client(approvals_gw: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=approvals_gw.url, timeout=30) as c:
        yield c


@pytest.fixture
def as_user(approvals_gw: Gateway) -> Callable[..., dict[str, str]]:
    """Headers for one of the gateway's keys (``as_user("rita")``), acting for an end user if asked."""
    def headers(name: str, *, end_user: str | None = None, **extra: Any) -> dict[str, str]:
        h = {"authorization": f"Bearer {approvals_gw.keys[name].key}"}
        if end_user is not None:
            h["x-interlock-end-user"] = end_user
        h.update(extra)
        return h

    return headers
