"""Adversarial ~1 MB inputs per family. A super-linear engine would hang here; the alarm turns a hang
into a failure instead of a stuck run. No timing is asserted."""

from __future__ import annotations

import pytest

from interlock.detect import Detector

MB = 1_000_000

ADVERSARIAL = {
    "letters": "a" * MB,
    "digits": "1" * MB,
    "digits-spaced": "4111 " * (MB // 5),
    "at-signs": "a@" * (MB // 2),
    "email-ish": ("x." * 40 + "@") * (MB // 81),
    "pem-openers": "-----BEGIN RSA PRIVATE KEY-----\n" * (MB // 32),
    "colons": "a:" * (MB // 2),
    "dots": "1." * (MB // 2),
    "hex-colons": "ff:" * (MB // 3),
    "url-ish": "http://a:b" * (MB // 10),
    "keywords": "password=token=secret=" * (MB // 22),
    "capitalised": "Dear Ab " * (MB // 8),
    "name-runs": "Anna Smith " * (MB // 11),
    "name-fields": "Anna,Smith;" * (MB // 11),
    "particles": "Anna de la " * (MB // 11),
    "jwt-ish": "eyJ" * (MB // 3),
    "semicolons": "server=a;" * (MB // 9),
    "zero-width": "4\u200b" * (MB // 2),
    "fullwidth": "４１１１ ＠ " * (MB // 7),
    "ligatures": "\ufb01\ufdfa" * (MB // 2),
    "spelled-email": "a dot " * (MB // 6) + "at b dot " * (MB // 9),
    "bracketed-at": "a(at)" * (MB // 5),
    "key-body-starts": "MIIEowIBAA" * (MB // 10),
    "key-body-lines": ("MIIEowIBAAKCAQEA" + "A" * 48 + "\n") * (MB // 65),
    "dotted-digits": "4111.1111." * (MB // 10),
}


pytestmark = pytest.mark.usefixtures("scan_deadline")


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_input_completes(detector: Detector, name: str) -> None:
    text = ADVERSARIAL[name]
    findings = detector.scan(text)
    assert all(0 <= f.start < f.end <= len(text) for f in findings)


def test_five_megabytes_scanned_whole(detector: Detector) -> None:
    filler = "The quick brown fox jumps over the lazy dog. " * (5 * MB // 45)
    text = "jane.doe@example.com " + filler + " card 4111 1111 1111 1111"
    findings = detector.scan(text)
    classes = [f.data_class for f in findings]
    assert len(text) > 5 * MB
    assert classes[0] == "pii.email"
    assert classes[-1] == "pci.card_number"
    assert findings[-1].end == len(text)
