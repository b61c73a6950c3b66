"""Provider API keys and tokens with recognisable shapes (the gitleaks-style keyword gate applies)."""

from __future__ import annotations

import base64
import json

from interlock.detect.recognizer import Opener, Pattern, Recognizer

_KEY = "secret.api_key"
_TOKEN = "secret.token"


class ProviderKeyRecognizer(Recognizer):
    name = "provider_key"
    data_class = _KEY
    max_len = 256
    keywords = ("akia", "asia", "abia", "acca", "aws", "gh", "github_pat_", "glpat-", "xox", "hooks.slack",
                "sk_", "rk_", "aiza", "q~", "sk-", "sg.", "sk")
    # Every key is one run of non-whitespace; the AWS secret's "aws ... secret =" prefix comes before it.
    single_token = True
    lookbehind = 75
    patterns = (
        # Case-insensitive: a key id lower-cased in a log line or a URL is the same credential.
        Pattern("AWS access key id", r"(?i:\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b)", 0.95),
        Pattern("AWS secret access key",
                r"(?i:aws.{0,24}(?:secret|sk).{0,24}?[=:]\s{0,16}[\"']?)([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
                0.9, group=1),
        Pattern("GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251}\b", 0.95, data_class=_TOKEN),
        Pattern("GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{82}\b", 0.95, data_class=_TOKEN),
        Pattern("GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,50}\b", 0.95, data_class=_TOKEN),
        Pattern("Slack token", r"\bxox[abposr]-(?:\d{1,13}-){1,3}[A-Za-z0-9\-]{8,64}\b", 0.95, data_class=_TOKEN),
        Pattern("Slack webhook", r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
                0.95, data_class=_TOKEN),
        Pattern("Stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,99}\b", 0.95),
        Pattern("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}(?:[^0-9A-Za-z_\-]|$)", 0.95),
        Pattern("Azure client secret", r"(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)",
                0.9, group=1),
        Pattern("Anthropic key", r"\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{80,120}", 0.97),
        Pattern("OpenAI key", r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{32,200}", 0.9),
        Pattern("Twilio API key", r"\bSK[0-9a-f]{32}\b", 0.85),
        Pattern("SendGrid key", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b", 0.95),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if pattern.name == "Twilio API key" and len(set(value[2:])) < 8:
            return None
        if pattern.name == "OpenAI key" and (value.startswith("sk-ant-") or not _mixed(value[3:])):
            return None
        return pattern.score


def _mixed(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


class JwtRecognizer(Recognizer):
    """JSON Web Tokens; the header must decode to a JSON object that names ``alg`` or ``typ``."""

    name = "jwt"
    data_class = _TOKEN
    max_len = 2400
    openers = (Opener("eyJ", gaps=0, case_insensitive=False, pending=""),)
    keywords = ("eyj",)
    patterns = (
        Pattern("JSON Web Token", r"\beyJ[A-Za-z0-9_\-]{8,600}\.eyJ[A-Za-z0-9_\-]{8,1000}\.[A-Za-z0-9_\-]{16,700}",
                0.95),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        return pattern.score if _jwt_header_ok(value.split(".", 1)[0]) else None


def _jwt_header_ok(segment: str) -> bool:
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and ("alg" in header or "typ" in header)
