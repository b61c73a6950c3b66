from __future__ import annotations

import pytest

from interlock.audit.canonical import NonCanonicalValue, canonical_json, parse_canonical, payload_hash


def test_keys_sorted_at_every_depth_without_whitespace() -> None:
    obj = {"b": 1, "a": {"z": [3, {"y": None, "x": True}], "c": False}}
    assert canonical_json(obj) == b'{"a":{"c":false,"z":[3,{"x":true,"y":null}]},"b":1}'


def test_non_ascii_is_written_as_utf8_and_only_required_characters_are_escaped() -> None:
    text = 'café \u2028 <a href="/x">\\ \n\t\x01\x7f 😀'
    out = canonical_json({"t": text})
    assert out == ('{"t":"café \u2028 <a href=\\"/x\\">\\\\ \\n\\t\\u0001\x7f 😀"}').encode()
    assert parse_canonical(out) == {"t": text}


def test_keys_sort_by_code_point_so_utf8_byte_order_agrees() -> None:
    # UTF-16 order (RFC 8785) would put the emoji before U+E000; code point order puts it after.
    out = canonical_json({"\U0001f600": 1, "\ue000": 2, "Z": 3, "a": 4})
    assert out == '{"Z":3,"a":4,"\ue000":2,"\U0001f600":1}'.encode()


@pytest.mark.parametrize(("value", "text"), [
    (0.1, b"0.1"), (1.0, b"1.0"), (1e21, b"1e21"), (1e-7, b"1e-7"), (-0.0, b"-0.0"),
    (123456.789, b"123456.789"),
    (2**70, b"1180591620717411303424"), (-5, b"-5"),
])
def test_numbers_use_exact_integers_and_shortest_round_trip_floats(value: float, text: bytes) -> None:
    assert canonical_json([value]) == b"[" + text + b"]"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused_even_when_nested(bad: float) -> None:
    with pytest.raises(NonCanonicalValue, match="non-finite"):
        canonical_json({"cost": {"usd": [1.0, bad]}, "refusal_code": None})


def test_null_and_the_text_null_are_still_fine() -> None:
    assert canonical_json({"a": None, "b": "null"}) == b'{"a":null,"b":"null"}'


def test_non_string_keys_and_lone_surrogates_are_refused() -> None:
    with pytest.raises(NonCanonicalValue):
        canonical_json({1: "x"})
    with pytest.raises(NonCanonicalValue):
        canonical_json({"x": "\ud800"})


def test_parse_canonical_refuses_bytes_that_are_json_but_not_canonical() -> None:
    assert parse_canonical(b'{"a":1,"b":2}') == {"a": 1, "b": 2}
    for bad in (b'{"b":2,"a":1}', b'{"a": 1}', b'{"a":"\\u00e9"}'):
        with pytest.raises(NonCanonicalValue):
            parse_canonical(bad)


def test_encoding_is_stable_whatever_the_insertion_order() -> None:
    a = {"x": 1, "y": [1, 2], "z": {"q": "é"}}
    b = {"z": {"q": "é"}, "y": [1, 2], "x": 1}
    assert canonical_json(a) == canonical_json(b)


def test_payload_hash_is_sha256_of_the_body() -> None:
    assert payload_hash(b"").hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
