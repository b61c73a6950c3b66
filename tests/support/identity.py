"""An identity provider for tests: RSA and EC signing keys published as a JWKS file, and tokens signed by them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

JWT_ISSUER = "https://idp.interlock.test"
JWT_AUDIENCE = "interlock-gateway"


@dataclass
class JwtIssuer:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    jwks_path: Path

    @classmethod
    def create(cls, directory: Path) -> JwtIssuer:
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
        rsa_jwk.update(kid="rsa-1", alg="RS256", use="sig")
        ec_jwk.update(kid="ec-1", alg="ES256", use="sig")
        path = directory / "jwks.json"
        path.write_text(json.dumps({"keys": [rsa_jwk, ec_jwk]}), encoding="utf-8")
        return cls(rsa_key, ec_key, path)

    def token(self, sub: str = "jwt-user", *, alg: str = "RS256", kid: str | None = None,
              audience: str = JWT_AUDIENCE, issuer: str = JWT_ISSUER, expires_in: float = 300,
              signing_key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": sub, "iss": issuer, "aud": audience, "iat": now, "exp": now + int(expires_in),
                   **claims}
        key = signing_key if signing_key is not None else (self.rsa_key if alg == "RS256" else self.ec_key)
        header_kid = kid if kid is not None else ("rsa-1" if alg == "RS256" else "ec-1")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": header_kid})
