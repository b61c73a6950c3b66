"""The vector leg's embedding model: WordLlama, whose wheel carries its weights and tokenizer.

It is loaded from the installed package's own directory with downloads disabled, so the gateway never
reaches the network for it; a missing file is a start-up error, never a download. Vectors are
L2-normalised, so cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is loaded with the model, not by every process that imports the package
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

MODEL_NAME = "wordllama l2_supercat 256"
DIMENSIONS = 256


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded; retrieval fails closed."""


class Embedder:
    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import wordllama
                    from wordllama import WordLlama

                    self._model = WordLlama.load(config="l2_supercat", dim=DIMENSIONS,
                                                 cache_dir=Path(wordllama.__file__).parent, disable_download=True)
                except Exception as exc:
                    raise EmbeddingError(f"the embedding model ({MODEL_NAME}) cannot be loaded from the installed "
                                         f"wordllama package: {type(exc).__name__}: {exc}") from exc
            return self._model

    def warm(self) -> None:
        """Load the model now (at start-up), so the first call does not wait for it and a missing file
        stops the start instead of a call."""
        self._load()

    def embed(self, texts: list[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = np.asarray(self._load().embed(texts, norm=True), dtype=np.float32)
        return vectors
