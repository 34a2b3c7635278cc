"""The semantic index (``item_vectors``): one embedding per item and encoder.

``model`` names the encoder; ``digest`` is the hash of the text the vector was made
from, so an edited item is embedded again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from core.stores.base import StoreBase, metadata, now_utc

item_vectors = Table(
    "item_vectors",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("model", String(255), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("digest", String(40), nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in slices short enough for any database's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class VectorStore(StoreBase):
    """Stored embeddings (float32 bytes) by repository, encoder and item key."""

    def upsert_vectors(self, repo: str, model: str, rows: Iterable[tuple[str, str, bytes]]) -> None:
        """Store embeddings ``(key, text digest, float32 bytes)`` made by encoder ``model``."""
        stamp = now_utc()
        with self._tx() as conn:
            for key, digest, vector in rows:
                where = (
                    (item_vectors.c.repo == repo)
                    & (item_vectors.c.model == model)
                    & (item_vectors.c.key == key)
                )
                values = {"digest": digest, "vector": vector, "updated_at": stamp}
                if conn.execute(update(item_vectors).where(where).values(**values)).rowcount:
                    continue
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(item_vectors).values(repo=repo, model=model, key=key, **values)
                        )
                except IntegrityError:  # another worker stored it first: keep theirs
                    continue

    def vectors_for(
        self, repo: str, model: str, keys: Iterable[str] | None = None
    ) -> dict[str, tuple[str, bytes]]:
        """``key → (digest, float32 bytes)`` of a repository's stored embeddings.

        ``keys`` limits the answer to those items (None: every item of ``model``).
        """
        query = select(item_vectors.c.key, item_vectors.c.digest, item_vectors.c.vector).where(
            (item_vectors.c.repo == repo) & (item_vectors.c.model == model)
        )
        wanted = None if keys is None else list(dict.fromkeys(keys))
        out: dict[str, tuple[str, bytes]] = {}
        with self._tx() as conn:
            for chunk in _chunks(wanted) if wanted is not None else [None]:
                scoped = query if chunk is None else query.where(item_vectors.c.key.in_(chunk))
                for key, digest, vector in conn.execute(scoped):
                    out[str(key)] = (str(digest), bytes(vector))
        return out

    def vector_count(self, repo: str, model: str) -> int:
        """How many items of ``repo`` encoder ``model`` embedded (no rows loaded)."""
        where = (item_vectors.c.repo == repo) & (item_vectors.c.model == model)
        with self._tx() as conn:
            query = select(func.count()).select_from(item_vectors).where(where)
            return int(conn.execute(query).scalar_one())

    def sample_vectors(self, repo: str, model: str, *, limit: int) -> list[bytes]:
        """Up to ``limit`` stored embeddings of ``repo`` by ``model`` (float32 bytes), the
        same rows on every call while nothing changes (ordered by key)."""
        where = (item_vectors.c.repo == repo) & (item_vectors.c.model == model)
        query = select(item_vectors.c.vector).where(where).order_by(item_vectors.c.key)
        with self._tx() as conn:
            return [bytes(row[0]) for row in conn.execute(query.limit(limit))]

    def prune_vectors(self, repo: str, *, keep_model: str) -> int:
        """Drop a repository's embeddings made by other encoders; how many were dropped."""
        with self._tx() as conn:
            result = conn.execute(
                delete(item_vectors).where(
                    (item_vectors.c.repo == repo) & (item_vectors.c.model != keep_model)
                )
            )
            return int(result.rowcount or 0)
