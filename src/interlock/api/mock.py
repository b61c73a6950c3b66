"""The built-in mock model on the gateway's own port (``server.mount_mock``, on in the embedded defaults).

Everything under ``/_mock/`` answers only a caller that shows either the mounted mock's own key, which
the gateway sends as the provider's key of a mock on its own port, or a gateway key with the admin
role; anyone else gets 401 or 403 in the error shape, from the error home. The mock mounted here keeps
no record of what it receives (``build_mock_app(record=False)``), so its control endpoint has nothing to
give away. The mock's key is derived from the placeholder vault key, which every worker of a deployment
already shares, so workers answer each other's calls to it.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from interlock.api.asgi import ASGIApp, Receive, Scope, Send, headers_of
from interlock.api.auth import ADMIN_ROLE
from interlock.errors import Forbidden
from interlock.identity.authenticator import Authenticator
from interlock.settings import ProviderSettings, Settings

MOCK_PREFIX = "/_mock"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class MockMount:
    """The mounted mock behind its key or an admin's; ``token`` is the mock's own key."""

    def __init__(self, mock: ASGIApp, authenticator: Authenticator, token: str) -> None:
        self._mock = mock
        self._authenticator = authenticator
        self._bearer = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = [v for k, v in scope["headers"] if k == b"authorization"]
        if not (len(sent) == 1 and hmac.compare_digest(sent[0], self._bearer)):
            principal = (await self._authenticator.identify(headers_of(scope))).principal
            if ADMIN_ROLE not in principal.roles:
                raise Forbidden("The built-in mock model on the gateway's port answers administrators only; "
                                "call models through /v1/chat/completions.")
        await self._mock({**scope, "path": scope["path"][len(MOCK_PREFIX):]}, receive, send)


def with_mock_key(settings: Settings, token: str) -> Settings:
    """``settings`` in which every mock provider that points at this server's own ``/_mock`` (and has no
    key of its own) sends the mounted mock's key."""
    changed: dict[str, ProviderSettings] = {}
    for name, p in settings.providers.items():
        url = urlsplit(p.base_url)
        own = (p.type == "mock" and url.hostname in _LOOPBACK and url.port == settings.server.port
               and url.path.startswith(MOCK_PREFIX + "/"))
        if own and p.api_key_env is None and p.api_key_file is None and "authorization" not in {
                k.lower() for k in p.headers}:
            changed[name] = p.model_copy(update={"headers": {**p.headers, "authorization": f"Bearer {token}"}})
    if not changed:
        return settings
    return settings.model_copy(update={"providers": {**settings.providers, **changed}})
