"""Sign-in with OpenID Connect: the authorization-code flow with PKCE (S256), state and nonce.

``start`` reads the provider's discovery document, keeps a fresh state, nonce and code verifier in a
short-lived sealed cookie, and sends the browser to the provider. ``finish`` checks the state the
provider sends back against that cookie, exchanges the code (with the verifier) for tokens at the
token endpoint, has the ID token verified by the gateway's own JWT check (signature against the
provider's keys, issuer, audience, expiry: ``identity.jwt``, which must trust this issuer with the
client id as audience), and checks its nonce. The ID token then becomes the session's bearer: every
page is the person's own request to the API, as with a key.

The flow's cookie is ``SameSite=Lax``, not Strict: the provider sends the browser back with a top-level
navigation from its own site, which a Strict cookie would not accompany.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt

from interlock.settings import OidcSettings

FLOW_COOKIE = "interlock_console_oidc"
FLOW_SECONDS = 600
# The discovery document is read again after this long.
_DISCOVERY_SECONDS = 3600


class SignInRefused(Exception):
    """The sign-in cannot go on; the message says why, in words for the person signing in."""


@dataclass(frozen=True)
class Flow:
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str


def challenge(verifier: str) -> str:
    """The PKCE S256 code challenge of ``verifier`` (RFC 7636)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class OidcClient:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._provider: Provider | None = None
        self._read_at = 0.0

    def new_flow(self) -> Flow:
        return Flow(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))

    async def provider(self) -> Provider:
        if self._provider is not None and time.monotonic() - self._read_at < _DISCOVERY_SECONDS:
            return self._provider
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = await self._get_json(url, "discovery document")
        if doc.get("issuer") != self.settings.issuer:
            raise SignInRefused(f"The identity provider's discovery document names the issuer {doc.get('issuer')!r}, "
                                f"not {self.settings.issuer!r}.")
        try:
            provider = Provider(str(doc["authorization_endpoint"]), str(doc["token_endpoint"]))
        except KeyError as exc:
            raise SignInRefused(f"The identity provider's discovery document has no {exc.args[0]}.") from None
        self._provider, self._read_at = provider, time.monotonic()
        return provider

    async def authorization_url(self, flow: Flow) -> str:
        s = self.settings
        query = {"response_type": "code", "client_id": s.client_id, "redirect_uri": s.redirect_url,
                 "scope": " ".join(s.scopes), "state": flow.state, "nonce": flow.nonce,
                 "code_challenge": challenge(flow.verifier), "code_challenge_method": "S256"}
        endpoint = (await self.provider()).authorization_endpoint
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)

    async def exchange(self, flow: Flow, code: str) -> str:
        """The ID token for ``code``; not yet verified."""
        s = self.settings
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": s.redirect_url,
                "code_verifier": flow.verifier, "client_id": s.client_id}
        auth = aiohttp.BasicAuth(s.client_id, s.client_secret) if s.client_secret is not None else None
        endpoint = (await self.provider()).token_endpoint
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    endpoint, data=form, auth=auth, timeout=aiohttp.ClientTimeout(total=s.timeout_seconds)) as r:
                text = await r.text()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SignInRefused(f"The identity provider's token endpoint could not be reached: "
                                f"{type(exc).__name__}.") from None
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if status != 200 or not isinstance(doc, dict):
            error = doc.get("error") if isinstance(doc, dict) else None
            raise SignInRefused(f"The identity provider refused the code ({status}{', ' + str(error) if error else ''}).")
        token = doc.get("id_token")
        if not isinstance(token, str):
            raise SignInRefused("The identity provider's answer holds no ID token.")
        return token

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    url, timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds)) as r:
                r.raise_for_status()
                doc = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInRefused(f"The identity provider's {what} could not be read: {type(exc).__name__}.") from None
        if not isinstance(doc, dict):
            raise SignInRefused(f"The identity provider's {what} is not a JSON object.")
        return doc


def check_nonce(id_token: str, flow: Flow) -> float:
    """The verified ID token's expiry, once its nonce is this flow's (read after the gateway's JWT check
    has verified the signature, so the claims are the provider's)."""
    claims = jwt.decode(id_token, options={"verify_signature": False})
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), flow.nonce.encode()):
        raise SignInRefused("The ID token was not issued for this sign-in (its nonce does not match): sign in again.")
    return float(claims["exp"])


def flow_to_json(flow: Flow) -> str:
    return json.dumps({"s": flow.state, "n": flow.nonce, "v": flow.verifier})


def flow_from_json(text: str) -> Flow:
    doc = json.loads(text)
    return Flow(str(doc["s"]), str(doc["n"]), str(doc["v"]))
