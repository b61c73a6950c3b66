"""In-process: API key material, and JWT verification against a JWKS served over HTTP that rotates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from interlock.errors import Unauthenticated
from interlock.identity.jwt import JwtVerifier
from interlock.identity.keys import KEY_PREFIX, PREFIX_LEN, hash_key, looks_like_key, matches, new_key
from interlock.identity.principal import Principal
from interlock.settings import ConfigError, JwtSettings
from support.http_servers import BackgroundServer, QuietHandler
from support.identity import JWT_AUDIENCE, JWT_ISSUER, JwtIssuer

# -- API keys ----------------------------------------------------------------------------------------


def test_new_keys_are_random_prefixed_and_stored_as_a_hash() -> None:
    p = Principal(id="a", kind="user")
    (k1, r1), (k2, r2) = new_key("a", p, now=100.0), new_key("a", p, now=100.0)
    assert k1 != k2
    assert r1.id != r2.id
    assert k1.startswith(KEY_PREFIX)
    assert looks_like_key(k1)
    assert r1.prefix == k1[:PREFIX_LEN]
    assert r1.hash == hash_key(k1)
    assert k1.encode() not in r1.hash
    assert matches(r1, k1)
    assert not matches(r1, k2)
    assert r1.expires is None


def test_key_states() -> None:
    _, record = new_key("t", Principal(id="t", kind="user"), ttl_seconds=10, now=100.0)
    assert record.state(105.0) == "active"
    assert record.state(110.0) == "expired"
    revoked = type(record)(**{**{f: getattr(record, f) for f in record.__slots__}, "revoked": 101.0})
    assert revoked.state(105.0) == "revoked"


@pytest.mark.parametrize("token", ["", "il_", "il_short", "sk-" + "x" * 40, "IL_" + "x" * 40])
def test_what_does_not_look_like_a_key(token: str) -> None:
    assert not looks_like_key(token)


# -- JWKS over HTTP ----------------------------------------------------------------------------------


class JwksServer(BackgroundServer):
    """Serves whatever ``jwks`` holds at /jwks.json; ``up = False`` makes it answer 503."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.up = True
        self.hits = 0
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps(server.jwks).encode()
                self.send_response(200 if server.up else 503)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/jwks.json"


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


def settings_for(url: str) -> JwtSettings:
    return JwtSettings(issuer=JWT_ISSUER, audience=JWT_AUDIENCE, jwks_url=url)


async def test_rotated_keys_are_fetched_when_a_token_names_a_new_kid(jwks_server: JwksServer,
                                                                    jwt_issuer: JwtIssuer) -> None:
    old = jwt_issuer.rsa_key
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_server.jwks = {"keys": [rsa_jwk(old, "2024")]}
    verifier = JwtVerifier(settings_for(jwks_server.url))
    await verifier.refresh()
    alice = await verifier.verify(jwt_issuer.token("alice", kid="2024", roles="analyst ops", tenant="acme"))
    assert alice == Principal(id="alice", kind="user", tenant="acme", roles=frozenset({"analyst", "ops"}))
    # The identity provider rotates: a token signed with the new key makes the verifier fetch again.
    jwks_server.jwks = {"keys": [rsa_jwk(old, "2024"), rsa_jwk(new, "2025")]}
    bob = await verifier.verify(jwt_issuer.token("bob", kid="2025", signing_key=new))
    assert bob.id == "bob"
    assert bob.tenant == "default"
    # A kid nobody publishes stays refused, after one more look.
    hits = jwks_server.hits
    with pytest.raises(Unauthenticated, match="does not trust"):
        await verifier.verify(jwt_issuer.token("eve", kid="forged"))
    assert jwks_server.hits == hits + 1


async def test_an_unreachable_jwks_refuses_unknown_kids(jwks_server: JwksServer, jwt_issuer: JwtIssuer) -> None:
    jwks_server.jwks = {"keys": [rsa_jwk(jwt_issuer.rsa_key, "k1")]}
    verifier = JwtVerifier(settings_for(jwks_server.url))
    await verifier.refresh()
    jwks_server.up = False
    with pytest.raises(Unauthenticated, match="could not be fetched"):
        await verifier.verify(jwt_issuer.token("x", kid="k2"))
    # Keys already known still verify while the endpoint is down.
    assert (await verifier.verify(jwt_issuer.token("still-ok", kid="k1"))).id == "still-ok"


async def test_tokens_must_carry_the_required_claims(jwt_issuer: JwtIssuer) -> None:
    verifier = JwtVerifier(JwtSettings(issuer=JWT_ISSUER, audience=JWT_AUDIENCE, jwks_file=jwt_issuer.jwks_path))
    no_sub = jwt.encode({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": 4_000_000_000}, jwt_issuer.rsa_key,
                        algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(Unauthenticated, match="sub"):
        await verifier.verify(no_sub)
    no_exp = jwt.encode({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "x"}, jwt_issuer.rsa_key,
                        algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(Unauthenticated, match="exp"):
        await verifier.verify(no_exp)


async def test_an_rs256_key_cannot_verify_an_hs256_token(jwt_issuer: JwtIssuer) -> None:
    # The classic confusion: sign HS256 with the public key's PEM and hope the verifier agrees.
    verifier = JwtVerifier(JwtSettings(issuer=JWT_ISSUER, audience=JWT_AUDIENCE, jwks_file=jwt_issuer.jwks_path))
    pem = jwt_issuer.rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "mallory", "exp": 4_000_000_000}).encode())
    signature = b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"{head}.{body}.{signature}")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_an_unusable_jwks_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="jwks_file"):
        JwtVerifier(JwtSettings(issuer="i", audience="a", jwks_file=path))
    path.write_text(json.dumps({"keys": [{"kty": "nope"}]}), encoding="utf-8")
    with pytest.raises(ConfigError, match="no usable key"):
        JwtVerifier(JwtSettings(issuer="i", audience="a", jwks_file=path))
