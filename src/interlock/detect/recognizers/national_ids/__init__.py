"""National identifiers, one country per module. Adding a country: add a module with one
:class:`~interlock.detect.recognizer.Recognizer` subclass and list it in ``NATIONAL_ID_RECOGNIZERS``."""

from __future__ import annotations

from interlock.detect.recognizer import Recognizer
from interlock.detect.recognizers.national_ids.ca_sin import CanadaSinRecognizer
from interlock.detect.recognizers.national_ids.uk_nino import UkNinoRecognizer
from interlock.detect.recognizers.national_ids.us_ssn import UsSsnRecognizer

NATIONAL_ID_RECOGNIZERS: tuple[type[Recognizer], ...] = (UsSsnRecognizer, UkNinoRecognizer, CanadaSinRecognizer)

__all__ = ["NATIONAL_ID_RECOGNIZERS"]
