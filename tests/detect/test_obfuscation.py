"""Secrets and identifiers written in forms their plain patterns miss, and the lookalikes that must pass."""

from __future__ import annotations

import base64
import hashlib

import pytest

from interlock.detect import Detector


def der_body(prefix: bytes, size: int, width: int = 64, sep: str = "\n") -> str:
    """A base64 body of ``size`` bytes that starts with the DER ``prefix`` (the rest is filler)."""
    filler = b""
    seed = prefix
    while len(prefix) + len(filler) < size:
        seed = hashlib.sha256(seed).digest()
        filler += seed
    encoded = base64.b64encode(prefix + filler[:size - len(prefix)]).decode("ascii")
    return sep.join(encoded[i:i + width] for i in range(0, len(encoded), width))


RSA_PKCS1 = der_body(b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00", 1192)
RSA_PKCS8 = der_body(b"\x30\x82\x04\xbe\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", 1218)
EC_SEC1 = der_body(b"\x30\x77\x02\x01\x01\x04\x20", 121)
EC_P384 = der_body(b"\x30\x81\xa4\x02\x01\x01\x04\x30", 167)
EC_PKCS8 = der_body(b"\x30\x81\x87\x02\x01\x00\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01", 138)
ED25519 = der_body(b"\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 48)
OPENSSH = der_body(b"openssh-key-v1\x00\x00\x00\x00\x04none", 400, width=70)
CERTIFICATE = der_body(b"\x30\x82\x03\x1d\x30\x82\x02\x05\xa0\x03\x02\x01\x02", 801)
PUBLIC_KEY = der_body(b"\x30\x82\x01\x22\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", 294)
RSA_PUBLIC = der_body(b"\x30\x82\x01\x0a\x02\x82\x01\x01\x00", 270)


@pytest.mark.parametrize("body", [RSA_PKCS1, RSA_PKCS8, EC_SEC1, EC_P384, EC_PKCS8, ED25519, OPENSSH],
                         ids=["rsa-pkcs1", "rsa-pkcs8", "ec-sec1", "ec-p384", "ec-pkcs8", "ed25519", "openssh"])
@pytest.mark.parametrize("layout", ["lines", "one line", "json escapes", "indented"])
def test_private_key_body_without_header_is_found_whole(detector: Detector, body: str, layout: str) -> None:
    if layout == "one line":
        body = body.replace("\n", "")
    elif layout == "json escapes":
        body = body.replace("\n", "\\n")
    elif layout == "indented":
        body = body.replace("\n", "\n    ")
    text = f"here is the key from the server:\n    {body}\nThanks, and let me know if it works."
    found = [f for f in detector.scan(text) if f.data_class == "secret.private_key"]
    assert len(found) == 1
    assert text[found[0].start:found[0].end] == body


@pytest.mark.parametrize("body", [CERTIFICATE, PUBLIC_KEY, RSA_PUBLIC], ids=["certificate", "spki", "rsa-public"])
def test_certificates_and_public_keys_are_not_private_keys(detector: Detector, body: str) -> None:
    text = f"the server presents:\n{body}\nend"
    assert [f for f in detector.scan(text) if f.data_class == "secret.private_key"] == []


def test_base64_data_that_is_not_a_key_is_left_alone(detector: Detector) -> None:
    blob = base64.b64encode(hashlib.sha512(b"x").digest() * 8).decode("ascii")
    text = f"image: data:image/png;base64,{blob} and MIIT, MII and MHcC in prose"
    assert [f for f in detector.scan(text) if f.data_class == "secret.private_key"] == []


def test_full_pem_block_is_one_finding(detector: Detector) -> None:
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{RSA_PKCS1}\n-----END RSA PRIVATE KEY-----"
    found = detector.scan(text)
    assert [(f.data_class, f.start, f.end) for f in found] == [("secret.private_key", 0, len(text))]


# (class, text, value)
POSITIVES = [
    ("secret.api_key", "aws_access_key_id = akiaiosfodnn7example", "akiaiosfodnn7example"),
    ("secret.api_key", "key: Akiaiosfodnn7Example in the log", "Akiaiosfodnn7Example"),
    ("secret.api_key", "https://s3.example.com/?x-amz-credential=asiaxyzzy2345abcdefg/2024", "asiaxyzzy2345abcdefg"),
    ("fin.iban", "IBAN: de89 3704 0044 0532 0130 00", "de89 3704 0044 0532 0130 00"),
    ("fin.iban", "pay to DE89-3704-0044-0532-0130-00 today", "DE89-3704-0044-0532-0130-00"),
    ("fin.iban", "iban gb82-west-1234-5698-7654-32", "gb82-west-1234-5698-7654-32"),
    ("fin.iban", "account fr1420041010050500013m02606", "fr1420041010050500013m02606"),
    # A following word must not be read as more of the number.
    ("fin.iban", "wire to iban es9121000418450200051332 today", "es9121000418450200051332"),
    ("fin.iban", "IBAN ES91-2100-0418-4502-0005-1332 TODAY", "ES91-2100-0418-4502-0005-1332"),
    ("fin.iban", "IBAN: DE89 3704 0044 0532 0130 00 BIC DEUTDEFF", "DE89 3704 0044 0532 0130 00"),
    # SSNs the SSA never issues, in SSN context or labelled.
    ("pii.national_id", "SSN: 980-33-8836", "980-33-8836"),
    ("pii.national_id", "Social Security Number 000-12-3456", "000-12-3456"),
    ("pii.national_id", "ssn 666-12-3456 on file", "666-12-3456"),
    ("pii.national_id", "my social security number is 912 12 3456", "912 12 3456"),
    ("pii.national_id", "SSN 078-05-1120", "078-05-1120"),
    ("pii.national_id", "SSN: 980338836", "980338836"),
    ("pii.national_id", "ITIN 912-78-3456", "912-78-3456"),
    ("pii.national_id", "SSN 536.22.1234", "536.22.1234"),
    ("pii.national_id", "number 536-22-1234", "536-22-1234"),
]


@pytest.mark.parametrize(("data_class", "text", "value"), POSITIVES)
def test_obfuscated_values_are_found(detector: Detector, data_class: str, text: str, value: str) -> None:
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert (data_class, value) in found


HARD_NEGATIVES = [
    ("secret.api_key", "the akia prefix marks an aws key"),
    ("secret.api_key", "asiapacificregionsales"),
    ("fin.iban", "iban de89 3704 0044 0532 0130 01"),  # wrong check digits
    ("fin.iban", "build ab12-cdef-ghij-klmn"),
    ("fin.iban", "uuid de305d54-75b4-431b-adb2-eb6b9e546014"),
    ("pii.national_id", "ref 980-33-8836"),  # never issued, and nothing says it is an SSN
    ("pii.national_id", "part 000-12-3456 in stock"),
    ("pii.national_id", "order 123456789"),
    ("pii.national_id", "we shipped 980338836 units"),
]


@pytest.mark.parametrize(("data_class", "text"), HARD_NEGATIVES)
def test_lookalikes_are_not_found(detector: Detector, data_class: str, text: str) -> None:
    assert [f for f in detector.scan(text) if f.data_class == data_class] == []
