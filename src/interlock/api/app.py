"""The ASGI app: the HTTP edge over the engine, composed from one module per surface.

``POST /v1/chat/completions`` (and ``POST /v1/messages``, Anthropic's) is the hot path: a dictionary look-up on
raw ASGI before anything else,
so it pays for nothing it does not use. Every other route goes through Starlette's router (path
parameters, 405 with Allow) inside the error home. ``create_app`` is the factory the server calls in
every worker process.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

from starlette.routing import BaseRoute, Match, Mount, Route, Router

from interlock.api.admin import AdminApi
from interlock.api.approvals import ApprovalsApi
from interlock.api.asgi import ASGIApp, ClientGone, Receive, Scope, Send
from interlock.api.chat import CHAT_PATH, ChatEndpoint
from interlock.api.embeddings import EmbeddingsApi
from interlock.api.errors import ErrorHome, not_found
from interlock.api.feedback import FeedbackApi
from interlock.api.health import HealthApi
from interlock.api.knowledge_admin import KnowledgeAdminApi
from interlock.api.mcp import McpMount
from interlock.api.messages import MESSAGES_PATH, CountTokensApi, MessagesEndpoint
from interlock.api.mock import MOCK_PREFIX, MockMount, with_mock_key
from interlock.api.models import ModelsApi
from interlock.api.responses import RESPONSES_PATH, ResponsesEndpoint
from interlock.api.retrieve import RetrieveApi
from interlock.api.usecases import UseCasesApi
from interlock.approvals.actions import ApprovalActions
from interlock.approvals.texts import TextGuard
from interlock.console.app import Console
from interlock.console.gateway import Gateway
from interlock.engine import Engine, key_dir
from interlock.providers.mock import build_mock_app
from interlock.redact.guard import vault_cipher
from interlock.settings import ConfigError, Settings, load_settings

log = logging.getLogger("interlock.app")

CONFIG_ENV = "INTERLOCK_CONFIG"
MOCK_KEY_LABEL = "interlock mounted mock model"


class InterlockApp:
    """``mock`` is the built-in mock model to mount under ``/_mock`` and its key (see ``api/mock.py``)."""

    def __init__(self, engine: Engine, mock: tuple[ASGIApp, str] | None = None) -> None:
        self.engine = engine
        self.settings: Settings = engine.settings
        self._mock = None if mock is None else ErrorHome(MockMount(mock[0], engine.authenticator, mock[1]),
                                                         lambda scope: [])
        chat = ChatEndpoint(engine)
        messages = MessagesEndpoint(engine)
        self._hot: dict[tuple[str, str], ASGIApp] = {("POST", CHAT_PATH): chat, ("POST", MESSAGES_PATH): messages}
        limits = self.settings.limits
        actions = ApprovalActions(engine.approvals, TextGuard(engine.guard.scan, engine.policy),
                                  max_wait_seconds=self.settings.approvals.max_wait_seconds)
        mcp = McpMount(engine.mcp, limits.max_body_bytes)
        routes: list[BaseRoute] = [
            # Reached only for other methods: POST is answered by the look-up in __call__.
            Route(CHAT_PATH, chat, methods=["POST"]),
            Route(MESSAGES_PATH, messages, methods=["POST"]),
            *CountTokensApi(engine).routes(),
            *ModelsApi(engine).routes(),
            *EmbeddingsApi(engine).routes(),
            *RetrieveApi(engine).routes(),
            *FeedbackApi(engine).routes(),
            Route(RESPONSES_PATH, ResponsesEndpoint(engine), methods=["POST"]),
            *HealthApi(engine).routes(),
            *AdminApi(engine).routes(),
            *KnowledgeAdminApi(engine).routes(),
            *UseCasesApi(engine).routes(),
            *ApprovalsApi(actions, engine.authenticator, max_body_bytes=limits.max_body_bytes,
                          max_json_depth=limits.max_json_depth).routes(),
            Route("/mcp", mcp),
            Route("/mcp/", mcp),
        ]
        console_gateway = Gateway()
        if self.settings.console.enabled:
            # The console answers its own pages (HTML, its own error pages) and acts through the routes above.
            console = Console(engine, console_gateway)
            routes += [Route("/console", console.entry, methods=["GET"]), Mount("/console", console.app)]
        # No trailing-slash redirects: a path is an endpoint or it is not.
        self._router = Router(routes, redirect_slashes=False, default=self._not_found)
        self._routed = ErrorHome(self._routed_app, self._allowed)
        console_gateway.app = self._routed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            hot = self._hot.get((scope["method"], scope["path"]))
            if hot is not None:
                try:
                    await hot(scope, receive, send)
                except ClientGone:
                    return
                return
            if self._mock is not None and scope["path"].startswith(MOCK_PREFIX + "/"):
                await self._mock(scope, receive, send)
                return
            await self._routed(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _routed_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        # With the app in the scope, the router raises 405s for the error home instead of answering plain text.
        scope["app"] = self
        await self._router(scope, receive, send)

    @staticmethod
    async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
        raise not_found(scope)

    def _allowed(self, scope: Scope) -> list[str]:
        """Every method some route accepts on this path (the router names only the first route's)."""
        methods: set[str] = set()
        for route in self._router.routes:
            if isinstance(route, Route) and route.methods and route.matches(scope)[0] is not Match.NONE:
                methods |= route.methods
        return sorted(methods)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.engine.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                # Everything built at start-up lives as long as the worker: moved out of the collector's
                # sight, it is not walked again by every full collection.
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.engine.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_app(settings: Settings) -> InterlockApp:
    if not settings.server.mount_mock:
        return InterlockApp(Engine(settings))
    # The mounted mock keeps no record, and answers the gateway (which sends its key) and administrators.
    token = vault_cipher(settings.redaction, key_dir(settings)).derive(MOCK_KEY_LABEL)
    return InterlockApp(Engine(with_mock_key(settings, token)), (build_mock_app(record=False), token))


# How long a thread that wants the GIL waits before the running one is made to let go (Python's
# default is 5 ms). The store's writer thread needs the GIL back after every statement it runs; on a
# busy event loop, the default would add milliseconds to each commit, which every call waits for.
SWITCH_INTERVAL_SECONDS = 0.0005
GC_YOUNG_THRESHOLD = 5000


def create_app() -> InterlockApp:
    """Factory for the server: settings come from the file named in ``INTERLOCK_CONFIG``."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # A call allocates a few hundred container objects and frees nearly all of them by reference
    # counting; with the default threshold (700) the collector still ran every twenty calls or so.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    path = os.environ.get(CONFIG_ENV)
    try:
        return build_app(load_settings(Path(path) if path else None))
    except ConfigError as exc:
        # Settings that cannot serve (a policy set that does not load, a bad detector pattern) stop
        # the worker with the problem as written, not a traceback.
        sys.stderr.write(f"interlock: cannot start: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None

