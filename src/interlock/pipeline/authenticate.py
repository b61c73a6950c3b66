"""Stage: who is calling."""

from __future__ import annotations

from interlock.identity.authenticator import Authenticator
from interlock.pipeline.call import Call


class Authenticate:
    name = "authenticate"

    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator

    async def __call__(self, call: Call) -> None:
        ident = await self._auth.identify(call.headers)
        call.principal = ident.principal
        call.app = ident.app
        call.auth_method = ident.method
        call.key_id = ident.key_id
