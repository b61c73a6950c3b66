"""Names after chat speakers' colons, phone-call verbs, sign-offs of more languages, and a closing name."""

from __future__ import annotations

import pytest

from interlock.detect import Detector


def _names(detector: Detector, text: str) -> list[str]:
    return [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pii.name"]


@pytest.mark.parametrize(("text", "name"), [
    ("Good evening. Henrik: the parcel never came", "Henrik"),
    ("Hi all, [14:02:11] Agnieszka: I'm on my way", "Agnieszka"),
    ("log start\n[2025/Mar/03 09:15:44 +0100] Matteo: ok", "Matteo"),
    ("if I'm out, just call Margarethe on the landline", "Margarethe"),
    ("I'll send the invoice tomorrow.\nFrederik", "Frederik"),
    ("Bis dann, danke!\nCarsten", "Carsten"),
    ("Merci pour tout. Bises, Hélène", "Hélène"),
    ("Kaisa: can you wire the deposit today?", "Kaisa"),
    ("[09:12] Henrik: the parcel never came", "Henrik"),
])
def test_names_after_cues(detector: Detector, text: str, name: str) -> None:
    assert name in _names(detector, text)


@pytest.mark.parametrize("text", [
    "Status. Done: all checks passed",
    "Yes, Monday: fine for me",
    "It works.\nThanks",
    "please call Support on weekdays",
    "Summary. Note: the build is green",
    "Note: the build is green",
    "Monday: fine for me",
    "Telefon: +49 30 1234567",
])
def test_words_in_the_same_places_that_are_no_names_stay(detector: Detector, text: str) -> None:
    assert _names(detector, text) == []


@pytest.mark.parametrize(("text", "phone"), [
    ("Bitte rufen Sie an. Telefon: +49 30 1234567", "+49 30 1234567"),
    ("Proszę dzwonić. Telefon: 601 621 003", "601 621 003"),
    ("Gracias. Teléfono: 612 345 678", "612 345 678"),
    ("Ok. Handy: 0171 1234567", "0171 1234567"),
])
def test_a_phone_label_after_a_sentence_is_no_speaker(detector: Detector, text: str, phone: str) -> None:
    """A phone label in the place of a chat line's speaker ("...  Telefon: ...") labels the number."""
    found = [(text[f.start:f.end], f.data_class) for f in detector.scan(text)]
    assert found == [(phone, "pii.phone")]


def test_a_speaker_after_a_sentence_is_still_a_name(detector: Detector) -> None:
    text = "Morning all. Zaid: can you check the invoice?"
    assert [(text[f.start:f.end], f.data_class) for f in detector.scan(text)] == [("Zaid", "pii.name")]
