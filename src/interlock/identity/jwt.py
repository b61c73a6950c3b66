"""End users proving who they are with a JWT from the organisation's identity provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from interlock.errors import Unauthenticated
from interlock.identity.principal import Principal
from interlock.settings import ConfigError, JwtSettings


def _names(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    return frozenset()


class JwtVerifier:
    """Verifies RS256/ES256 tokens against a JWKS (file or URL) with issuer, audience and expiry."""

    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self._keys: dict[str, Any] = {}
        if settings.jwks_file is not None:
            self._install(self._read_file(settings.jwks_file))

    @staticmethod
    def _read_file(path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"identity.jwt.jwks_file {path}: cannot load a JWKS: {exc}") from exc
        if not isinstance(doc, dict):
            raise ConfigError(f"identity.jwt.jwks_file {path}: not a JWKS object")
        return doc

    def _install(self, jwks: dict[str, Any]) -> None:
        try:
            keyset = jwt.PyJWKSet.from_dict(jwks)
        except jwt.PyJWTError as exc:
            raise ConfigError(f"identity.jwt: the JWKS holds no usable key: {exc}") from exc
        self._keys = {k.key_id or "": k for k in keyset.keys}

    async def refresh(self) -> None:
        """Fetch the JWKS from its URL (at start-up and when a token names an unknown key)."""
        url = self.settings.jwks_url
        if url is None:
            return
        async with aiohttp.ClientSession() as s, s.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
            r.raise_for_status()
            self._install(await r.json(content_type=None))

    async def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The bearer token is not a well-formed JWT.") from None
        kid = header.get("kid") or ""
        key = self._keys.get(kid)
        if key is None and s.jwks_url is not None:
            try:
                await self.refresh()
            except (aiohttp.ClientError, TimeoutError, ConfigError):
                raise Unauthenticated("The token's signing keys could not be fetched; try again later.") from None
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("The token is signed by a key this gateway does not trust.")
        try:
            claims = jwt.decode(token, key.key, algorithms=list(s.algorithms), audience=s.audience,
                                issuer=s.issuer, leeway=s.leeway_seconds,
                                options={"require": ["exp", "iss", "aud", s.subject_claim]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The token has expired; obtain a new one.") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("The token was issued for another audience.") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("The token was issued by an untrusted issuer.") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("The token's signature does not verify.") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"The token is not valid: {exc}.") from None
        subject = claims[s.subject_claim]
        if not isinstance(subject, str | int) or not str(subject).strip():
            raise Unauthenticated(f"The token's {s.subject_claim!r} claim is empty: it names nobody.")
        tenant = claims.get(s.tenant_claim)
        if tenant is not None and not isinstance(tenant, str):
            raise Unauthenticated(f"The token's {s.tenant_claim!r} claim is not a tenant name.")
        return Principal(
            id=str(subject).strip(),
            kind="user",
            tenant=tenant or "default",
            roles=_names(claims.get(s.roles_claim)),
            groups=_names(claims.get(s.groups_claim)),
        )
