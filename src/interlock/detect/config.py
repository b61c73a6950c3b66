"""The typed, frozen configuration a :class:`~interlock.detect.detector.Detector` is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from interlock.settings import DEFAULT_PHONE_REGIONS

Checksum = Literal["luhn", "mod97", "aba"]

TAXONOMY: frozenset[str] = frozenset({
    "pii.name", "pii.email", "pii.phone", "pii.address", "pii.date_of_birth", "pii.age",
    "pii.national_id", "pci.card_number", "fin.iban", "fin.bank_account", "net.ip_address",
    "net.mac_address", "secret.url_credentials", "secret.api_key", "secret.private_key",
    "secret.password", "secret.token", "secret.connection_string",
    # Found only in tool results, by ``detect.injection``.
    "threat.prompt_injection",
    # Content parts the gateway cannot read; found by the protect stage, one finding per part. Token ids
    # sent to the embeddings endpoint (``media.tokens``) are one finding per input.
    "media.image", "media.audio", "media.file", "media.tokens",
})


def check_data_class(name: str) -> str:
    """Return ``name`` if it is a known class or a ``custom.*`` class; raise otherwise."""
    if name in TAXONOMY or (name.startswith("custom.") and len(name) > len("custom.")):
        return name
    raise ValueError(f"unknown data class {name!r}: use one of the taxonomy classes or 'custom.<name>'")


@dataclass(frozen=True, slots=True)
class CustomPattern:
    """A deployment-defined pattern (RE2 syntax). ``group`` selects the capture group to report.

    ``openers``: literal prefixes (case-insensitive), one of which begins every match. A pattern that
    can match more than ``DetectionConfig.max_plain_len`` characters needs them, so that streaming
    holds text back only from an opener instead of everywhere.
    """

    data_class: str
    pattern: str
    context: tuple[str, ...] = ()
    checksum: Checksum | None = None
    confidence: float = 0.8
    context_required: bool = False
    max_len: int = 256
    group: int = 0
    openers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_data_class(self.data_class)
        if not 0.0 < self.confidence <= 1.0:
            raise ValueError(f"custom pattern for {self.data_class}: confidence must be in (0, 1]")
        if self.max_len <= 0:
            raise ValueError(f"custom pattern for {self.data_class}: max_len must be positive")
        if any(not o for o in self.openers):
            raise ValueError(f"custom pattern for {self.data_class}: openers must not be empty")


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Everything a detector needs, parsed and validated once at startup.

    ``dictionaries`` maps a class name to terms matched as whole words, case-insensitively.
    ``allow_list`` holds values that are known to be safe (compared after trimming, case-insensitively).
    ``ner_backend`` is ``None`` (patterns only) or ``"spacy"`` / ``"spacy:<model name>"``.
    ``disabled`` lists recognizer names to leave out.
    ``max_plain_len`` is the longest span a recognizer without openers may report; it sets how much
    text streaming output redaction holds back. Raising it accepts a longer delay.
    """

    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    allow_list: tuple[str, ...] = ()
    dictionaries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    custom_patterns: tuple[CustomPattern, ...] = ()
    min_confidence: float = 0.5
    ner_backend: str | None = None
    disabled: tuple[str, ...] = ()
    context_window: int = 48
    max_plain_len: int = 96

    def __post_init__(self) -> None:
        for name in self.dictionaries:
            check_data_class(name)
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("min_confidence must be in [0, 1]")
        if self.context_window < 0:
            raise ValueError("context_window must not be negative")
        if self.max_plain_len <= 0:
            raise ValueError("max_plain_len must be positive")
        for region in self.phone_regions:
            if len(region) != 2 or not region.isalpha() or not region.isupper():
                raise ValueError(f"phone region {region!r} must be a two-letter upper-case region code")
