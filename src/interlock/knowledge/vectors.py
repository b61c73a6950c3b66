"""The vector leg's matrix: every chunk's unit vector in memory, searched exactly over the rows of the
documents a query's access predicate selected. Shared by both index backends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from interlock.knowledge.embedding import DIMENSIONS


class _Loaded(NamedTuple):
    generation: int
    ids: npt.NDArray[np.int64]  # row for row: the chunk ids ...
    docs: npt.NDArray[np.int64]  # ... their documents' ids ...
    matrix: npt.NDArray[np.float32]  # ... and their vectors


class VectorMatrix:
    def __init__(self) -> None:
        # Replaced whole, in one assignment: a search on another thread uses one consistent snapshot.
        self._loaded = _Loaded(-1, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, DIMENSIONS), np.float32))

    @property
    def generation(self) -> int:
        """The chunk generation the matrix was loaded at (-1: never)."""
        return self._loaded.generation

    def load(self, generation: int, rows: list[tuple[int, int, bytes]]) -> None:
        """Replace the matrix with (chunk id, document id, vector bytes) rows."""
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        docs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        flat = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.float32)
        self._loaded = _Loaded(generation, ids, docs, flat.reshape(len(rows), DIMENSIONS))

    def search(self, query: npt.NDArray[np.float32], allowed_docs: Iterable[int], limit: int) -> list[int]:
        """Chunk ids of the ``allowed_docs`` best first by cosine (the vectors are unit length)."""
        loaded = self._loaded
        allowed = np.fromiter(allowed_docs, dtype=np.int64)
        rows = np.flatnonzero(np.isin(loaded.docs, allowed))
        if rows.size == 0 or limit <= 0:
            return []
        scores = loaded.matrix[rows] @ query
        k = min(limit, rows.size)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [int(loaded.ids[rows[i]]) for i in best]
