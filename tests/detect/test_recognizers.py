"""Per-family tables: each positive must be found with its class, each hard negative must not."""

from __future__ import annotations

import pytest

from interlock.detect import Detector

POSITIVES: list[tuple[str, str, str]] = [
    # (class, text, the exact value that must be reported)
    ("pii.email", "write to jane.doe@example.com today", "jane.doe@example.com"),
    ("pii.email", "cc: a_b+tag@mail.co.uk", "a_b+tag@mail.co.uk"),
    ("pii.phone", "call me on +44 20 7946 0958", "+44 20 7946 0958"),
    ("pii.phone", "phone: (415) 555-0198", "(415) 555-0198"),
    ("pii.phone", "mobile 020 7946 0958", "020 7946 0958"),
    ("pii.phone", "Tel +1-202-555-0147.", "+1-202-555-0147"),
    ("pci.card_number", "card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    ("pci.card_number", "visa 4012-8888-8888-1881", "4012-8888-8888-1881"),
    ("pci.card_number", "amex 378282246310005", "378282246310005"),
    ("pci.card_number", "mc 5555555555554444", "5555555555554444"),
    ("fin.iban", "IBAN: DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ("fin.iban", "pay GB82WEST12345698765432 now", "GB82WEST12345698765432"),
    ("fin.bank_account", "routing number 021000021", "021000021"),
    ("fin.bank_account", "account number: 12345678901", "12345678901"),
    ("pii.national_id", "SSN 536-22-1234", "536-22-1234"),
    ("pii.national_id", "my social security number is 536221234", "536221234"),
    ("pii.national_id", "NINO: AB 12 34 56 C", "AB 12 34 56 C"),
    ("pii.national_id", "SIN 130 692 544", "130 692 544"),
    ("net.ip_address", "login from 192.168.10.24 failed", "192.168.10.24"),
    ("net.ip_address", "host 2001:db8:85a3::8a2e:370:7334 up", "2001:db8:85a3::8a2e:370:7334"),
    ("net.mac_address", "mac 00-1A-2B-3C-4D-5E", "00-1A-2B-3C-4D-5E"),
    ("secret.url_credentials", "fetch https://bob:Tr0ub4dor@git.example.com/repo.git",
     "bob:Tr0ub4dor@git.example.com"),
    ("secret.connection_string", "DATABASE_URL=postgres://app:pa55word@db.local:5432/main",
     "postgres://app:pa55word@db.local:5432/main"),
    ("secret.connection_string", "Server=tcp:x.database.windows.net;Database=d;User Id=u;Password=Qx9!zz;",
     "Server=tcp:x.database.windows.net;Database=d;User Id=u;Password=Qx9!zz"),
    ("secret.password", "password = \"c0rrect-horse\"", "c0rrect-horse"),
    ("secret.password", "DB_PASSWORD: s3cretValue9", "s3cretValue9"),
    ("secret.api_key", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("secret.api_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("secret.token", "GITHUB_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("secret.token", "glpat-xXyY12345678901234ab", "glpat-xXyY12345678901234ab"),
    ("secret.token", "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
     "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("secret.api_key", "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("secret.api_key", "key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
    ("secret.api_key", "OPENAI_API_KEY=sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78",
     "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78"),
    ("secret.api_key", "sk-ant-api03-" + "aB3" * 31 + "-xyzAA", "sk-ant-api03-" + "aB3" * 31 + "-xyzAA"),
    ("secret.api_key", "twilio SK0123456789abcdef0123456789abcdef", "SK0123456789abcdef0123456789abcdef"),
    ("secret.api_key", "SG.abcdefghijABCDEFGHIJ12.abcdefghijABCDEFGHIJ1234567890abcdefghijklm",
     "SG.abcdefghijABCDEFGHIJ12.abcdefghijABCDEFGHIJ1234567890abcdefghijklm"),
    ("secret.api_key", "AZURE_CLIENT_SECRET=abc8Q~aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456",
     "abc8Q~aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456"),
    ("secret.token", "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("secret.token", "session_token: 9fK2mQ7xLp4Rt8Zw1Vb6Nc3Hd5", "9fK2mQ7xLp4Rt8Zw1Vb6Nc3Hd5"),
    ("secret.private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"),
    ("secret.private_key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF",
     "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF"),
    ("pii.date_of_birth", "date of birth: 04/07/1986", "04/07/1986"),
    ("pii.date_of_birth", "she was born on March 3, 1990.", "March 3, 1990"),
    ("pii.age", "the patient is 47 years old", "47"),
    ("pii.age", "aged 63, retired", "63"),
    ("pii.address", "ship to 221B Baker Street, London NW1 6XE please", "221B Baker Street, London NW1 6XE"),
    ("pii.address", "I live at 742 Evergreen Terrace, Springfield", "742 Evergreen Terrace, Springfield"),
    ("pii.address", "Adresse: Hauptstraße 5, 10115 Berlin", "Hauptstraße 5, 10115 Berlin"),
    ("pii.address", "au 12 rue de la Paix, 75002 Paris", "12 rue de la Paix, 75002 Paris"),
    ("pii.name", "Please ask Dr. Maria Gonzalez to call", "Maria Gonzalez"),
    ("pii.name", "Hello, my name is Oliver Bennett.", "Oliver Bennett"),
    ("pii.name", "Thanks for your help.\n\nKind regards,\nPriya Raman\n", "Priya Raman"),
    ("pii.name", "Dear Tom Hardy,\nyour order", "Tom Hardy"),
]

NEGATIVES: list[tuple[str, str]] = [
    # (class that must not be reported, text)
    ("pci.card_number", "order number 4111 1111 1111 1112"),  # fails Luhn
    ("pci.card_number", "ISBN 978-3-16-148410-0"),
    ("pci.card_number", "timestamp 1700000000000 ms"),
    ("pci.card_number", "0000 0000 0000 0000"),
    ("fin.iban", "DE89 3704 0044 0532 0130 01"),  # wrong check digits
    ("fin.iban", "ref AB12 CDEF GHIJ KLMN"),
    ("fin.bank_account", "we shipped 123456789 units"),  # no context
    ("pii.national_id", "ref 000-12-3456"),
    ("pii.national_id", "ref 666-12-3456"),
    ("pii.national_id", "ref 912-12-3456"),
    ("pii.national_id", "ref 078-05-1120"),
    ("pii.national_id", "NINO BG123456A"),
    ("pii.national_id", "order 123456789"),
    ("net.ip_address", "upgrade to version 1.2.3.4 now"),
    ("net.ip_address", "released v10.0.0.1 today"),
    ("net.ip_address", "numbers 1.2.3.4.5 here"),
    ("net.ip_address", "meeting at 12:30:45"),
    ("net.ip_address", "std::vector<int> a;"),
    ("net.mac_address", "build 1234.5678.9012"),
    ("pii.phone", "invoice 2023-01-15"),
    ("pii.phone", "ISBN 978-0-306-40615-7"),
    ("pii.phone", "it costs 1234567 dollars"),
    ("pii.email", "see @username on the site"),
    ("pii.email", "a..b@example.com"),
    ("secret.password", "password: ********"),
    ("secret.password", "password = os.environ['DB_PASS']"),
    ("secret.password", "password: ${DB_PASSWORD}"),
    ("secret.password", "the password is <redacted>"),
    ("secret.url_credentials", "https://user:${PASS}@example.com"),
    ("secret.token", "commit 3f786850e387550fdab836ed7e6dc881de23001b"),
    ("secret.token", "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("secret.token", "token = getAccessTokenFromRequest"),
    ("secret.token", "api_key = aaaaaaaaaaaaaaaaaaaaaaaa"),
    ("secret.token", "eyJhbGciOi.eyJzdWIiOiIx.notreallyajwtatall"),
    ("secret.api_key", "the AKIA prefix is used by AWS"),
    ("secret.api_key", "sk-thisisnotakeyjustwordsandmorewords"),
    ("secret.private_key", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEF\n-----END PUBLIC KEY-----"),
    ("pii.date_of_birth", "the meeting is on 04/07/1986"),
    ("pii.age", "the building is 300 metres tall"),
    ("pii.address", "we have 3 big Ideas for the road ahead"),
    ("pii.name", "Dear Customer,\nthanks"),
    ("pii.name", "Best regards,\nThe Support Team\n"),
    ("secret.connection_string", "postgres://localhost:5432/app"),
]


@pytest.mark.parametrize(("data_class", "text", "value"), POSITIVES, ids=[f"{c}:{v[:24]}" for c, _, v in POSITIVES])
def test_positive(detector: Detector, data_class: str, text: str, value: str) -> None:
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert (data_class, value) in found


@pytest.mark.parametrize(("data_class", "text"), NEGATIVES, ids=[f"{c}:{t[:24]}" for c, t in NEGATIVES])
def test_hard_negative(detector: Detector, data_class: str, text: str) -> None:
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert all(c != data_class for c, _ in found), found


def test_context_raises_confidence(detector: Detector) -> None:
    plain = detector.scan("reach 4111111111111111 soon")[0]
    with_context = detector.scan("credit card 4111111111111111 soon")[0]
    assert with_context.confidence > plain.confidence
    assert "context 'credit'" in with_context.explanation


def test_context_matches_whole_words_only(detector: Detector) -> None:
    # "cardinal" contains "card" but is not the word "card".
    finding = detector.scan("cardinal 4111111111111111 soon")[0]
    assert "context" not in finding.explanation


def test_explanations_never_contain_the_value(detector: Detector) -> None:
    text = "email jane.doe@example.com card 4111 1111 1111 1111 password=hunter2xyz"
    for f in detector.scan(text):
        assert text[f.start:f.end] not in f.explanation
