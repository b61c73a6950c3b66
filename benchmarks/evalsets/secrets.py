"""Secret-shaped values in each provider's published format, drawn from a seeded generator.

None of these is a live credential: the characters are random, only the shape (prefix, alphabet,
length, separators) follows the provider's documentation.
"""

from __future__ import annotations

import base64
import json
import random
import string

from benchmarks.evalsets.doc import Item

ALNUM = string.ascii_letters + string.digits
UPPER32 = string.ascii_uppercase + "234567"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def aws_key_id(rng: random.Random) -> str:
    return rng.choice(["AKIA", "AKIA", "ASIA"]) + _pick(rng, UPPER32, 16)


def aws_secret(rng: random.Random) -> str:
    return _pick(rng, B64, 40)


def gcp_api_key(rng: random.Random) -> str:
    return "AIza" + _pick(rng, URLSAFE, 35)


def azure_storage_key(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(64)).decode()


def digitalocean_token(rng: random.Random) -> str:
    return "dop_v1_" + _pick(rng, HEX, 64)


def github_token(rng: random.Random) -> str:
    prefix = rng.choice(["ghp_", "ghp_", "gho_", "ghs_", "ghu_"])
    return prefix + _pick(rng, ALNUM, 36)


def github_fine_grained(rng: random.Random) -> str:
    return "github_pat_" + _pick(rng, ALNUM, 22) + "_" + _pick(rng, ALNUM, 59)


def gitlab_token(rng: random.Random) -> str:
    return "glpat-" + _pick(rng, URLSAFE, 20)


def slack_token(rng: random.Random) -> str:
    prefix = rng.choice(["xoxb", "xoxp", "xoxb"])
    return (f"{prefix}-{rng.randrange(10**10, 10**13)}-{rng.randrange(10**10, 10**13)}-"
            + _pick(rng, ALNUM, 24))


def slack_webhook(rng: random.Random) -> str:
    return ("https://hooks.slack.com/services/T" + _pick(rng, UPPER32, 8) + "/B" + _pick(rng, UPPER32, 10)
            + "/" + _pick(rng, ALNUM, 24))


def discord_token(rng: random.Random) -> str:
    user_id = str(rng.randrange(10**17, 10**18)).encode()
    return _b64url(user_id) + "." + _pick(rng, URLSAFE, 6) + "." + _pick(rng, URLSAFE, 38)


def telegram_token(rng: random.Random) -> str:
    return f"{rng.randrange(10**8, 10**10)}:AA" + _pick(rng, URLSAFE, 33)


def stripe_key(rng: random.Random) -> str:
    prefix = rng.choice(["sk_live_", "sk_live_", "rk_live_", "sk_test_"])
    return prefix + _pick(rng, ALNUM, rng.choice([24, 99]))


def square_token(rng: random.Random) -> str:
    return rng.choice(["sq0atp-" + _pick(rng, URLSAFE, 22), "sq0csp-" + _pick(rng, URLSAFE, 43)])


def braintree_token(rng: random.Random) -> str:
    return "access_token$production$" + _pick(rng, "abcdefghijklmnopqrstuvwxyz0123456789", 16) + "$" + _pick(rng, HEX, 32)


def openai_key(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return "sk-" + _pick(rng, ALNUM, 20) + "T3BlbkFJ" + _pick(rng, ALNUM, 20)
    return "sk-proj-" + _pick(rng, URLSAFE, 74) + "T3BlbkFJ" + _pick(rng, URLSAFE, 74)


def anthropic_key(rng: random.Random) -> str:
    return "sk-ant-api03-" + _pick(rng, URLSAFE, 93) + "AA"


def huggingface_token(rng: random.Random) -> str:
    return "hf_" + _pick(rng, string.ascii_letters, 34)


def groq_key(rng: random.Random) -> str:
    return "gsk_" + _pick(rng, ALNUM, 52)


def jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    payload = {"sub": str(rng.randrange(10**6, 10**9)), "iat": rng.randrange(1_600_000_000, 1_760_000_000),
               "scope": rng.choice(["read", "read write", "admin"]), "iss": rng.choice(
                   ["https://auth.example.com", "accounts", "idp.internal"])}
    signature = rng.randbytes(32 if header["alg"] == "HS256" else 64)
    return ".".join([_b64url(json.dumps(header, separators=(",", ":")).encode()),
                     _b64url(json.dumps(payload, separators=(",", ":")).encode()), _b64url(signature)])


_PEM_KINDS = (
    ("RSA PRIVATE KEY", bytes.fromhex("308204a40201000282010100"), 1190),
    ("PRIVATE KEY", bytes.fromhex("308204bd020100300d06092a864886f70d0101010500048204a7"), 1210),
    ("EC PRIVATE KEY", bytes.fromhex("30770201010420"), 114),
    ("OPENSSH PRIVATE KEY", b"openssh-key-v1\x00\x00\x00\x00\x04none", 380),
)


def pem_body(rng: random.Random) -> tuple[str, str]:
    """(label, base64 body in 64-character lines) of a DER-looking private key."""
    label, prefix, size = rng.choice(_PEM_KINDS)
    body = base64.b64encode(prefix + rng.randbytes(size)).decode()
    width = 70 if label == "OPENSSH PRIVATE KEY" else 64
    return label, "\n".join(body[i:i + width] for i in range(0, len(body), width))


def pem(rng: random.Random, *, short: bool = True) -> str:
    label, body = pem_body(rng)
    if short:
        # Keep the sets small: a truncated body is still unmistakably key material.
        body = "\n".join(body.split("\n")[:6])
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def password(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.35:
        words = ["Summer", "Winter", "Autumn", "Spring", "Dragon", "Monkey", "Sunshine", "Welcome", "Falcon",
                 "Hamburg", "Lisboa", "Krakow", "Bluebird", "Coffee", "Rocket", "Tiger"]
        return rng.choice(words) + str(rng.randrange(1970, 2026)) + rng.choice(["!", "#", "$", "?", "", "*"])
    if style < 0.7:
        return _pick(rng, ALNUM + "!#$%&*+-=?@^_", rng.randrange(10, 22))
    words = ["correct", "horse", "battery", "staple", "orange", "violet", "kettle", "marble", "pencil", "garden"]
    return "-".join(rng.sample(words, 3)) + str(rng.randrange(10, 99))


CLOUD = (("aws_key_id", aws_key_id, "secret.api_key"), ("aws_secret", aws_secret, "secret.api_key"),
         ("gcp_api_key", gcp_api_key, "secret.api_key"), ("azure_storage_key", azure_storage_key, "secret.api_key"),
         ("digitalocean", digitalocean_token, "secret.token"))
VCS = (("github", github_token, "secret.token"), ("github_fine_grained", github_fine_grained, "secret.token"),
       ("gitlab", gitlab_token, "secret.token"))
CHAT = (("slack", slack_token, "secret.token"), ("slack_webhook", slack_webhook, "secret.token"),
        ("discord", discord_token, "secret.token"), ("telegram", telegram_token, "secret.token"))
PAYMENT = (("stripe", stripe_key, "secret.api_key"), ("square", square_token, "secret.token"),
           ("braintree", braintree_token, "secret.token"))
LLM = (("openai", openai_key, "secret.api_key"), ("anthropic", anthropic_key, "secret.api_key"),
       ("huggingface", huggingface_token, "secret.token"), ("groq", groq_key, "secret.api_key"))
FAMILIES = {"cloud": CLOUD, "vcs": VCS, "chat": CHAT, "payment": PAYMENT, "llm": LLM}


def secret(rng: random.Random, family: str | None = None) -> Item:
    """A key or token from ``family`` (any family when None); kind is ``<family>.<provider>``."""
    fam = family or rng.choice(list(FAMILIES))
    name, make, cls = rng.choice(FAMILIES[fam])
    return Item(make(rng), cls, f"{fam}.{name}")


def secret_named(rng: random.Random, name: str) -> Item:
    for fam, entries in FAMILIES.items():
        for entry_name, make, cls in entries:
            if entry_name == name:
                return Item(make(rng), cls, f"{fam}.{name}")
    raise KeyError(name)
