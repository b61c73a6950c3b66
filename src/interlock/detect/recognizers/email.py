"""E-mail addresses."""

from __future__ import annotations

from interlock.detect.recognizer import Pattern, Recognizer


class EmailRecognizer(Recognizer):
    name = "email"
    data_class = "pii.email"
    keywords = ("@",)
    max_len = 254
    single_token = True
    patterns = (
        Pattern(
            "email address",
            r"\b[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}"
            r"[A-Za-z]{2,24}\b",
            0.9,
        ),
    )
    context = ("email", "e-mail", "mail", "contact", "reach")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        local, _, domain = value.partition("@")
        if local.endswith(".") or ".." in local or ".." in domain:
            return None
        return pattern.score
