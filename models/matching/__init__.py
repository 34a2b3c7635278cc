"""Semantic matching of people and work: the text rule and the per-repository vector index.

A pure library (no GitHub, no ``app``/``workers`` imports, nothing runs at import time).
"""

from models.matching.texts import embedding_text
from models.matching.vectors import VectorIndex, embed_in_batches

__all__ = ["VectorIndex", "embed_in_batches", "embedding_text"]
