"""Dates of birth: labelled in the main European languages and every common date form; other dates stay."""

from __future__ import annotations

import pytest

from interlock.detect import Detector

BIRTH = "pii.date_of_birth"


def _found(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(text[f.start:f.end], f.data_class) for f in detector.scan(text)]


@pytest.mark.parametrize(("text", "value"), [
    ("Geburtsdatum: 07.11.1958", "07.11.1958"),
    ("Ihre Tochter, geb. 3. Februar 2011, ist angemeldet", "3. Februar 2011"),
    ("date de naissance : 29/02/1992", "29/02/1992"),
    ("née le 1er avril 1975 à Nantes", "1er avril 1975"),
    ("Fecha de nacimiento: 5-6-1969", "5-6-1969"),
    ("nacida el 14 de julio de 1983", "14 de julio de 1983"),
    ("Data di nascita 30/09/1961", "30/09/1961"),
    ("Data de nascimento: 2 de dezembro de 1990", "2 de dezembro de 1990"),
    ("data urodzenia: 9 listopada 1948 r.", "9 listopada 1948"),
    ("Geboortedatum 1977-08-19", "1977-08-19"),
    ("Fødselsdato: 24.12.1966", "24.12.1966"),
    ("Födelsedatum: 1951-03-08", "1951-03-08"),
    ("Syntymäaika 8.5.1994", "8.5.1994"),
    ("Datum narození: 11. 4. 1973", "11. 4. 1973"),
    ("Születési dátum: 1968.02.27.", "1968.02.27"),
    ("Született 1968. március 27.", "1968. március 27"),
    ("Data nașterii: 17.10.1985", "17.10.1985"),
    ("DOB 6/7/82", "6/7/82"),
    ("d.o.b. - Sept. 9, 1964", "Sept. 9, 1964"),
    ("the patient (born 22 Oct 1940) reports", "22 Oct 1940"),
    ("I was born in Porto on 12/01/1999, a Tuesday", "12/01/1999"),
    ("1959-04-03 (date of birth)", "1959-04-03"),
])
def test_labelled_birth_dates_are_found(detector: Detector, text: str, value: str) -> None:
    assert (value, BIRTH) in _found(detector, text)


def test_a_birth_date_column_is_labelled_by_its_header(detector: Detector) -> None:
    text = "member;joined;date_of_birth\nA. Berg;2021-05-01;1987-12-30\nC. Dahl;2022-01-09;02.03.1971\n"
    found = _found(detector, text)
    assert ("1987-12-30", BIRTH) in found
    assert ("02.03.1971", BIRTH) in found
    assert not any(value in ("2021-05-01", "2022-01-09") for value, _ in found)


@pytest.mark.parametrize("text", [
    "Order date: 2024-03-01, shipped 2024-03-05",
    "invoice dated 12.03.1980 was paid on 14.03.1980",
    "the contract began on 3 May 1990 and ends in 2030",
    "log: 2025-11-02 10:22:03 worker restarted",
    "a born leader since 2001, promoted on 01/04/2019",  # a number stands between the word and the date
])
def test_dates_without_a_birth_label_stay(detector: Detector, text: str) -> None:
    assert not any(cls == BIRTH for _, cls in _found(detector, text))


def test_the_label_of_the_next_field_does_not_reach_back(detector: Detector) -> None:
    text = "Created: 2023-07-14, DOB: 1990-01-02"
    found = _found(detector, text)
    assert ("1990-01-02", BIRTH) in found
    assert not any(value == "2023-07-14" for value, _ in found)


def test_a_word_that_is_no_month_is_not_a_date(detector: Detector) -> None:
    assert not any(cls == BIRTH for _, cls in _found(detector, "born 3 dogs 1990"))
