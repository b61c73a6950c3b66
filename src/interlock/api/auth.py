"""Who is calling a routed endpoint: the caller's key or token, and the admin check."""

from __future__ import annotations

from starlette.requests import Request

from interlock.api.asgi import headers_of
from interlock.errors import Forbidden
from interlock.identity.authenticator import Authenticator, Identity
from interlock.identity.principal import Principal

ADMIN_ROLE = "admin"


async def identify(authenticator: Authenticator, request: Request) -> Identity:
    # Read as the chat route reads them, so a caller is identified the same way on every route.
    return await authenticator.identify(headers_of(request.scope))


async def admin(authenticator: Authenticator, request: Request) -> Principal:
    """The caller, who must hold the admin role."""
    principal = (await identify(authenticator, request)).principal
    if ADMIN_ROLE not in principal.roles:
        raise Forbidden("This endpoint needs the admin role.")
    return principal
