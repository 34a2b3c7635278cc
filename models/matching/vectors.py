"""The per-repository semantic index: one unit vector per item, searched by cosine.

Keys name items the way the bot does (``issue:12``, ``pull:34``, ``discussion:5``); the
part before the first colon is the item's *kind*, which ``search(prefix=...)`` filters on
without scanning keys. ``model`` records the encoder version that made the vectors: a
vector from one encoder means nothing to another, so an index is rebuilt, never mixed,
when the encoder changes.

This is the embedded default: exact brute-force search in numpy, in-process, no server,
no extra dependency. Measured with ``benchmarks/bench_semantic_index.py`` (numbers in
``docs/semantic-index.md``): the ANN libraries tried (usearch, hnswlib, faiss HNSW)
answer in well under a millisecond but cost 20 to 55 seconds of build time per 100,000
items (paid again at every rebuild), as much memory or more (their graphs), recall@10
of 0.92 to 0.99, and a compiled dependency; exact search has recall 1.0, no build, and
is fast at the sizes one repository reaches (24 ms p50 at 100,000 items on the 2 shared
cores of the development machine under a load average of about 6; 16 ms at a quieter
moment).

Storage dtype: **float32**, measured against float16 at 100,000 real vectors of width
384. float16 halves memory (76.8 MB instead of 153.6 MB per 100,000 items) but did not
make queries faster: numpy has no float16 kernel (a float16 product was about ten times
slower), and the best float16 path (a torch half-precision pass plus an exact float32
rescoring of a shortlist) measured 28 ms p50 against 24 ms for float32, with top-10
agreement 0.997 instead of 1.0. float32 is also what the database rows hold, so
rebuilding from them converts nothing. Vectors are normalised on the way in, so a dot
product is the cosine.

Growth is geometric (capacity doubles), so ``upsert`` is amortised O(1) per key; removal
moves the last row into the freed slot, so it is O(1) per key too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from models.encoder import TextEncoder

#: Storage dtype of the vectors (see the module docstring for the measurement).
STORAGE_DTYPE = np.float32
#: Rows allocated by the first insert; later growth doubles the capacity.
MIN_CAPACITY = 16
#: Version of the ``.npz`` layout written by ``save``.
FILE_FORMAT = 1
#: Arrays a saved index must hold.
_FILE_ARRAYS = ("format", "model", "dim", "keys", "vectors")


class IndexFileError(ValueError):
    """A saved index that cannot be read safely: corrupt, foreign, or holding pickles."""


def kind_of(key: str) -> str:
    """The kind of a key, colon included: ``issue:`` for ``issue:12``; ``""`` if none."""
    head, colon, _ = key.partition(":")
    return head + colon if colon else ""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` scaled to unit length, as float32; zero rows stay zero."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    # A zero vector (an empty text, a test double) has no direction: keep it at zero
    # rather than dividing by zero, so it scores 0 against everything.
    safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
    return matrix / safe


class VectorIndex:
    """Unit vectors by string key, with exact cosine search and kind filters."""

    def __init__(self, dim: int, *, model: str = "") -> None:
        """An empty index of ``dim``-wide vectors made by encoder ``model``."""
        if dim <= 0:
            raise ValueError(f"dim must be positive, not {dim}")
        self.dim = int(dim)
        self.model = model
        self._matrix = np.zeros((0, self.dim), dtype=STORAGE_DTYPE)
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        # Kind code per row, so a kind filter is one vectorised comparison.
        self._kind_codes = np.zeros(0, dtype=np.int32)
        self._kinds: dict[str, int] = {}

    # -- contents -------------------------------------------------------------------

    def __len__(self) -> int:
        """How many items the index holds."""
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a vector."""
        return key in self._rows

    def keys(self) -> list[str]:
        """The keys, in storage order (which changes when items are removed)."""
        return list(self._keys)

    def vector(self, key: str) -> np.ndarray | None:
        """A copy of the unit vector stored for ``key``, as float32; None if absent."""
        row = self._rows.get(key)
        if row is None:
            return None
        return np.array(self._matrix[row], dtype=np.float32)

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the vectors (capacity included, keys not)."""
        return int(self._matrix.nbytes)

    # -- changes --------------------------------------------------------------------

    def upsert(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` (normalised) under ``keys[i]``, replacing existing keys.

        A key given twice keeps its last vector.
        """
        matrix = self._checked_rows(vectors)
        if len(keys) != matrix.shape[0]:
            raise ValueError(f"{len(keys)} keys for {matrix.shape[0]} vectors")
        last = {key: i for i, key in enumerate(keys)}  # the last occurrence wins
        fresh = [key for key in last if key not in self._rows]
        self._reserve(len(self._keys) + len(fresh))
        for key in fresh:
            self._append_key(key)
        rows = np.fromiter((self._rows[key] for key in last), dtype=np.intp, count=len(last))
        picked = np.fromiter(last.values(), dtype=np.intp, count=len(last))
        self._matrix[rows] = normalise(matrix[picked])

    def remove(self, keys: Iterable[str]) -> None:
        """Forget ``keys``; unknown keys are ignored."""
        for key in keys:
            row = self._rows.pop(key, None)
            if row is not None:
                self._fill_hole(row)

    # -- queries --------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int = 10,
        *,
        among: Iterable[str] | None = None,
        prefix: str | None = None,
        exclude: Iterable[str] = (),
    ) -> list[tuple[str, float]]:
        """The ``k`` keys most similar to ``query`` (cosine), best first.

        ``among`` restricts the search to those keys, ``prefix`` to keys that start with
        it (``"issue:"``: issues only), ``exclude`` drops keys (the item itself).
        """
        if k <= 0 or not self._keys:
            return []
        unit = self._checked_query(query)
        mask = self._candidate_mask(among, prefix, exclude)
        rows = None if mask is None else np.flatnonzero(mask)
        scores = self._scores(unit, rows)
        best = _top_k(scores, k)
        chosen = best if rows is None else rows[best]
        return [(self._keys[r], float(scores[i])) for r, i in zip(chosen, best, strict=True)]

    def similarities(self, query: np.ndarray, keys: Sequence[str]) -> np.ndarray:
        """Cosine of ``query`` with each of ``keys``, in their order; NaN for unknown keys."""
        unit = self._checked_query(query)
        out = np.full(len(keys), np.nan, dtype=np.float32)
        positions = [i for i, key in enumerate(keys) if key in self._rows]
        if positions:
            rows = np.array([self._rows[keys[i]] for i in positions], dtype=np.intp)
            out[positions] = self._scores(unit, rows)
        return out

    # -- persistence ----------------------------------------------------------------

    def to_arrays(self) -> tuple[list[str], np.ndarray]:
        """The keys and a float32 copy of their unit vectors, row for row (for a database)."""
        return self.keys(), self._matrix[: len(self._keys)].astype(np.float32, copy=True)

    @classmethod
    def from_arrays(cls, keys: Sequence[str], matrix: np.ndarray, *, model: str) -> VectorIndex:
        """An index holding ``matrix[i]`` under ``keys[i]`` (rows are normalised)."""
        array = np.asarray(matrix)
        if array.ndim != 2:
            raise ValueError(f"expected a 2-d matrix, got shape {array.shape}")
        index = cls(int(array.shape[1]), model=model)
        index.upsert(keys, array)
        return index

    def save(self, path: str | Path) -> None:
        """Write the index to ``path`` as ``.npz`` (no pickles), atomically."""
        target = Path(path)
        keys, matrix = self.to_arrays()
        arrays = {
            "format": np.array(FILE_FORMAT, dtype=np.int64),
            "model": np.array(self.model, dtype=np.str_),
            "dim": np.array(self.dim, dtype=np.int64),
            "keys": np.array(keys, dtype=np.str_).reshape(len(keys)),
            "vectors": matrix,
        }
        _write_atomically(target, arrays)

    @classmethod
    def load(cls, path: str | Path) -> VectorIndex:
        """Read an index written by ``save``; ``IndexFileError`` if it is not one."""
        arrays = _read_npz(Path(path))
        return cls._from_file_arrays(arrays, str(path))

    # -- internals ------------------------------------------------------------------

    def _checked_rows(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` as a finite ``(n, dim)`` float32 matrix, or ValueError."""
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1 and matrix.size == 0:
            matrix = matrix.reshape(0, self.dim)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {matrix.shape}")
        if not np.isfinite(matrix).all():
            raise ValueError("vectors must be finite (no NaN or infinity)")
        return matrix

    def _checked_query(self, query: np.ndarray) -> np.ndarray:
        """``query`` as one finite unit vector of width ``dim``, or ValueError."""
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dim:
            raise ValueError(f"expected a query of width {self.dim}, got {vector.shape[0]}")
        if not np.isfinite(vector).all():
            raise ValueError("query must be finite (no NaN or infinity)")
        return normalise(vector)

    def _reserve(self, size: int) -> None:
        """Make room for ``size`` rows, doubling the capacity so appends stay amortised O(1)."""
        capacity = self._matrix.shape[0]
        if size <= capacity:
            return
        grown = max(size, 2 * capacity, MIN_CAPACITY)
        matrix = np.zeros((grown, self.dim), dtype=STORAGE_DTYPE)
        matrix[:capacity] = self._matrix
        codes = np.zeros(grown, dtype=np.int32)
        codes[:capacity] = self._kind_codes
        self._matrix, self._kind_codes = matrix, codes

    def _append_key(self, key: str) -> None:
        """Give ``key`` the next free row (capacity already reserved)."""
        row = len(self._keys)
        self._keys.append(key)
        self._rows[key] = row
        self._kind_codes[row] = self._kinds.setdefault(kind_of(key), len(self._kinds))

    def _fill_hole(self, row: int) -> None:
        """Move the last row into ``row`` (freed by a removal) and shrink by one."""
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._keys[row] = moved
            self._rows[moved] = row
            self._matrix[row] = self._matrix[last]
            self._kind_codes[row] = self._kind_codes[last]
        self._keys.pop()
        self._matrix[last] = 0  # so a stale vector can never leak into a later slot

    def _candidate_mask(
        self, among: Iterable[str] | None, prefix: str | None, exclude: Iterable[str]
    ) -> np.ndarray | None:
        """Rows to search (None: all of them), after ``among``, ``prefix`` and ``exclude``."""
        size = len(self._keys)
        mask: np.ndarray | None = None
        if among is not None:
            mask = np.zeros(size, dtype=bool)
            mask[[self._rows[key] for key in among if key in self._rows]] = True
        if prefix:
            by_prefix = self._prefix_mask(prefix)
            mask = by_prefix if mask is None else mask & by_prefix
        dropped = [self._rows[key] for key in exclude if key in self._rows]
        if dropped:
            mask = np.ones(size, dtype=bool) if mask is None else mask
            mask[dropped] = False
        return mask

    def _prefix_mask(self, prefix: str) -> np.ndarray:
        """Rows whose key starts with ``prefix``: by kind code when the prefix names kinds."""
        size = len(self._keys)
        if ":" not in prefix[:-1]:
            # "issue:" or "iss" can only match whole kinds: compare codes, scan no keys.
            codes = [code for kind, code in self._kinds.items() if kind.startswith(prefix)]
            return np.isin(self._kind_codes[:size], codes)
        return np.fromiter((key.startswith(prefix) for key in self._keys), dtype=bool, count=size)

    def _scores(self, unit: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """Dot products of ``unit`` with every row (``rows`` None) or with ``rows`` only."""
        # A slice is a view: the full scan reads the matrix once and copies nothing.
        matrix = self._matrix[: len(self._keys)] if rows is None else self._matrix[rows]
        return np.asarray(matrix @ unit, dtype=np.float32)

    @classmethod
    def _from_file_arrays(cls, arrays: dict[str, np.ndarray], source: str) -> VectorIndex:
        """Check what ``load`` read and build the index, or ``IndexFileError``."""
        missing = [name for name in _FILE_ARRAYS if name not in arrays]
        if missing:
            raise IndexFileError(f"{source}: not a vector index (missing {', '.join(missing)})")
        if int(arrays["format"]) != FILE_FORMAT:
            raise IndexFileError(f"{source}: unknown index format {int(arrays['format'])}")
        keys, vectors = arrays["keys"], arrays["vectors"]
        dim = int(arrays["dim"])
        if keys.dtype.kind != "U" or vectors.dtype.kind != "f":
            raise IndexFileError(f"{source}: keys must be text and vectors floats")
        if vectors.ndim != 2 or vectors.shape != (keys.shape[0], dim):
            raise IndexFileError(f"{source}: {keys.shape[0]} keys but vectors {vectors.shape}")
        try:
            return cls.from_arrays([str(key) for key in keys], vectors, model=str(arrays["model"]))
        except ValueError as error:  # e.g. NaN rows written by something else
            raise IndexFileError(f"{source}: {error}") from error


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The index arrays stored in ``path``, refusing pickles; ``IndexFileError`` if unreadable."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            raise IndexFileError(f"{path}: not a vector index (a single array, not an .npz)")
        with loaded:
            return {name: loaded[name] for name in _FILE_ARRAYS if name in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, IndexFileError):
            raise
        # ValueError: pickled content refused; the others: missing, truncated, not a zip.
        raise IndexFileError(f"{path}: not a readable vector index ({error})") from error


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first (ties: lower position first)."""
    if k >= scores.shape[0]:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.lexsort((part, -scores[part]))]


def _write_atomically(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as ``.npz`` to a temporary file beside ``target``, then rename it.

    A reader sees the old file or the new one, never half of one, even if the writer dies.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def embed_in_batches(
    encoder: TextEncoder, texts: Sequence[str], batch_size: int = 64, progress: bool = False
) -> np.ndarray:
    """Embeddings of ``texts`` (float32, input order), ``batch_size`` at a time.

    Texts are grouped by length first, so each batch pads little; ``progress`` shows a
    bar on stderr.
    """
    from tqdm import tqdm

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    if not texts:
        return np.asarray(encoder.encode([], batch_size=batch_size), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts: list[np.ndarray] = []
    with tqdm(
        total=len(texts), file=sys.stderr, disable=not progress, desc="embed", unit="item"
    ) as bar:
        for start in range(0, len(order), batch_size):
            chunk = [texts[i] for i in order[start : start + batch_size]]
            parts.append(np.asarray(encoder.encode(chunk, batch_size=batch_size), np.float32))
            bar.update(len(chunk))
    out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(parts)
    return out
