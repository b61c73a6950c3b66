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


class ProviderTokenRecognizer(Recognizer):
    """More providers' keys and tokens, each with a fixed prefix (matched in any case: a prefix typed or
    logged in capitals is the same credential) and a body of the provider's length and alphabet."""

    name = "provider_token"
    data_class = _TOKEN
    max_len = 256
    keywords = ("hf_", "gsk_", "_v1_", "sq0", "eaaa", "access_token$", "npm_", "pypi-", "shp", "r8_", "pplx-",
                "xai-", "ya29.", "gocspx-", "lin_api_", "pmak-", "hvs.", "glsa_", "glc_", "sntrys_", "dapi",
                "sbp_", "xapp-", "whsec_", "ntn_", "secret_", "dp.pt.", "nrak-", "age-secret-key-", "atatt",
                "pul-", "fo1_", "key-")
    single_token = True
    patterns = (
        Pattern("Hugging Face token", r"(?i:\bhf_)[A-Za-z0-9]{30,40}\b", 0.95),
        Pattern("Groq key", r"(?i:\bgsk_)[A-Za-z0-9]{48,56}\b", 0.95, data_class=_KEY),
        Pattern("DigitalOcean token", r"(?i:\bdo[opr]_v1_)[a-fA-F0-9]{64}\b", 0.95),
        Pattern("Square token", r"(?i:\bsq0(?:atp|csp|idp)-)[A-Za-z0-9_\-]{22,60}", 0.95),
        Pattern("Square access token", r"\bEAAA[A-Za-z0-9_\-]{60}\b", 0.9),
        Pattern("Braintree token", r"(?i:\baccess_token\$(?:production|sandbox)\$)[0-9a-z]{16}\$[0-9a-f]{32}\b",
                0.95),
        Pattern("npm token", r"(?i:\bnpm_)[A-Za-z0-9]{36}\b", 0.95),
        Pattern("PyPI token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,200}", 0.95),
        Pattern("Shopify token", r"(?i:\bshp(?:at|ca|pa|ss)_)[a-fA-F0-9]{32}\b", 0.95),
        Pattern("Replicate token", r"(?i:\br8_)[A-Za-z0-9]{37}\b", 0.9),
        Pattern("Perplexity key", r"(?i:\bpplx-)[A-Za-z0-9]{48}\b", 0.95, data_class=_KEY),
        Pattern("xAI key", r"(?i:\bxai-)[A-Za-z0-9]{70,90}\b", 0.95, data_class=_KEY),
        Pattern("Google OAuth token", r"\bya29\.[A-Za-z0-9_\-]{30,250}", 0.9),
        Pattern("Google OAuth client secret", r"(?i:\bgocspx-)[A-Za-z0-9_\-]{28}\b", 0.95, data_class=_KEY),
        Pattern("Linear key", r"(?i:\blin_api_)[A-Za-z0-9]{40}\b", 0.95, data_class=_KEY),
        Pattern("Postman key", r"(?i:\bpmak-)[a-f0-9]{24}-[a-f0-9]{34}\b", 0.95, data_class=_KEY),
        Pattern("Vault token", r"\bhvs\.[A-Za-z0-9_\-]{24,120}\b", 0.9),
        Pattern("Grafana token", r"(?i:\bgl(?:sa|c)_)[A-Za-z0-9_=+/\-]{32,160}", 0.9),
        Pattern("Sentry token", r"(?i:\bsntrys_)[A-Za-z0-9_=+/\-]{40,200}", 0.95),
        Pattern("Databricks token", r"(?i:\bdapi)[a-f0-9]{32}(?:-\d)?\b", 0.9),
        Pattern("Supabase token", r"(?i:\bsbp_)[a-f0-9]{40}\b", 0.95),
        Pattern("Slack app token", r"(?i:\bxapp-)\d-[A-Z0-9]{9,12}-\d{10,14}-[a-f0-9]{40,80}\b", 0.95),
        Pattern("Stripe webhook secret", r"(?i:\bwhsec_)[A-Za-z0-9]{32,64}\b", 0.95, data_class=_KEY),
        Pattern("Notion token", r"\b(?:secret|ntn)_[A-Za-z0-9]{43,46}\b", 0.9),
        Pattern("Doppler token", r"\bdp\.pt\.[A-Za-z0-9]{40,44}\b", 0.95),
        Pattern("New Relic key", r"(?i:\bnrak-)[A-Z0-9]{27}\b", 0.95, data_class=_KEY),
        Pattern("age secret key", r"(?i:\bAGE-SECRET-KEY-1)[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b", 0.97,
                data_class=_KEY),
        Pattern("Atlassian token", r"\bATATT3[A-Za-z0-9_\-=]{150,250}", 0.95),
        Pattern("Pulumi token", r"(?i:\bpul-)[a-f0-9]{40}\b", 0.95),
        Pattern("Fly.io token", r"(?i:\bfo1_)[A-Za-z0-9_\-]{43}\b", 0.95),
        Pattern("Mailgun key", r"(?i:\bkey-)[0-9a-z]{32}\b", 0.85, data_class=_KEY),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        body = value.split("_", 1)[-1] if "_" in value[:8] else value
        return pattern.score if len(set(body)) >= 8 else None


class ChatBotTokenRecognizer(Recognizer):
    """Bot tokens of chat platforms, which have no fixed prefix but a fixed structure: a Discord token's
    first part is a base64 user id, a Telegram token is the bot id, a colon and "AA" then 33 characters."""

    name = "chat_bot_token"
    data_class = _TOKEN
    max_len = 100
    single_token = True
    patterns = (
        Pattern("Discord bot token", r"\b[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}\b",
                0.9),
        Pattern("Telegram bot token", r"\b\d{8,10}:AA[A-Za-z0-9_\-]{33}\b", 0.95),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        if pattern.name == "Discord bot token":
            head = value.split(".", 1)[0]
            try:
                user_id = base64.b64decode(head + "=" * (-len(head) % 4), altchars=b"-_", validate=True)
            except ValueError:
                return None
            if not user_id.isdigit():
                return None  # the first part encodes the bot's numeric id
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
