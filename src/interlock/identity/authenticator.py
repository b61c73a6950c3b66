"""Turns request headers into the principal of a call, and the app acting for it if any.

Key records are looked up through a callable the engine passes in (the store's ``key_by_prefix``):
the store keeps ``ApiKeyRecord`` and ``Principal``, so identity sits below it and imports no store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from interlock.errors import Forbidden, InvalidRequest, ServiceUnavailable, Unauthenticated
from interlock.identity.jwt import JwtVerifier
from interlock.identity.keys import PREFIX_LEN, ApiKeyRecord, looks_like_key, matches
from interlock.identity.principal import Principal
from interlock.settings import IdentitySettings

log = logging.getLogger("interlock.identity")

_MAX_END_USER_LEN = 256
# A header sent more than once arrives with its values newline-separated (see the ASGI layer's
# ``headers_of``); a newline cannot occur inside one header value.
_REPEATED = "\n"

# The key record whose stored prefix is this one, if any.
KeyLookup = Callable[[str], Awaitable[ApiKeyRecord | None]]
# Whether a principal of a tenant holds a key of its own: (tenant, principal id).
HoldsKey = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Identity:
    principal: Principal
    app: Principal | None
    method: str
    # The id of the API key presented (``interlock keys list`` shows it); empty for a token.
    key_id: str = ""


class Authenticator:
    def __init__(self, key_by_prefix: KeyLookup, settings: IdentitySettings, jwt: JwtVerifier | None,
                 known_tenants: Callable[[], Collection[str]] | None = None,
                 holds_key: HoldsKey | None = None) -> None:
        self._key_by_prefix = key_by_prefix
        self._holds_key = holds_key
        self._jwt = jwt
        self._end_user_header = settings.end_user_header.lower()
        self._end_user_token_header = settings.end_user_token_header.lower()
        # The tenants the policy catalogue knows: a token naming another one identifies nobody here.
        self._known_tenants = known_tenants

    def _unambiguous(self, headers: dict[str, str]) -> None:
        """One credential, one end user: a repeated or conflicting identity header is refused, never
        resolved by picking one (which a proxy and the gateway might pick differently)."""
        for name in ("authorization", "x-api-key", self._end_user_header, self._end_user_token_header):
            if _REPEATED in headers.get(name, ""):
                raise InvalidRequest(f"The {name} header was sent more than once; send it once.", param=name)
        auth, api_key = headers.get("authorization"), headers.get("x-api-key")
        if auth and api_key and auth.partition(" ")[2].strip() != api_key.strip():
            raise InvalidRequest("Authorization and x-api-key name different credentials; send one.")
        if self._end_user_header in headers and self._end_user_token_header in headers:
            raise InvalidRequest(f"Name the end user once: {self._end_user_header} or "
                                 f"{self._end_user_token_header}, not both.")

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

    async def key_record(self, key: str) -> ApiKeyRecord:
        try:
            record = await self._key_by_prefix(key[:PREFIX_LEN])
        except Exception:
            # Fail closed, and say it is the gateway's state, not the caller's key.
            log.exception("the key store could not be read")
            raise ServiceUnavailable("The gateway cannot check API keys right now (its store is unavailable); "
                                     "try again shortly.") from None
        if record is None or not matches(record, key):
            raise Unauthenticated("The API key is not valid. Check it, or create one with 'interlock keys create'.")
        state = record.state(time.time())
        if state == "revoked":
            raise Unauthenticated("The API key has been revoked. Ask an administrator for a new key.")
        if state == "expired":
            raise Unauthenticated("The API key has expired. Ask an administrator for a new key.")
        return record

    async def identify(self, headers: dict[str, str]) -> Identity:
        self._unambiguous(headers)
        token = self._credential(headers)
        if looks_like_key(token):
            key = await self.key_record(token)
            caller, key_id = key.principal, key.id
            method = "api_key"
        elif self._jwt is not None and token.count(".") == 2:
            user = self._known(await self._jwt.verify(token))
            if self._end_user_header in headers or self._end_user_token_header in headers:
                raise Forbidden("A caller signed in with a token acts for itself only; send the end user's "
                                "request with their own token.")
            return Identity(user, None, "jwt")
        else:
            raise Unauthenticated("The API key is not valid. Check it, or create one with 'interlock keys create'.")

        user_token = headers.get(self._end_user_token_header)
        asserted = headers.get(self._end_user_header)
        if user_token is None and asserted is None:
            return Identity(caller, None, method, key_id)
        if not caller.may_act_for:
            raise Forbidden(f"The principal {caller.id!r} may not act on behalf of end users; "
                            "an administrator can create a key with --may-act-for.")
        if user_token is not None:
            if self._jwt is None:
                raise Unauthenticated("End-user tokens are not configured on this gateway (identity.jwt).")
            user = self._known(await self._jwt.verify(user_token))
            if user.tenant != caller.tenant:
                raise Forbidden("The end user belongs to another tenant than the application.")
            await self._may_act_for(caller, user)
            return Identity(user, caller, method + "+user_jwt", key_id)
        assert asserted is not None
        asserted = asserted.strip()
        if not asserted or len(asserted) > _MAX_END_USER_LEN or not asserted.isprintable():
            raise Unauthenticated(f"The {self._end_user_header} header must be a printable id of at most "
                                  f"{_MAX_END_USER_LEN} characters.")
        # An asserted end user is only as trusted as the app: it carries no roles of its own.
        user = Principal(id=asserted, kind="user", tenant=caller.tenant)
        await self._may_act_for(caller, user)
        return Identity(user, caller, method + "+asserted_user", key_id)

    async def _may_act_for(self, app: Principal, user: Principal) -> None:
        """The bounds of acting for end users: explicit ids and groups where the app's key names them, and
        never (unless named) a principal with keys of its own or an administrator, whom the app could
        otherwise impersonate."""
        if user.id in app.act_for_ids or user.id == app.id:
            return
        if (app.act_for_ids or app.act_for_groups) and not user.groups & app.act_for_groups:
            raise Forbidden(f"The application {app.id!r} may act only for the end users and groups its key names; "
                            f"{user.id!r} is not among them.")
        if "admin" in user.roles:
            raise Forbidden(f"The application {app.id!r} may not act for an administrator unless its key names "
                            "them (act_for).")
        if self._holds_key is not None:
            try:
                holds = await self._holds_key(user.tenant, user.id)
            except Exception:
                log.exception("the key store could not be read")
                raise ServiceUnavailable("The gateway cannot check API keys right now (its store is unavailable); "
                                         "try again shortly.") from None
            if holds:
                raise Forbidden(f"The application {app.id!r} may not act for {user.id!r}, who holds keys of their "
                                "own, unless its key names them (act_for).")

    def _known(self, user: Principal) -> Principal:
        if self._known_tenants is not None and user.tenant not in self._known_tenants():
            raise Unauthenticated(f"The token names a tenant this gateway does not know ({user.tenant!r}).")
        return user
