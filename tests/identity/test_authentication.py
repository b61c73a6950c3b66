"""Who is calling: API keys, acting for an end user, and JWTs, against a real gateway (both stores)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from interlock.providers.mock import MockLLM
from support.gateways import Gateway
from support.identity import JwtIssuer

CHAT = {"model": "mock", "messages": [{"role": "user", "content": "who am I"}]}


def chat(http: httpx.Client, headers: dict[str, str], body: dict[str, Any] | None = None) -> httpx.Response:
    return http.post("/v1/chat/completions", json=body or CHAT, headers=headers)


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def assert_401(r: httpx.Response, mentions: str) -> None:
    assert r.status_code == 401, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "authentication_error"
    assert mentions.lower() in error["message"].lower()
    assert r.headers["www-authenticate"] == "Bearer"
    assert error["request_id"] == r.headers["x-request-id"]


# -- API keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "mentions"),
    [
        pytest.param({}, "No API key", id="missing"),
        pytest.param({"authorization": "Basic dXNlcjpwYXNz"}, "Bearer <key>", id="basic-scheme"),
        pytest.param({"authorization": "Bearer"}, "Bearer <key>", id="bearer-without-token"),
        pytest.param({"authorization": "Bearer \t x"}, "not valid", id="bearer-odd-whitespace"),
        pytest.param({"authorization": "il_abc"}, "Bearer <key>", id="no-scheme"),
        pytest.param(bearer("sk-not-an-interlock-key"), "not valid", id="foreign-key"),
        pytest.param(bearer("il_" + "A" * 43), "not valid", id="unknown-key"),
        pytest.param(bearer("il_short"), "not valid", id="too-short"),
    ],
)
def test_missing_or_malformed_credentials_are_401(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                   headers: dict[str, str], mentions: str) -> None:
    r = chat(http, headers)
    assert_401(r, mentions)
    assert mock.received == []
    record = gateway.record(r.headers["x-request-id"])
    assert record.get("principal") is None
    assert record["refusal_code"] == "invalid_api_key"


def test_a_valid_key_with_a_wrong_tail_is_401(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    # Same lookup prefix as a real key, different secret: found by prefix, refused by the hash.
    real = gateway.keys["plain-user"].key
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    assert_401(chat(http, bearer(forged)), "not valid")
    assert mock.received == []


def test_x_api_key_header_is_accepted(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    r = chat(http, {"x-api-key": gateway.keys["plain-user"].key})
    assert r.status_code == 200, r.text
    assert gateway.record(r.headers["x-request-id"])["principal"] == "plain-user"


def test_revoked_key_is_401(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    key = gateway.create_key("soon-revoked")
    assert chat(http, bearer(key.key)).status_code == 200
    gateway.cli(["keys", "revoke"], key.id)
    mock.clear()
    assert_401(chat(http, bearer(key.key)), "revoked")
    assert mock.received == []


def test_expired_key_is_401(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    # A key can only be created with a positive lifetime, so this one is let run out.
    key = gateway.create_key("soon-expired", ttl=0.5)
    time.sleep(0.6)
    assert_401(chat(http, bearer(key.key)), "expired")
    assert mock.received == []


def test_models_endpoint_needs_a_key(http: httpx.Client) -> None:
    r = http.get("/v1/models")
    assert_401(r, "No API key")


# -- acting for an end user --------------------------------------------------------------------------


def test_app_without_may_act_for_cannot_assert_an_end_user(gateway: Gateway, mock: MockLLM,
                                                             http: httpx.Client) -> None:
    headers = {**bearer(gateway.keys["plain-app"].key), "x-interlock-end-user": "mallory"}
    r = chat(http, headers)
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "permission_denied"
    assert "--may-act-for" in error["message"]
    assert mock.received == []
    record = gateway.record(r.headers["x-request-id"])
    assert record["refusal_code"] == "permission_denied"


def test_app_with_may_act_for_makes_the_end_user_the_principal(gateway: Gateway, mock: MockLLM,
                                                                http: httpx.Client) -> None:
    headers = {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user": "carol@example.com"}
    r = chat(http, headers)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "who am I"
    record = gateway.record(r.headers["x-request-id"])
    assert record["principal"] == "carol@example.com"
    assert record["principal_kind"] == "user"
    assert record["app"] == "acting-app"
    assert record["auth"] == "api_key+asserted_user"
    assert record["tenant"] == "default"


@pytest.mark.parametrize("value", [b"", b"x" * 300, b"bad\xa0id"], ids=["empty", "too-long", "unprintable"])
def test_unusable_end_user_ids_are_refused(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                           value: bytes) -> None:
    headers: dict[str, Any] = {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user": value}
    r = http.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert r.status_code == 401
    assert "x-interlock-end-user" in r.json()["error"]["message"]
    assert mock.received == []


def test_an_asserted_end_user_carries_no_roles_of_its_own(gateway: Gateway, mock: MockLLM,
                                                          http: httpx.Client) -> None:
    # The app has no analyst role, so its end users cannot reach the restricted model either.
    headers = {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user": "dave"}
    r = chat(http, headers, {**CHAT, "model": "restricted"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "policy_denied"
    models = http.get("/v1/models", headers=headers).json()["data"]
    assert "restricted" not in {m["id"] for m in models}


def test_app_acting_with_an_end_user_jwt(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                         jwt_issuer: JwtIssuer) -> None:
    token = jwt_issuer.token("erin", tenant="default", roles=["analyst"])
    headers = {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user-token": token}
    r = chat(http, headers, {**CHAT, "model": "restricted"})
    assert r.status_code == 200, r.text
    record = gateway.record(r.headers["x-request-id"])
    assert record["principal"] == "erin"
    assert record["app"] == "acting-app"
    assert record["auth"] == "api_key+user_jwt"


def test_end_user_jwt_from_another_tenant_is_refused(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                     jwt_issuer: JwtIssuer) -> None:
    token = jwt_issuer.token("frank", tenant="other")
    headers = {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user-token": token}
    r = chat(http, headers)
    assert r.status_code == 403
    assert "tenant" in r.json()["error"]["message"]
    assert mock.received == []


# -- JWT bearer tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_jwt_is_accepted_and_sub_is_the_principal(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                        jwt_issuer: JwtIssuer, alg: str) -> None:
    token = jwt_issuer.token(f"user-{alg.lower()}", alg=alg, tenant="default", roles=["analyst"],
                             groups=["risk"])
    r = chat(http, bearer(token), {**CHAT, "model": "restricted"})
    assert r.status_code == 200, r.text
    record = gateway.record(r.headers["x-request-id"])
    assert record["principal"] == f"user-{alg.lower()}"
    assert record["auth"] == "jwt"
    assert record.get("app") is None
    assert record["tenant"] == "default"
    models = {m["id"] for m in http.get("/v1/models", headers=bearer(token)).json()["data"]}
    assert "restricted" in models


def test_jwt_without_roles_cannot_use_the_restricted_model(gateway: Gateway, mock: MockLLM,
                                                          http: httpx.Client, jwt_issuer: JwtIssuer) -> None:
    r = chat(http, bearer(jwt_issuer.token("nobody-special")), {**CHAT, "model": "restricted"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "policy_denied"
    assert mock.received == []


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid_tokens(issuer: JwtIssuer) -> dict[str, tuple[str, str]]:
    stranger_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger_ec = ec.generate_private_key(ec.SECP256R1())
    good = issuer.token("tampered")
    head, payload, sig = good.split(".")
    other_payload = issuer.token("admin-wannabe").split(".")[1]
    return {
        "bad-signature-rsa": (issuer.token("x", signing_key=stranger_rsa), "signature"),
        "bad-signature-ec": (issuer.token("x", alg="ES256", signing_key=stranger_ec), "signature"),
        "tampered-payload": (f"{head}.{other_payload}.{sig}", "signature"),
        "wrong-audience": (issuer.token("x", audience="someone-else"), "audience"),
        "wrong-issuer": (issuer.token("x", issuer="https://evil.example"), "issuer"),
        "expired": (issuer.token("x", expires_in=-600), "expired"),
        "unknown-kid": (issuer.token("x", kid="rotated-away"), "does not trust"),
        "not-a-jwt": ("aaa.bbb.ccc", "well-formed"),
        "alg-none": (f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': 'rsa-1'}).encode())}.{payload}.",
                     "not valid"),
    }


INVALID_TOKEN_CASES = ["bad-signature-rsa", "bad-signature-ec", "tampered-payload", "wrong-audience",
                       "wrong-issuer", "expired", "unknown-kid", "not-a-jwt", "alg-none"]


@pytest.fixture(scope="module")
def invalid_tokens(jwt_issuer: JwtIssuer) -> dict[str, tuple[str, str]]:
    return _invalid_tokens(jwt_issuer)


@pytest.mark.parametrize("case", INVALID_TOKEN_CASES)
def test_invalid_jwt_is_401(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                            invalid_tokens: dict[str, tuple[str, str]], case: str) -> None:
    token, mentions = invalid_tokens[case]
    r = chat(http, bearer(token))
    assert_401(r, mentions)
    assert mock.received == []
    assert gateway.record(r.headers["x-request-id"]).get("principal") is None



# -- one credential, one end user --------------------------------------------------------------------


def assert_400(r: httpx.Response, mentions: str) -> None:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert mentions.lower() in error["message"].lower()
    assert error["request_id"] == r.headers["x-request-id"]


def test_two_authorization_headers_are_refused_not_resolved(gateway: Gateway, mock: MockLLM,
                                                            http: httpx.Client) -> None:
    headers = [("authorization", f"Bearer {gateway.keys['plain-user'].key}"),
               ("authorization", f"Bearer {gateway.keys['admin'].key}")]
    r = http.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert_400(r, "authorization header was sent more than once")
    assert mock.received == []
    assert gateway.record(r.headers["x-request-id"]).get("principal") is None


def test_authorization_and_x_api_key_naming_different_keys_are_refused(gateway: Gateway, mock: MockLLM,
                                                                       http: httpx.Client) -> None:
    headers = {**bearer(gateway.keys["plain-user"].key), "x-api-key": gateway.keys["admin"].key}
    assert_400(chat(http, headers), "different credentials")
    same = {**bearer(gateway.keys["plain-user"].key), "x-api-key": gateway.keys["plain-user"].key}
    assert chat(http, same).status_code == 200
    assert len(mock.received) == 1


def test_two_end_user_headers_are_refused(gateway: Gateway, mock: MockLLM, http: httpx.Client) -> None:
    headers = [("authorization", f"Bearer {gateway.keys['acting-app'].key}"),
               ("x-interlock-end-user", "carol"), ("x-interlock-end-user", "admin")]
    assert_400(http.post("/v1/chat/completions", json=CHAT, headers=headers), "more than once")
    assert mock.received == []


def test_an_end_user_header_and_an_end_user_token_together_are_refused(gateway: Gateway, mock: MockLLM,
                                                                       http: httpx.Client,
                                                                       jwt_issuer: JwtIssuer) -> None:
    headers = {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user": "carol",
               "x-interlock-end-user-token": jwt_issuer.token("erin", tenant="default")}
    assert_400(chat(http, headers), "not both")
    assert mock.received == []


def test_a_jwt_caller_cannot_name_another_end_user(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                   jwt_issuer: JwtIssuer) -> None:
    headers = {**bearer(jwt_issuer.token("erin", tenant="default")), "x-interlock-end-user": "admin"}
    r = chat(http, headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"
    assert mock.received == []


@pytest.mark.parametrize(("claims", "mentions"), [
    pytest.param({"sub": ""}, "names nobody", id="empty-sub"),
    pytest.param({"sub": "   "}, "names nobody", id="blank-sub"),
    pytest.param({"tenant": "nowhere"}, "tenant this gateway does not know", id="unknown-tenant"),
    pytest.param({"tenant": ["default"]}, "not a tenant name", id="tenant-not-a-string"),
])
def test_a_token_that_names_nobody_known_is_401(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                jwt_issuer: JwtIssuer, claims: dict[str, Any],
                                                mentions: str) -> None:
    claims = dict(claims)  # the same parameters serve both stores
    sub = claims.pop("sub", "grace")
    assert_401(chat(http, bearer(jwt_issuer.token(sub, **claims))), mentions)
    assert mock.received == []


# -- whom an application may act for -----------------------------------------------------------------


def test_an_app_cannot_act_for_a_principal_with_keys_of_their_own(gateway: Gateway, mock: MockLLM,
                                                                  http: httpx.Client) -> None:
    for someone in ("plain-user", "admin"):
        r = chat(http, {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user": someone})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "permission_denied"
        assert "holds keys of their own" in r.json()["error"]["message"]
    assert mock.received == []


def test_an_app_cannot_act_for_an_administrator_by_token(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                         jwt_issuer: JwtIssuer) -> None:
    token = jwt_issuer.token("root-person", tenant="default", roles=["admin"])
    r = chat(http, {**bearer(gateway.keys["acting-app"].key), "x-interlock-end-user-token": token})
    assert r.status_code == 403, r.text
    assert "administrator" in r.json()["error"]["message"]
    assert mock.received == []


def test_an_app_bounded_to_named_users_and_groups(gateway: Gateway, mock: MockLLM, http: httpx.Client,
                                                  jwt_issuer: JwtIssuer) -> None:
    doc = json.loads(gateway.cli(["keys", "create"], "--name", "helpdesk-bounded", "--kind", "app", "--json",
                                 "--act-for", "plain-user", "--act-for-group", "support").stdout)
    headers = bearer(doc["key"])
    # Named: even a principal with keys of their own.
    r = chat(http, {**headers, "x-interlock-end-user": "plain-user"})
    assert r.status_code == 200, r.text
    assert gateway.record(r.headers["x-request-id"])["principal"] == "plain-user"
    # Not named, and an asserted user belongs to no group.
    r = chat(http, {**headers, "x-interlock-end-user": "zoe"})
    assert r.status_code == 403
    assert "names" in r.json()["error"]["message"]
    # A token-holding user of a named group, and one of no named group.
    ok = jwt_issuer.token("yusuf", tenant="default", groups=["support"])
    assert chat(http, {**headers, "x-interlock-end-user-token": ok}).status_code == 200
    other = jwt_issuer.token("xena", tenant="default", groups=["sales"])
    assert chat(http, {**headers, "x-interlock-end-user-token": other}).status_code == 403
    assert len(mock.received) == 2
