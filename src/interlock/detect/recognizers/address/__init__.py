"""Street addresses: street lines of European, Latin American, English-speaking and Latin-script Asian
locales, postcode-and-city lines, address blocks, PO boxes and labelled address fields."""

from __future__ import annotations

from interlock.detect.recognizers.address.recognizer import StreetAddressRecognizer

__all__ = ["StreetAddressRecognizer"]
