"""What every page shares: the templates, the signed-in session, the CSRF check, the API as its caller.

A page module asks ``Ui`` for the session (``signed_in``), checks a form (``form``), sends its request to
the API (``api``) and renders its template (``render``); it never decides anyone's rights itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from interlock.console.gateway import Answer, Gateway
from interlock.console.session import SESSION_COOKIE, Session, Sessions, same_token

# A form is a few fields of text; nothing a page accepts needs more.
MAX_FORM_BYTES = 256 * 1024


@dataclass(frozen=True)
class NavItem:
    path: str
    title: str


class SignInNeeded(Exception):
    """No valid session: the person is sent to the sign-in page."""


class FormRefused(Exception):
    """A form without this session's CSRF token (or too large): refused before anything is done."""


def when(ts: Any) -> str:
    """A Unix time as an ISO date and time in UTC, for people."""
    if not isinstance(ts, int | float):
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Ui:
    def __init__(self, gateway: Gateway, sessions: Sessions, nav: Sequence[NavItem], refresh_seconds: float) -> None:
        self.gateway = gateway
        self.sessions = sessions
        self.nav = list(nav)
        self.refresh_seconds = refresh_seconds
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("interlock.console", "templates"),
            autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["when"] = when

    def signed_in(self, request: Request) -> Session:
        session = self.sessions.open(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise SignInNeeded()
        return session

    async def form(self, request: Request, session: Session) -> FormData:
        """The posted form, once its CSRF token is this session's."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
            raise FormRefused("The form is too large.")
        form = await request.form(max_files=0, max_fields=200)
        token = form.get("csrf")
        if not same_token(token if isinstance(token, str) else None, session.csrf):
            raise FormRefused("This form is out of date or did not come from this console: reload the page and "
                              "send it again.")
        return form

    async def api(self, session: Session, method: str, path: str, *, query: dict[str, str] | None = None,
                  body: Any = None) -> Answer:
        return await self.gateway.call(session.key, method, path, query=query, body=body)

    def render(self, request: Request, template: str, session: Session | None, *, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            session=session, nav=self.nav, path=request.url.path, refresh_seconds=self.refresh_seconds,
            csrf=session.csrf if session else "", **context)
        return HTMLResponse(html, status, headers=SECURITY_HEADERS)

    def refused(self, request: Request, session: Session, answer: Answer, template: str = "refused.html") -> Response:
        """The API's refusal, shown with its status, message and request id."""
        return self.render(request, template, session, status=answer.status, message=answer.error,
                           request_id=answer.request_id)


def redirect(path: str) -> Response:
    return RedirectResponse(path, 303, headers=SECURITY_HEADERS)


# Pages are never framed, never cached, and run only the console's own script and style.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
