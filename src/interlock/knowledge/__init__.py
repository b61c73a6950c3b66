"""Governed retrieval: sources, documents with access rules, chunking, the hybrid index, and the
retriever that uses only passages the caller may read (filtered in every leg's query, checked again by
Cedar for each passage)."""

from interlock.knowledge.access import AccessRule
from interlock.knowledge.documents import SourceDocument
from interlock.knowledge.service import Knowledge, Passage, Retrieval

__all__ = ["AccessRule", "Knowledge", "Passage", "Retrieval", "SourceDocument"]
