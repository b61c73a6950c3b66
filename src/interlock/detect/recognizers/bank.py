"""Bank routing and account numbers. Bare digit runs are everywhere, so context is required."""

from __future__ import annotations

from interlock.detect.checksums import aba_valid
from interlock.detect.recognizer import Pattern, Recognizer


class AbaRoutingRecognizer(Recognizer):
    name = "aba_routing"
    data_class = "fin.bank_account"
    max_len = 9
    digit_anchored = True
    context_required = True
    patterns = (Pattern("ABA routing number", r"\b\d{9}\b", 0.45),)
    context = ("routing", "aba", "rtn", "routing number", "transit", "ach", "wire")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        prefix = int(value[:2])
        if not aba_valid(value) or not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
            return None
        return pattern.score


class BankAccountRecognizer(Recognizer):
    name = "bank_account"
    data_class = "fin.bank_account"
    max_len = 20
    digit_anchored = True
    context_required = True
    patterns = (
        Pattern("account number", r"\b\d{6,17}\b", 0.35),
        Pattern("sort code", r"\b\d{2}-\d{2}-\d{2}\b", 0.35),
    )
    context = ("account number", "account no", "acct", "acc no", "a c", "bank account", "checking",
               "savings", "sort code", "account", "kontonummer", "beneficiary")
    negative_context = ("order", "invoice", "ticket", "tracking", "phone", "customer id")
