"""Possible duplicates: a new issue's likeliest earlier duplicates, by encoder and words.

A pure library (no GitHub, no ``app``/``workers`` imports, nothing runs at import time).
``index.DuplicateIndex`` holds a repository's issues (keys, titles, bodies, encoder
vectors, creation times) and answers ``query(title, body, vector, at=..., k=...)`` with
``Candidate`` rows (fused score, channel scores, a reason); ``fusion`` says how the
encoder's cosine, BM25 (``lexical``) and recency are combined; ``replay`` is the
chronological evaluation used by ``steward eval-duplicates`` (``cli``), reading trackers
through ``data``. Submodules are imported directly: this package imports nothing, so
``steward --help`` does not load scipy for it.
"""
