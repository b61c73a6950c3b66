"""Phone numbers: national and international forms by country, labels in many languages, hard negatives."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from interlock.detect import DetectionConfig, Detector
from interlock.detect.config import DEFAULT_PHONE_REGIONS
from interlock.detect.recognizers.phone_plan import (
    INVALID,
    VALID,
    NumberingPlans,
    international_validity,
    validity_by_parsing,
)
from interlock.redact import ActionPolicy, PlaceholderMap, StreamingRedactor, redact

POSITIVES: list[tuple[str, str]] = [
    # (text, the exact value that must be reported as pii.phone)
    # Forms that escaped the recognizer before.
    ("0317 8207771", "0317 8207771"),
    ("+41 93 808 43 16", "+41 93 808 43 16"),
    ("Mobile: 601 621 003", "601 621 003"),
    ("Fax: 879.888.6532x071", "879.888.6532x071"),
    ("call me on 445 6271", "445 6271"),
    ("Phone: 040-073-983", "040-073-983"),
    ("Call 415-555-0134, SSN 536-22-1234", "415-555-0134"),
    # North America
    ("reach the desk at (415) 555-0198 today", "(415) 555-0198"),
    ("our line is 1-800-555-0199 for orders", "1-800-555-0199"),
    ("He said 212.555.0147 works best.", "212.555.0147"),
    ("Toronto office 416 555 0123.", "416 555 0123"),
    ("Mexico: 55 1234 5678 es mi número", "55 1234 5678"),
    # United Kingdom, Ireland
    ("Ring me on 07700 900123 please", "07700 900123"),
    ("London switchboard 020 7946 0958", "020 7946 0958"),
    ("(+44) 20 7946 0958 is the number", "(+44) 20 7946 0958"),
    ("+44 (0)20 7946 0958 ext. 214", "+44 (0)20 7946 0958 ext. 214"),
    ("Dublin 01 234 5678", "01 234 5678"),
    # Germany, Austria, Switzerland
    ("Handy: 0171 1234567", "0171 1234567"),
    ("Tel.: +49 (0)30 1234567 Durchwahl 12", "+49 (0)30 1234567 Durchwahl 12"),
    ("Telefon 0711 / 123456", "0711 / 123456"),
    ("Rufen Sie 030 12345678 an", "030 12345678"),
    ("Wien: 01 5123456", "01 5123456"),
    ("Mobil 0664 1234567", "0664 1234567"),
    ("Zürich 044 668 18 00", "044 668 18 00"),
    ("0041 44 668 18 00", "0041 44 668 18 00"),
    # France, Belgium, Luxembourg, Netherlands
    ("Téléphone : 06 12 34 56 78", "06 12 34 56 78"),
    ("Portable 06.12.34.56.78", "06.12.34.56.78"),
    ("+33 6 12 34 56 78", "+33 6 12 34 56 78"),
    ("GSM 0470 12 34 56", "0470 12 34 56"),
    ("Luxembourg 621 123 456 tel", "621 123 456"),
    ("Bel me op 06-12345678", "06-12345678"),
    ("Telefoon: 020 123 4567", "020 123 4567"),
    # Spain, Portugal, Italy
    ("Móvil: 612 34 56 78", "612 34 56 78"),
    ("Teléfono 91 123 45 67", "91 123 45 67"),
    ("Telemóvel: 912 345 678", "912 345 678"),
    ("Lisboa +351 21 123 4567", "+351 21 123 4567"),
    ("Cellulare: 312 345 6789", "312 345 6789"),
    ("Milano 02 1234 5678", "02 1234 5678"),
    # Nordic and Baltic
    ("Telefon 08-123 456 78", "08-123 456 78"),
    ("Mobil: 070-123 45 67", "070-123 45 67"),
    ("Tlf. 20 12 34 56", "20 12 34 56"),
    ("ring meg på 412 34 567", "412 34 567"),
    ("Puhelin 040 1234567", "040 1234567"),
    ("Sími 611 1234", "611 1234"),
    ("Tel. 5123 4567 (Tallinn)", "5123 4567"),
    ("+371 21 234 567", "+371 21 234 567"),
    ("Tel. 8 612 34567", "8 612 34567"),
    # Central and Eastern Europe
    ("Komórka: 512 345 678", "512 345 678"),
    ("+48 512 345 678", "+48 512 345 678"),
    ("Telefon: 601 123 456", "601 123 456"),
    ("Mobil 0905 123 456", "0905 123 456"),
    ("Telefonszám: 06 20 123 4567", "06 20 123 4567"),
    ("Telefon: 0712 034 567", "0712 034 567"),
    ("тел. 8 (912) 345-67-89", "8 (912) 345-67-89"),
    ("+380 50 123 4567", "+380 50 123 4567"),
    ("Τηλ. 691 234 5678", "691 234 5678"),
    ("Cep telefonu 0532 123 45 67", "0532 123 45 67"),
    ("Mob. 091 234 5678", "091 234 5678"),
    # Latin America
    ("Celular: (11) 96123-4567", "(11) 96123-4567"),
    ("+55 11 96123-4567", "+55 11 96123-4567"),
    ("Celular 011 15-2345-6789", "011 15-2345-6789"),
    ("+56 9 6123 4567", "+56 9 6123 4567"),
    ("+57 321 1234567", "+57 321 1234567"),
    ("+52 1 55 1234 5678", "+52 1 55 1234 5678"),  # Mexico's mobile format before 2019
    ("Roma +39 06 6982 1234", "+39 06 6982 1234"),
    ("+7 (495) 123-45-67", "+7 (495) 123-45-67"),
    ("офис 8 (495) 123-45-67", "8 (495) 123-45-67"),
    ("東京 (03) 1234-5678", "(03) 1234-5678"),
    ("서울 02-312-3456", "02-312-3456"),
    ("iroda (06 1) 234 5678", "(06 1) 234 5678"),
    ("Sie erreichen uns unter 030 / 123 45 67.", "030 / 123 45 67"),
    # Asia-Pacific, Middle East, Africa
    ("M: 0412 345 678", "0412 345 678"),
    ("T: +1 212 555 0100", "+1 212 555 0100"),
    ("M. 0412 345 678", "0412 345 678"),
    ("Sydney (02) 1234 5678", "(02) 1234 5678"),
    ("tel 090-1234-5678", "090-1234-5678"),
    ("WhatsApp +91 98765 43210", "+91 98765 43210"),
    ("+65 8123 4567", "+65 8123 4567"),
    ("+86 138 0013 8000", "+86 138 0013 8000"),
    ("+972 50-123-4567", "+972 50-123-4567"),
    ("+971 50 123 4567", "+971 50 123 4567"),
    ("Cell 082 123 4567", "082 123 4567"),
    ("+234 802 123 4567", "+234 802 123 4567"),
    # Bare digits with a label or phone words near, JSON and lists
    ('{"phone": "0301234567", "name": "x"}', "0301234567"),
    ("Reach me at 0612345678.", "0612345678"),
    ("my mobile number is 4155550134", "4155550134"),
    ("my number's 445 6271, text me", "445 6271"),
    ("meine Nummer: 445 6271", "445 6271"),
    ("mon numéro est le 445 6271", "445 6271"),
    ("Tel 030 1234567 / 0171 1234567", "0171 1234567"),
    ("Tel 030 1234567 / 0171 1234567", "030 1234567"),
    ("Phone: 12345678-10", "12345678-10"),
    ("Contact phone: 0800 123 4567 (toll free)", "0800 123 4567"),
    ("<a href=\"tel:+14155550134\">", "+14155550134"),
    ("Phone:0301234567", "0301234567"),
    # Numbers no plan assigns, in shapes that are phones on their own (generated and test data).
    ("please use 879.888.6532 tomorrow", "879.888.6532"),
    ("(879)888-6532x071 is mine", "(879)888-6532x071"),
    ("001-879-888-6532x07188", "001-879-888-6532x07188"),
    ("+1-879-888-6532", "+1-879-888-6532"),
    ("+49(0)6638 46347", "+49(0)6638 46347"),
    ("17,Jane Doe,879-888-6532,12.50", "879-888-6532"),
    # No-break spaces between groups, as French and German typesetting put them.
    ("Tél. 06\u00a012\u00a034\u00a056\u00a078", "06\u00a012\u00a034\u00a056\u00a078"),
    ("Appelez le 06\u202f12\u202f34\u202f56\u202f78 svp", "06\u202f12\u202f34\u202f56\u202f78"),
    # Typographic hyphens and dashes between groups.
    ("Tel. 030\u20131234567", "030\u20131234567"),
    ("call 415\u2011555\u20110134 now", "415\u2011555\u20110134"),
]


NEGATIVES: list[str] = [
    "invoice 2023-01-15",
    "ISBN 978-0-306-40615-7",
    "978-0-306-40615-7",
    "it costs 1234567 dollars",
    "Order 12345678-10 shipped",
    "file 12345678-10 uploaded",
    "upgraded to 1.2.3 yesterday",
    "upgraded to 13.19.172 yesterday",
    "build 10.0.19045.2965",
    "at 2024-03-15 14:22:01",
    "the meeting is 15.03.2024 at 10:30",
    "due 3/15/2025 latest",
    "timestamp 1700000000",
    "[2024-03-15T14:22:01.123456Z] GET /api 200",
    "created 1712345678901 ms",
    "total 1.234.567,89 EUR",
    "total $12,345.67 paid",
    "population 1 234 567",
    "San Francisco, CA 94105-1234",
    "CEP 01310-100",
    "id 123e4567-e89b-12d3-a456-426614174000",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "INV-2024-001234",
    "Your order #4711-2233-99 is ready",
    "Order number: 4155550134",
    "ticket 12345678 was closed",
    "between 2019-2023 we grew",
    "located at 61.668051, 143.029492",
    "ports 9937-1666 open",
    "SSN 536-22-1234",
    "IMEI 356938035643809",
    "Your code is 123 456",
    "card 4111 1111 1111 1111",
    "server 192.168.10.24 down",
    "grew 12.5% to 450000 users",
    "4111 1111 1111 1112",
    "1234 5678 9012 3456",
    "CHF 12 500 000",
    "tracking 9400 1000 0000 0000 0000 00",
    "S/N 1234-5678-90",
    "on 2024\u201303\u201315 we met",
    "see p. 1234567 for details",
    "+999 123 456 789",
    "offset +05:30",
    "my order number is 4456271",
    "our account number 445 6271",
]


@pytest.mark.parametrize(("text", "value"), POSITIVES, ids=[f"{i}:{v}" for i, (_, v) in enumerate(POSITIVES)])
def test_phone_found(detector: Detector, text: str, value: str) -> None:
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert ("pii.phone", value) in found, found


@pytest.mark.parametrize("text", NEGATIVES)
def test_not_a_phone(detector: Detector, text: str) -> None:
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert all(c != "pii.phone" for c, _ in found), found


_FORMATS = (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
_EXAMPLES = [
    (region, kind, fmt)
    for region in DEFAULT_PHONE_REGIONS
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    for fmt in _FORMATS
    if phonenumbers.example_number_for_type(region, kind) is not None
]


@pytest.mark.parametrize(("region", "kind", "fmt"), _EXAMPLES)
def test_every_default_region_in_plain_prose(detector: Detector, region: str, kind: int, fmt: int) -> None:
    """Each default region's example numbers, written as the region writes them, with no label at all."""
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    value = phonenumbers.format_number(number, fmt)
    text = f"Sure, it is {value} if anything changes."
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert ("pii.phone", value) in found, found


def test_default_regions_cover_forty_countries() -> None:
    assert len(set(DEFAULT_PHONE_REGIONS)) >= 40
    assert DetectionConfig().phone_regions == DEFAULT_PHONE_REGIONS


def test_national_regions_follow_the_configuration() -> None:
    # A Singapore mobile number written nationally is a phone only where Singapore's plan is configured.
    text = "Call 8123 4567 when you land"
    narrow = Detector(DetectionConfig(phone_regions=("US", "GB")))
    assert "pii.phone" in {f.data_class for f in Detector(DetectionConfig(phone_regions=("SG",))).scan(text)}
    assert [f for f in narrow.scan("It is 8123 4567 now") if f.data_class == "pii.phone"] == []


def test_compiled_plans_agree_with_phonenumbers() -> None:
    """The compiled metadata accepts what ``phonenumbers`` validates for each region, in national form."""
    plans = NumberingPlans(DEFAULT_PHONE_REGIONS)
    for region in DEFAULT_PHONE_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            assert plans.national_valid("".join(ch for ch in national if ch.isdigit())), (region, national)
    # Written without its trunk prefix, a German number is not a German one (and "2" starts no valid number
    # in the configured plans that go without a prefix).
    assert not NumberingPlans(("DE",)).national_valid("301234567")
    assert NumberingPlans(("DE",)).national_valid("0301234567")


def _international_samples() -> list[str]:
    """Digits after a "+": every region's example numbers of every type, each altered, shortened, lengthened
    and with a national prefix inserted, plus random digits after every calling code and none."""
    rng = random.Random(20261206)
    samples: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            code, national = str(number.country_code), phonenumbers.national_significant_number(number)
            digits = code + national
            samples += [digits, digits[:-1], digits + "5", code + "0" + national, code + "1" + national]
            for _ in range(2):
                at = rng.randrange(len(digits))
                samples.append(digits[:at] + str(rng.randrange(10)) + digits[at + 1:])
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for _ in range(12):
            samples.append(str(code) + "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 15))))
    samples += ["".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 18))) for _ in range(500)]
    return [s for s in samples if len(s) <= 17]


def test_international_validity_agrees_with_parsing() -> None:
    """The compiled international plans answer as ``phonenumbers.parse`` with ``is_valid_number`` and
    ``is_possible_number`` do, for valid, altered and random numbers of every calling code."""
    samples = _international_samples()
    international_validity.cache_clear()
    answers = [international_validity(s) for s in samples]
    assert answers == [validity_by_parsing(s) for s in samples]
    assert answers.count(VALID) > 1000
    assert answers.count(INVALID) > 100


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="phone regions"):
        NumberingPlans(("XX",))


def test_labelled_value_outranks_validity(detector: Detector) -> None:
    unknown = [f for f in detector.scan("Phone: 111-111-111") if f.data_class == "pii.phone"]
    assert unknown
    assert unknown[0].confidence >= 0.9
    assert "labelled" in unknown[0].explanation
    # Validity only raises the confidence of a labelled value.
    valid = [f for f in detector.scan("Phone: +44 20 7946 0958") if f.data_class == "pii.phone"]
    assert valid
    assert valid[0].confidence > unknown[0].confidence


def test_a_label_after_a_phone_does_not_cancel_it(detector: Detector) -> None:
    text = "Reach us at 020 7946 0958, order 12345678 ships Monday"
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert ("pii.phone", "020 7946 0958") in found
    assert all(v != "12345678" for _, v in found)


_LETTER = (
    "Hi team,\nplease call me on 445 6271 or Mobile: 601 621 003 today.\n"
    "Fax: 879.888.6532x071, Tel.: +49 (0)30 1234567 Durchwahl 12\n"
    "Call 415-555-0134, SSN follows separately. Order 12345678-10 shipped on 2024-03-15 14:22.\n"
)


@pytest.mark.parametrize("size", [1, 4, 9, 33])
def test_streamed_phones_are_redacted_as_in_whole_text(detector: Detector, size: int) -> None:
    whole = redact(_LETTER, detector.scan(_LETTER), ActionPolicy(), PlaceholderMap("a")).text
    redactor = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("b"))
    pieces = [redactor.feed(_LETTER[i:i + size]) for i in range(0, len(_LETTER), size)]
    streamed = "".join(pieces) + redactor.flush()
    assert streamed == whole
    for value in ("445 6271", "601 621 003", "6532", "(0)30 1234567", "415-555-0134"):
        assert value not in streamed
    assert "12345678-10" in streamed


LABELS = ["Tel", "Tel.", "Phone", "Mobile", "Cell", "Fax", "Desk", "WhatsApp", "call me on", "reach me at",
          "Telefon", "Handy", "Mobil", "Téléphone", "Portable", "Teléfono", "Móvil", "Celular", "Telefone",
          "Telemóvel", "Telefono", "Cellulare", "Telefoon", "Mobiel", "Puhelin", "Komórka", "Tlf.", "Sími",
          "Τηλ.", "Телефон", "Phone number", "Mobile no.", "Tel. (work)", "Handynummer", "mobilePhone"]


@pytest.mark.parametrize("label", LABELS)
def test_label_makes_a_number_no_plan_knows_a_phone(detector: Detector, label: str) -> None:
    text = f"{label}: 111-111-111 (ask for Sam)"
    found = [(f.data_class, text[f.start:f.end]) for f in detector.scan(text)]
    assert ("pii.phone", "111-111-111") in found
    # The same value without its label is not a phone.
    assert not [f for f in detector.scan("Note: 111-111-111 (ask for Sam)") if f.data_class == "pii.phone"]
