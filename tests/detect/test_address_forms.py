"""Address forms of more locales: street types of Italy, Mexico and Brazil, Australian and US street types
before a region code and postcode, units written with a spaced comma, official country names."""

from __future__ import annotations

import pytest

from interlock.detect import Detector

ADDRESS = "pii.address"


def _addresses(detector: Detector, text: str) -> list[str]:
    return [text[f.start:f.end] for f in detector.scan(text) if f.data_class == ADDRESS]


@pytest.mark.parametrize(("text", "value"), [
    ("Spedire a: Traversa Pellico, 12\n80135, Napoli (NA)", "Traversa Pellico, 12\n80135, Napoli (NA)"),
    ("entregar en Prolongación Hidalgo 48 Int. 3\nColonia Centro, 76000 Querétaro",
     "Prolongación Hidalgo 48 Int. 3\nColonia Centro, 76000 Querétaro"),
    ("Circuito Azucenas 210 , Depto. 5, Zapopan, JAL 45010", "Circuito Azucenas 210 , Depto. 5, Zapopan, JAL 45010"),
    ("entrega: Parque das Flores, 88, Campinas, 13025-320", "Parque das Flores, 88, Campinas, 13025-320"),
    ("Unit 4 27 Banksia Siding\nOrange, NSW, 2800", "Unit 4 27 Banksia Siding\nOrange, NSW, 2800"),
    ("send it to 12 Wattle Lookout, Bendigo, VIC, 3550 please", "12 Wattle Lookout, Bendigo, VIC, 3550"),
    ("5120 Maple Cliff Apt. 3, Springfield, IL 62704", "5120 Maple Cliff Apt. 3, Springfield, IL 62704"),
    ("Postbox 771, Harbourview 6020", "Postbox 771, Harbourview 6020"),
    ("Keizersweg 14\n3511 AB\nUtrecht\nKingdom of the Netherlands",
     "Keizersweg 14\n3511 AB\nUtrecht\nKingdom of the Netherlands"),
])
def test_address_forms_are_found_whole(detector: Detector, text: str, value: str) -> None:
    assert value in _addresses(detector, text)


@pytest.mark.parametrize("text", [
    "Shipped to Ana at Via Roma 5, Pisa. Total 17 629.01 EUR.",
    "the release notes for Chapter 3 Design Principles, NSW edition",
])
def test_amounts_and_prose_after_an_address_stay(detector: Detector, text: str) -> None:
    for value in _addresses(detector, text):
        assert "Total" not in value
        assert "629" not in value
    assert not any("Design" in v for v in _addresses(detector, text))
