"""Sensitive-data detection: data classes, recognizers, and the detector that runs them."""

from __future__ import annotations

from interlock.detect.config import TAXONOMY, CustomPattern, DetectionConfig
from interlock.detect.detector import Detector
from interlock.detect.finding import Finding
from interlock.detect.ner import NerBackend, SpacyNer
from interlock.detect.recognizer import Pattern, Recognizer

__all__ = ["TAXONOMY", "CustomPattern", "DetectionConfig", "Detector", "Finding", "NerBackend", "Pattern",
           "Recognizer", "SpacyNer"]
