"""Fixtures for approval tests: approval services on a real store (SQLite file or PostgreSQL database),
the people who ask and decide, and a gateway with approval routes and a webhook receiver."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from approvals_support import (
    ROUTES,
    WEBHOOK_SECRET,
    ServiceFactory,
    WebhookReceiver,
    approvals_gateway,
    headers_for,
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


def _approvals_gw(request: pytest.FixtureRequest, factory: GatewayFactory, receiver: WebhookReceiver,
                  tmp: pytest.TempPathFactory, *, served: bool) -> Iterator[Gateway]:
    directory = tmp.mktemp("approvals")
    secret_file = directory / "webhook.secret"
    secret_file.write_text(WEBHOOK_SECRET, encoding="utf-8")
    gw = approvals_gateway(factory, request.param, receiver.url, secret_file, directory, served=served)
    yield gw
    gw.stop()


@pytest.fixture(scope="session", params=STORES)
def approvals_gw(request: pytest.FixtureRequest, gateway_factory: GatewayFactory,
                 webhook_receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway with approval routes, a signed webhook and keys for requesters and approvers, in-process,
    once per store."""
    yield from _approvals_gw(request, gateway_factory, webhook_receiver, tmp_path_factory, served=False)


@pytest.fixture(scope="session", params=STORES)
def served_approvals_gw(request: pytest.FixtureRequest, gateway_factory: GatewayFactory,
                        webhook_receiver: WebhookReceiver,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The same gateway served by a process, for a client that hangs up."""
    yield from _approvals_gw(request, gateway_factory, webhook_receiver, tmp_path_factory, served=True)


@pytest.fixture
def client(approvals_gw: Gateway) -> Iterator[httpx.Client]:
    with approvals_gw.http() as c:
        yield c


@pytest.fixture
def as_user(approvals_gw: Gateway) -> Callable[..., dict[str, str]]:
    """Headers for one of the gateway's keys (``as_user("rita")``), acting for an end user if asked."""
    return functools.partial(headers_for, approvals_gw)
