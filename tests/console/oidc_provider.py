"""A small OpenID Connect provider run by the test: discovery, an authorize endpoint that signs the one
configured person in at once, a token endpoint that checks the client, the code and its PKCE verifier,
and the JWKS of a key made here. ``misbehave`` makes it answer wrongly in one way, for the refusals."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from support.http_servers import BackgroundServer, QuietHandler

CLIENT_ID = "interlock-console"
CLIENT_SECRET = "console-secret-for-tests"


@dataclass
class Grant:
    challenge: str
    method: str
    nonce: str
    redirect_uri: str


@dataclass
class OidcProvider:
    """Serve with ``with OidcProvider().serving() as idp:``; ``idp.issuer`` is its URL."""

    subject: str = "ann"
    claims: dict[str, Any] = field(default_factory=lambda: {"tenant": "acme", "roles": ["admin"]})
    # None, "state", "nonce", "issuer", "audience": what it gets wrong.
    misbehave: str | None = None
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                   key_size=2048))
    grants: dict[str, Grant] = field(default_factory=dict)
    # What the token endpoint saw: (code verifier, whether it matched the challenge).
    exchanges: list[tuple[str, bool]] = field(default_factory=list)
    issuer: str = ""
    _server: BackgroundServer | None = None

    def serving(self) -> BackgroundServer:
        provider = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                provider.get(self)

            def do_POST(self) -> None:
                provider.post(self)

        self._server = BackgroundServer(Handler)
        self.issuer = f"http://127.0.0.1:{self._server.port}"
        return self._server

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="idp-1", alg="RS256", use="sig")
        return {"keys": [jwk]}

    @staticmethod
    def _send(handler: QuietHandler, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if body is not None:
            handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def get(self, handler: QuietHandler) -> None:
        url = urlparse(handler.path)
        if url.path == "/.well-known/openid-configuration":
            self._send(handler, 200, {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                                      "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                                      "response_types_supported": ["code"],
                                      "code_challenge_methods_supported": ["S256"]})
        elif url.path == "/jwks":
            self._send(handler, 200, self.jwks())
        elif url.path == "/authorize":
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or "code_challenge" not in q:
                self._send(handler, 400, {"error": "invalid_request"})
                return
            code = secrets.token_urlsafe(16)
            self.grants[code] = Grant(q["code_challenge"], q.get("code_challenge_method", ""), q.get("nonce", ""),
                                      q["redirect_uri"])
            state = q.get("state", "") + ("-changed" if self.misbehave == "state" else "")
            self._send(handler, 302, headers={"location": f"{q['redirect_uri']}?{urlencode({'code': code, 'state': state})}"})
        else:
            self._send(handler, 404, {"error": "not_found"})

    def post(self, handler: QuietHandler) -> None:
        if urlparse(handler.path).path != "/token":
            self._send(handler, 404, {"error": "not_found"})
            return
        length = int(handler.headers.get("content-length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if handler.headers.get("authorization") != expected:
            self._send(handler, 401, {"error": "invalid_client"})
            return
        grant = self.grants.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        matched = grant is not None and grant.method == "S256" and computed == grant.challenge
        self.exchanges.append((verifier, matched))
        if grant is None or not matched or form.get("redirect_uri") != grant.redirect_uri:
            self._send(handler, 400, {"error": "invalid_grant"})
            return
        now = int(time.time())
        claims = {"iss": self.issuer + ("/other" if self.misbehave == "issuer" else ""),
                  "aud": CLIENT_ID + ("-other" if self.misbehave == "audience" else ""),
                  "sub": self.subject, "iat": now, "exp": now + 600,
                  "nonce": "not-the-nonce" if self.misbehave == "nonce" else grant.nonce, **self.claims}
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "idp-1"})
        self._send(handler, 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                  "expires_in": 600, "id_token": token})
