"""What every page shares: the templates, the signed-in session, the CSRF check, the API as its caller.

A page module asks ``Ui`` for the session (``signed_in``), checks a form (``form``), sends its request to
the API (``api``) and renders its template (``render``); it never decides anyone's rights itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from interlock.console.gateway import Answer, Gateway
from interlock.console.session import SESSION_COOKIE, Session, Sessions, SignOuts, same_token

# A form is a few fields of text; nothing a page accepts needs more.
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 200


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
    def __init__(self, gateway: Gateway, sessions: Sessions, sign_outs: SignOuts, nav: Sequence[NavItem],
                 refresh_seconds: float) -> None:
        self.gateway = gateway
        self.sessions = sessions
        self.sign_outs = sign_outs
        self.nav = list(nav)
        self.refresh_seconds = refresh_seconds
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("interlock.console", "templates"),
            autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["when"] = when

    async def signed_in(self, request: Request) -> Session:
        """The request's session: sealed by this console, not expired, not signed out."""
        session = self.sessions.open(request.cookies.get(SESSION_COOKIE))
        if session is None or await self.sign_outs.ended(session):
            raise SignInNeeded()
        return session

    async def form(self, request: Request, session: Session) -> dict[str, str]:
        """The posted form, once its CSRF token is this session's."""
        form = await read_form(request)
        if not same_token(form.get("csrf"), session.csrf):
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


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form of at most ``MAX_FORM_BYTES``, read in bounded pieces (a form is all the console
    takes: no files, no multipart). A field given twice keeps its first value."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused("The form is too large.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and kind != "application/x-www-form-urlencoded":
        raise FormRefused("The console takes forms only (application/x-www-form-urlencoded).")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused("The form could not be read: send it again from the page.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


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
