"""Turns request headers into the principal of a call, and the app acting for it if any.

Key records are looked up through a callable the engine passes in (the store's ``key_by_prefix``):
the store keeps ``ApiKeyRecord`` and ``Principal``, so identity sits below it and imports no store.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from interlock.errors import Forbidden, Unauthenticated
from interlock.identity.jwt import JwtVerifier
from interlock.identity.keys import PREFIX_LEN, ApiKeyRecord, looks_like_key, matches
from interlock.identity.principal import Principal
from interlock.settings import IdentitySettings

_MAX_END_USER_LEN = 256

# The key record whose stored prefix is this one, if any.
KeyLookup = Callable[[str], Awaitable[ApiKeyRecord | None]]


@dataclass(frozen=True, slots=True)
class Identity:
    principal: Principal
    app: Principal | None
    method: str


class Authenticator:
    def __init__(self, key_by_prefix: KeyLookup, settings: IdentitySettings, jwt: JwtVerifier | None) -> None:
        self._key_by_prefix = key_by_prefix
        self._jwt = jwt
        self._end_user_header = settings.end_user_header.lower()
        self._end_user_token_header = settings.end_user_token_header.lower()

    @staticmethod
    def _credential(headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("Send the key as 'Authorization: Bearer <key>'.")
            return token.strip()
        key = headers.get("x-api-key", "").strip()
        if key:
            return key
        raise Unauthenticated("No API key was sent. Send 'Authorization: Bearer <key>'; "
                              "create a key with 'interlock keys create'.")

    async def key_principal(self, key: str) -> Principal:
        record = await self._key_by_prefix(key[:PREFIX_LEN])
        if record is None or not matches(record, key):
            raise Unauthenticated("The API key is not valid. Check it, or create one with 'interlock keys create'.")
        state = record.state(time.time())
        if state == "revoked":
            raise Unauthenticated("The API key has been revoked. Ask an administrator for a new key.")
        if state == "expired":
            raise Unauthenticated("The API key has expired. Ask an administrator for a new key.")
        return record.principal

    async def identify(self, headers: dict[str, str]) -> Identity:
        token = self._credential(headers)
        if looks_like_key(token):
            caller = await self.key_principal(token)
            method = "api_key"
        elif self._jwt is not None and token.count(".") == 2:
            return Identity(await self._jwt.verify(token), None, "jwt")
        else:
            raise Unauthenticated("The API key is not valid. Check it, or create one with 'interlock keys create'.")

        user_token = headers.get(self._end_user_token_header)
        asserted = headers.get(self._end_user_header)
        if user_token is None and asserted is None:
            return Identity(caller, None, method)
        if not caller.may_act_for:
            raise Forbidden(f"The principal {caller.id!r} may not act on behalf of end users; "
                            "an administrator can create a key with --may-act-for.")
        if user_token is not None:
            if self._jwt is None:
                raise Unauthenticated("End-user tokens are not configured on this gateway (identity.jwt).")
            user = await self._jwt.verify(user_token)
            if user.tenant != caller.tenant:
                raise Forbidden("The end user belongs to another tenant than the application.")
            return Identity(user, caller, method + "+user_jwt")
        assert asserted is not None
        asserted = asserted.strip()
        if not asserted or len(asserted) > _MAX_END_USER_LEN or not asserted.isprintable():
            raise Unauthenticated(f"The {self._end_user_header} header must be a printable id of at most "
                                  f"{_MAX_END_USER_LEN} characters.")
        # An asserted end user is only as trusted as the app: it carries no roles of its own.
        user = Principal(id=asserted, kind="user", tenant=caller.tenant)
        return Identity(user, caller, method + "+asserted_user")
