"""Optional named-entity backends. The protocol is tiny so any model can sit behind it.

spaCy is an optional extra (``pip install interlock[ner]`` plus a pipeline package such as
``en_core_web_sm``); it is imported only when a deployment asks for it, and a missing install is a
startup error, never a silent fallback.
"""

from __future__ import annotations

from typing import Any, Protocol

from interlock.detect.finding import Finding

# spaCy labels (OntoNotes scheme) to our classes. Labels not listed are ignored.
SPACY_LABELS: dict[str, str] = {"PERSON": "pii.name", "GPE": "pii.address", "FAC": "pii.address",
                                "LOC": "pii.address"}
DEFAULT_SPACY_MODEL = "en_core_web_sm"


class NerBackend(Protocol):
    """Finds entities in text. Implementations are built once and must be safe to call concurrently."""

    name: str

    def entities(self, text: str) -> list[Finding]: ...


class SpacyNer:
    """Runs only the NER component of a spaCy pipeline; person names are the main gain over patterns."""

    def __init__(self, model: str = DEFAULT_SPACY_MODEL, labels: dict[str, str] | None = None,
                 confidence: float = 0.7, max_chunk: int = 100_000) -> None:
        try:
            import spacy
        except ImportError as exc:
            raise RuntimeError("the spaCy NER backend needs spaCy: pip install 'interlock[ner]' and a "
                               f"pipeline package providing {model!r}") from exc
        try:
            self._nlp: Any = spacy.load(model, disable=["parser", "lemmatizer", "textcat"])
        except OSError as exc:
            raise RuntimeError(f"spaCy pipeline {model!r} is not installed: install its package") from exc
        self.name = f"spacy:{model}"
        self._labels = labels if labels is not None else SPACY_LABELS
        self._confidence = confidence
        self._max_chunk = max_chunk

    def entities(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        # spaCy's memory grows with the document, so long texts go through in slices cut at newlines.
        offset = 0
        while offset < len(text):
            stop = min(len(text), offset + self._max_chunk)
            if stop < len(text):
                cut = text.rfind("\n", offset, stop)
                stop = cut + 1 if cut > offset else stop
            doc = self._nlp(text[offset:stop])
            for ent in doc.ents:
                data_class = self._labels.get(ent.label_)
                if data_class is not None:
                    found.append(Finding(data_class, offset + ent.start_char, offset + ent.end_char,
                                         self._confidence, self.name, f"NER label {ent.label_}"))
            offset = stop
        return found


def build_ner(spec: str | None) -> NerBackend | None:
    """``None`` -> no NER; ``"spacy"`` or ``"spacy:<model>"`` -> :class:`SpacyNer`."""
    if spec is None:
        return None
    kind, _, model = spec.partition(":")
    if kind == "spacy":
        return SpacyNer(model or DEFAULT_SPACY_MODEL)
    raise ValueError(f"unknown NER backend {spec!r}: use 'spacy' or 'spacy:<model>'")
