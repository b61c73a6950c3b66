"""Who is calling a routed endpoint: the caller's key or token, and the admin check."""

from __future__ import annotations

from starlette.requests import Request

from interlock.errors import Forbidden
from interlock.identity.authenticator import Authenticator, Identity
from interlock.identity.principal import Principal

ADMIN_ROLE = "admin"


async def identify(authenticator: Authenticator, request: Request) -> Identity:
    return await authenticator.identify(dict(request.headers))


async def admin(authenticator: Authenticator, request: Request) -> Principal:
    """The caller, who must hold the admin role."""
    principal = (await identify(authenticator, request)).principal
    if ADMIN_ROLE not in principal.roles:
        raise Forbidden("This endpoint needs the admin role.")
    return principal
