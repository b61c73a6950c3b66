"""Labels decide: the nearest label wins over counter-context, and a table's header labels its column."""

from __future__ import annotations

from interlock.detect import Detector
from interlock.detect.context import ContextWords, column_header


def _found(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[f.start:f.end], f.data_class) for f in detector.scan(text)]


def test_an_ssn_key_before_its_value_beats_a_phone_key_after_it(detector: Detector) -> None:
    for ssn in ("921-40-5512", "536-22-1234"):  # never issued (area 9xx) and valid alike
        text = f'{{"client": {{"tax": {{"ssn": "{ssn}", "phone": "+1 415 555 0199"}}}}}}'
        assert (ssn, "pii.national_id") in _found(detector, text)


def test_an_unissued_ssn_alone_is_not_reported(detector: Detector) -> None:
    assert not any(cls == "pii.national_id" for _, cls in _found(detector, "ticket 921-40-5512 closed"))


def test_a_column_header_labels_the_values_below_it(detector: Detector) -> None:
    text = "customer|ssn|plan\nR. Okafor|918204471|basic\nL. Brandt|407-55-1290|pro\n"
    found = _found(detector, text)
    assert ("918204471", "pii.national_id") in found
    assert ("407-55-1290", "pii.national_id") in found


def test_a_nine_digit_number_under_another_header_is_not_an_ssn(detector: Detector) -> None:
    text = "sku;order_no;qty\nA-1;918204471;2\n"
    assert not any(cls == "pii.national_id" for _, cls in _found(detector, text))


def test_column_header_lookup() -> None:
    text = "a,b,c\n1,2,3\n4,5,6"
    cache: dict[object, object] = {}
    assert column_header(text, text.index("5"), cache) == ["b"]
    assert column_header(text, text.index("3"), cache) == ["c"]
    assert column_header("just prose, with a comma", 20, {}) == []
    # A row far longer than a table row has no header to look for.
    long_row = "x;" * 3000 + "\n" + "1;" * 3000
    assert column_header(long_row, len(long_row) - 4, {}) == []


def test_distance_counts_a_word_after_the_match_one_further() -> None:
    words = ContextWords(["ssn", "social security"])
    assert words.distance(["the", "ssn"], ["phone"]) == 0
    assert words.distance(["x"], ["ssn"]) == 1
    assert words.distance(["social", "security", "no"], []) == 1
    assert words.distance(["a"], ["b"]) is None


def test_a_phone_column_labels_bare_digits(detector: Detector) -> None:
    text = "uid,display_name,mobile,joined\n311,K. Sato,61882047,2024-02-11\n"
    assert ("61882047", "pii.phone") in _found(detector, text)
    other = "uid;batch_no;qty\n311;61882047;4\n"
    assert not any(cls == "pii.phone" for _, cls in _found(detector, other))
