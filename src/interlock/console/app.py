"""The console's ASGI app: sign-in and sign-out, the pages, static files, and its own error pages.

Mounted by the HTTP edge at ``/console``. Sign-in exchanges an API key for a session: the key is checked
by the gateway's authenticator (the same check every API call gets), then sealed into the session
cookie; afterwards each page sends the person's own requests to the API with it. Where an identity
provider is configured (``console.oidc``), sign-in may go through it instead (``oidc.py``): the ID
token it issues, verified by the same authenticator, is what the session carries.
"""

from __future__ import annotations

import secrets
import time

from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from interlock.console.gateway import Gateway
from interlock.console.oidc import (
    FLOW_COOKIE,
    FLOW_SECONDS,
    OidcClient,
    SignInRefused,
    check_nonce,
    flow_from_json,
    flow_to_json,
)
from interlock.console.pages import Page
from interlock.console.pages.approvals import ApprovalsPage
from interlock.console.pages.audit import AuditPage
from interlock.console.pages.cost import CostPage
from interlock.console.pages.keys import KeysPage
from interlock.console.pages.policy import PolicyPage
from interlock.console.pages.tools import ToolsPage
from interlock.console.pages.usecases import UseCasesPage
from interlock.console.session import SESSION_COOKIE, SIGNIN_COOKIE, Sessions, SignOuts, same_token
from interlock.console.ui import FormRefused, SignInNeeded, Ui, read_form, redirect
from interlock.engine import Engine, key_dir
from interlock.errors import Refusal
from interlock.redact.guard import vault_cipher

SESSION_LABEL = "interlock console sessions"
SIGNIN_SECONDS = 3600


class Console:
    """``gateway.app`` must be set to the HTTP edge's routed app before the first request."""

    def __init__(self, engine: Engine, gateway: Gateway) -> None:
        settings = engine.settings.console
        secret = vault_cipher(engine.settings.redaction, key_dir(engine.settings)).derive(SESSION_LABEL).encode()
        self._authenticator = engine.authenticator
        self.sessions = Sessions(secret, settings.session_minutes * 60, secure=settings.secure_cookies)
        pages: list[Page] = [ApprovalsPage(), AuditPage(lambda: engine.audit.signer), UseCasesPage(), CostPage(),
                             PolicyPage(), KeysPage(), ToolsPage()]
        self.sign_outs = SignOuts(engine.store)
        self.oidc = OidcClient(settings.oidc) if settings.oidc is not None else None
        self.ui = Ui(gateway, self.sessions, self.sign_outs, [p.nav for p in pages], settings.refresh_seconds)
        routes = [
            Route("/", self.home, methods=["GET"]),
            Route("/sign-in", self.sign_in_form, methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Route("/oidc/start", self.oidc_start, methods=["GET"]),
            Route("/oidc/callback", self.oidc_callback, methods=["GET"]),
            Mount("/static", StaticFiles(packages=[("interlock.console", "static")]), name="static"),
        ]
        for page in pages:
            routes.extend(page.routes(self.ui))
        # Refusals the console expects become its own pages; anything else reaches the gateway's error
        # home, which fails closed with a request id.
        self.app = ExceptionMiddleware(Router(routes, redirect_slashes=False), handlers={
            SignInNeeded: self._to_sign_in, FormRefused: self._form_refused, Refusal: self._refusal,
            404: self._not_found, 405: self._not_allowed})

    @staticmethod
    async def entry(request: Request) -> Response:
        """``/console`` itself: the console's pages live under ``/console/``."""
        return redirect("/console/")

    async def home(self, request: Request) -> Response:
        await self.ui.signed_in(request)
        return redirect("/console/approvals")

    async def sign_in_form(self, request: Request, problem: str | None = None, status: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        response = self.ui.render(request, "sign_in.html", None, status=status, signin_token=token, problem=problem,
                                  oidc=self.oidc.settings.name if self.oidc is not None else None)
        response.headers.append("set-cookie", self.sessions.cookie(SIGNIN_COOKIE, token, SIGNIN_SECONDS))
        return response

    async def sign_in(self, request: Request) -> Response:
        form = await read_form(request)
        if not same_token(form.get("csrf"), request.cookies.get(SIGNIN_COOKIE, "")):
            return await self.sign_in_form(request, "The sign-in form was out of date: send it again.", 403)
        key = str(form.get("api_key", "")).strip()
        try:
            identity = await self._authenticator.identify({"authorization": f"Bearer {key}"})
        except Refusal as refusal:
            return await self.sign_in_form(request, f"Not signed in: {refusal.message}", refusal.status)
        p = identity.principal
        session = self.sessions.new(key, p.id, p.tenant, tuple(sorted(p.roles)))
        response = redirect("/console/approvals")
        response.headers.append("set-cookie", self.sessions.cookie(SESSION_COOKIE, self.sessions.seal(session),
                                                                   int(self.sessions.lifetime)))
        response.headers.append("set-cookie", self.sessions.cookie(SIGNIN_COOKIE, "", 0))
        return response

    async def oidc_start(self, request: Request) -> Response:
        """Off to the identity provider, with a fresh state, nonce and PKCE verifier kept in a sealed cookie."""
        if self.oidc is None:
            return await self._not_found(request, Exception())
        flow = self.oidc.new_flow()
        try:
            url = await self.oidc.authorization_url(flow)
        except SignInRefused as exc:
            return await self.sign_in_form(request, f"Not signed in: {exc}", 502)
        response = redirect(url)
        response.headers.append("set-cookie", self.sessions.cookie(
            FLOW_COOKIE, self.sessions.seal_text(flow_to_json(flow), FLOW_COOKIE), FLOW_SECONDS, same_site="Lax"))
        return response

    async def oidc_callback(self, request: Request) -> Response:
        """Back from the identity provider: the state, the code for an ID token, its check and its nonce."""
        if self.oidc is None:
            return await self._not_found(request, Exception())
        params = request.query_params
        sealed = self.sessions.open_text(request.cookies.get(FLOW_COOKIE), FLOW_COOKIE)
        try:
            if params.get("error"):
                raise SignInRefused(f"The identity provider said {params['error']!r}"
                                    f"{': ' + params['error_description'] if params.get('error_description') else ''}.")
            if sealed is None:
                raise SignInRefused("This sign-in was not started here or took too long: start it again.")
            flow = flow_from_json(sealed)
            if not same_token(params.get("state"), flow.state):
                raise SignInRefused("The identity provider's answer is not for this sign-in (its state does not "
                                    "match): start it again.")
            code = params.get("code")
            if not code:
                raise SignInRefused("The identity provider sent no code.")
            id_token = await self.oidc.exchange(flow, code)
            try:
                identity = await self._authenticator.identify({"authorization": f"Bearer {id_token}"})
            except Refusal as refusal:
                raise SignInRefused(f"The ID token was refused: {refusal.message}") from None
            expires = check_nonce(id_token, flow)
        except SignInRefused as exc:
            response = await self.sign_in_form(request, f"Not signed in: {exc}", 401)
            response.headers.append("set-cookie", self.sessions.cookie(FLOW_COOKIE, "", 0, same_site="Lax"))
            return response
        p = identity.principal
        session = self.sessions.new(id_token, p.id, p.tenant, tuple(sorted(p.roles)), expires=expires)
        # A page, not a redirect: this answer ends a navigation that came from the provider's site, and the
        # session cookie (SameSite=Strict) is sent from the next one, which starts here.
        response = self.ui.render(request, "signed_in.html", None)
        response.headers.append("set-cookie", self.sessions.cookie(
            SESSION_COOKIE, self.sessions.seal(session), max(1, int(session.expires - time.time()))))
        response.headers.append("set-cookie", self.sessions.cookie(FLOW_COOKIE, "", 0, same_site="Lax"))
        return response

    async def sign_out(self, request: Request) -> Response:
        session = await self.ui.signed_in(request)
        await self.ui.form(request, session)
        # Ended here for every copy of the cookie, not only in this browser.
        await self.sign_outs.add(session)
        response = redirect("/console/sign-in")
        response.headers.append("set-cookie", self.sessions.cookie(SESSION_COOKIE, "", 0))
        return response

    async def _to_sign_in(self, request: Request, exc: Exception) -> Response:
        if request.method == "GET":
            return redirect("/console/sign-in")
        return self.ui.render(request, "refused.html", None, status=401, request_id="",
                              message="Your session has ended: sign in again.")

    async def _form_refused(self, request: Request, exc: Exception) -> Response:
        return self.ui.render(request, "refused.html", self.sessions.open(request.cookies.get(SESSION_COOKIE)),
                              status=403, request_id="", message=str(exc))

    async def _refusal(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        return self.ui.render(request, "refused.html", self.sessions.open(request.cookies.get(SESSION_COOKIE)),
                              status=exc.status, request_id="", message=exc.message)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return self.ui.render(request, "refused.html", self.sessions.open(request.cookies.get(SESSION_COOKIE)),
                              status=404, request_id="", message="There is no such page in the console.")

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        return self.ui.render(request, "refused.html", self.sessions.open(request.cookies.get(SESSION_COOKIE)),
                              status=405, request_id="", message="That page does not take this method.")
