"""Secrets by label, in prose and in every configuration syntax, and providers' keys by shape."""

from __future__ import annotations

import pytest

from interlock.detect import Detector
from interlock.detect.recognizers.password_prose import password_like


def _found(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[f.start:f.end], f.data_class) for f in detector.scan(text)]


def _secret(detector: Detector, text: str, value: str) -> bool:
    return any(v == value and cls.startswith("secret.") for v, cls in _found(detector, text))


@pytest.mark.parametrize(("text", "value"), [
    ("the guest wifi password is Lumen+Tide77 btw", "Lumen+Tide77"),
    ("le mot de passe de la box est toujours K8#mirabelle.", "K8#mirabelle"),
    ("Das Kennwort für das Archiv lautet Wolke7-Bahn, bitte nicht weitergeben.", "Wolke7-Bahn"),
    ("la contraseña nueva es Girasol_2031!", "Girasol_2031!"),
    ("A senha do servidor é Caju#4455", "Caju#4455"),
    ("Het wachtwoord van de NAS: Tulp9Molen", "Tulp9Molen"),
    ("hasło do konta to Zubr!8831", "Zubr!8831"),
    ("Anyone have the staging db password?\nMira: plum-anchor-velvet31", "plum-anchor-velvet31"),
    ("what's the router password?\n[09:14] Theo: sure, it's Qz!84kLp", "Qz!84kLp"),
    ("my pass is 7Lanterns#Sea", "7Lanterns#Sea"),
    ("pwd: uXz93KeQ", "uXz93KeQ"),
    ("PGPASSWORD=Fjord_81x psql -h 10.1.2.3", "Fjord_81x"),
    ("REDIS_PASSWORD=\"b1rch-Smoke\"", "b1rch-Smoke"),
    ("  db.password: 'Quartz#2290'", "Quartz#2290"),
    ('{"login": "ops", "passwd": "Harbor88!"}', "Harbor88!"),
    ("./deploy --admin-password Korund55x --force", "Korund55x"),
    ("mysqldump -u backup -pMaple7Stone prod > dump.sql", "Maple7Stone"),
    ("Passwort: Sommerregen9", "Sommerregen9"),
])
def test_passwords_are_found(detector: Detector, text: str, value: str) -> None:
    assert _secret(detector, text, value)


@pytest.mark.parametrize("text", [
    "Please reset your password by 2025-03-01 10:00.",
    "password reset requested for db01.internal",
    "use a password manager such as 1Password",
    "I'll pass ORD-55821 to billing",
    "my password expired. Ticket Zx9-11Qq was opened",
    "the compass: north22x",
    "docker run -p 8080:80 nginx",
    "password policy v10.2.3-rc1 applies",
])
def test_password_words_without_a_password_stay(detector: Detector, text: str) -> None:
    assert not any(cls == "secret.password" for _, cls in _found(detector, text))


@pytest.mark.parametrize(("word", "expected"), [
    ("Winter2031!", True), ("ab-cd-ef-gh12", True), ("XyzAbcDefGhiJk", True), ("Tower", False),
    ("2024-01-02T10:11:12Z", False), ("v2.14.1", False), ("PO-88123", False), ("api.example.com", False),
    ("ann@example.com", False), ("/etc/passwd", False), ("abc12", False),
])
def test_password_shape(word: str, expected: bool) -> None:
    assert password_like(word) is expected


@pytest.mark.parametrize("value", [
    "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",
    "HF_QmWnErTyUiOpAsDfGhJkLzXcVbNmQwErTy",
    "gsk_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9o",
    "dop_v1_" + "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "sq0csp-" + "Zk2Lm9Qw8Er7Ty6Ui5Op4As3Df",
    "access_token$sandbox$" + "q8w7e6r5t4y3u2i1$" + "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "npm_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8",
    "7312568840:AAH" + "dK3lMn9Pq2Rs5Tu8Vw1Xy4Za7Bc0De6F",
])
def test_provider_tokens_are_found(detector: Detector, value: str) -> None:
    assert _secret(detector, f"deploy used {value} yesterday", value)


def test_a_discord_bot_token_is_found_and_a_dotted_word_is_not(detector: Detector) -> None:
    token = "MTEyMzQ1Njc4OTAxMjM0NTY3.Gx7Q2a.Zq8Lm3Nw5Rt1Yb6Vc9Xe2Ud4Hf7Kj0Pg3As5Dq"
    assert _secret(detector, f"BOT_TOKEN={token}", token)
    assert not _found(detector, "see Notebook.Section.SubsectionWithLongName12345678901 for details")


def test_zero_width_characters_inside_a_key_do_not_hide_it(detector: Detector) -> None:
    text = "Our key hf_QmWnErTyUi\u200bOpAsDfGhJkLzXcVbNmQwErTy leaked"
    spans = [(f.start, f.end) for f in detector.scan(text) if f.data_class.startswith("secret.")]
    assert spans
    assert spans[0][0] == text.index("hf_")
    assert spans[0][1] == text.index(" leaked")


def test_a_long_random_value_after_the_word_key_is_a_secret(detector: Detector) -> None:
    value = "Tq3Vw8Zp1Lk6Nx4Rb9Hs2Jd7Mf5Gc0Ya8Ue3Wo"
    assert _secret(detector, f"someone pasted our production key {value} into the channel", value)
    assert _secret(detector, f'storage:\n  key: "{value}Xy12=="', f"{value}Xy12==")
    assert not _found(detector, "the primary key user_account_identifier_2023 is indexed")


def test_a_digest_on_another_line_does_not_cancel_a_labelled_key(detector: Detector) -> None:
    value = "Hw2Lp9Qs4Xk7Vb1Nz6Rt3Ym8Jc5Df0Ga2Pe9Ku4T"
    text = f"aws:\n  secret_access_key: {value}\nimage: sha256:9f2c\n"
    assert _secret(detector, text, value)
    assert not _secret(detector, f"sha256 digest: {value}", value)
