"""The vector leg's matrix: every chunk's unit vector in memory, searched exactly over the rows of the
documents a query's access predicate selected. Shared by both index backends."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from interlock.knowledge.embedding import DIMENSIONS


class VectorMatrix:
    def __init__(self) -> None:
        # The chunk generation the matrix was loaded at (-1: never), then row for row: chunk ids, their
        # documents' ids, their vectors.
        self.generation = -1
        self._ids = np.zeros(0, dtype=np.int64)
        self._docs = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)

    def load(self, generation: int, rows: list[tuple[int, int, bytes]]) -> None:
        """Replace the matrix with (chunk id, document id, vector bytes) rows."""
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        docs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.float32)
        # One assignment each, in this order, for readers on other threads holding the old arrays.
        self._ids, self._docs = ids, docs
        self._matrix = matrix.reshape(len(rows), DIMENSIONS) if rows else np.zeros((0, DIMENSIONS), np.float32)
        self.generation = generation

    def search(self, query: np.ndarray, allowed_docs: Iterable[int], limit: int) -> list[int]:
        """Chunk ids of the ``allowed_docs`` best first by cosine (the vectors are unit length)."""
        ids, docs, matrix = self._ids, self._docs, self._matrix
        allowed = np.fromiter(allowed_docs, dtype=np.int64)
        rows = np.flatnonzero(np.isin(docs, allowed))
        if rows.size == 0 or limit <= 0:
            return []
        scores = matrix[rows] @ query
        k = min(limit, rows.size)
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [int(ids[rows[i]]) for i in best]
