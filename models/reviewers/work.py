"""Work for a person: open items ranked by how much they resemble what that person did.

Pure functions over plain records. ``contributor_profile`` gathers a person's past changes
(authored and reviewed); ``rank_work`` scores open items against them: the similarity to the
single most similar past change (encoder cosine when vectors exist, TF-IDF otherwise) plus a
bonus for paths the item mentions that the person worked on. Each match cites the past
change it resembles. Items assigned to someone else are never offered, and items less
similar than ``min_similarity`` are dropped; ``calibrate_min_similarity`` derives that floor
from the repository's own history so that an unrelated list is never shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.reviewers.data import Change
from models.reviewers.paths import parent_dir

#: Weight of path overlap (share of the item's mentioned paths the person touched, 0..1)
#: added to the text similarity (cosine, 0..1).
PATH_WEIGHT = 0.2
#: A reviewed change counts this much of an authored one: reviewing shows less ownership.
REVIEWED_WEIGHT = 0.5
#: Random pairs drawn at most by ``calibrate_min_similarity``.
CALIBRATION_PAIRS = 20_000


@dataclass(frozen=True)
class WorkItem:
    """An open issue (or other task) someone could pick up."""

    number: int
    title: str
    body: str = ""
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # paths the item mentions
    vector: np.ndarray | None = field(default=None, compare=False, hash=False)

    @property
    def text(self) -> str:
        """Title and body as one text."""
        return f"{self.title}\n{self.body}".strip()


@dataclass(frozen=True)
class PastWork:
    """One past change of a contributor, as the profile keeps it."""

    change_id: str
    title: str
    text: str
    files: tuple[str, ...]
    authored: bool


@dataclass(frozen=True)
class Profile:
    """What a contributor worked on: past changes, touched paths, optional unit vectors."""

    login: str
    work: tuple[PastWork, ...] = ()
    files: Mapping[str, int] = field(default_factory=dict)
    dirs: Mapping[str, int] = field(default_factory=dict)
    vectors: np.ndarray | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class WorkMatch:
    """An item offered to a person: its score and a short human reason."""

    item: WorkItem
    score: float
    reason: str


def _same(a: str, b: str) -> bool:
    return a.strip().lstrip("@").lower() == b.strip().lstrip("@").lower()


def contributor_profile(
    changes: Sequence[Change], login: str, vectors: Mapping[str, np.ndarray] | None = None
) -> Profile:
    """The profile of ``login`` from the changes they authored or reviewed.

    ``vectors`` (keyed by change id) are used only when every such change has one; otherwise
    the profile has none and ``rank_work`` falls back to TF-IDF.
    """
    mine = [
        (c, _same(c.author, login))
        for c in changes
        if _same(c.author, login) or any(_same(r, login) for r in c.reviewers)
    ]
    files = Counter(f for c, _ in mine for f in c.files)
    dirs = Counter(parent_dir(f) for c, _ in mine for f in c.files)
    work = tuple(PastWork(c.id, c.title, c.text, c.files, authored) for c, authored in mine)
    matrix = None
    if vectors is not None and mine and all(c.id in vectors for c, _ in mine):
        matrix = _unit_rows(
            np.stack([np.asarray(vectors[c.id], dtype=np.float64) for c, _ in mine])
        )
    return Profile(login, work, dict(files), dict(dirs), matrix)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    unit: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit


def is_available(item: WorkItem, login: str) -> bool:
    """False when the item is assigned to someone other than ``login``."""
    return not item.assignees or any(_same(a, login) for a in item.assignees)


def rank_work(
    profile: Profile, items: Sequence[WorkItem], k: int = 3, *, min_similarity: float = 0.0
) -> list[WorkMatch]:
    """The ``k`` items that best fit ``profile``, best first, each with a reason.

    Encoder similarity is used when the profile and every item carry vectors, TF-IDF
    otherwise. Items whose text similarity is below ``min_similarity`` are dropped, as are
    items assigned to someone else.
    """
    pool = [item for item in items if is_available(item, profile.login)]
    if not pool or not profile.work:
        return []
    texts = [w.text for w in profile.work]
    lexical = tfidf_cosines([i.text for i in pool], ["\n".join(texts), *texts])
    weights = np.where([w.authored for w in profile.work], 1.0, REVIEWED_WEIGHT)
    encoder = encoder_cosines(profile, pool)
    # With vectors, the nearest past change by meaning plus the TF-IDF fit to the whole
    # profile (each alone ranked worse); without, TF-IDF for both parts.
    nearest_sims = (encoder if encoder is not None else lexical[:, 1:]) * weights[None, :]
    nearest = nearest_sims.argmax(axis=1)
    similarity = nearest_sims.max(axis=1)
    text = similarity + lexical[:, 0] if encoder is not None else lexical[:, 0]
    if encoder is None:
        similarity = lexical[:, 0]
    overlap = np.array([path_overlap(profile, item.paths) for item in pool])
    scores = text + PATH_WEIGHT * overlap
    keep = np.flatnonzero(similarity >= min_similarity)
    order = keep[np.argsort(-scores[keep], kind="stable")][:k]
    return [
        WorkMatch(pool[i], float(scores[i]), _reason(profile, pool[i], int(nearest[i])))
        for i in order
    ]


def encoder_cosines(profile: Profile, items: Sequence[WorkItem]) -> np.ndarray | None:
    """Encoder cosine of each item to each past change, or ``None`` without vectors."""
    if profile.vectors is None or any(item.vector is None for item in items):
        return None
    rows = _unit_rows(np.stack([np.asarray(i.vector, dtype=np.float64) for i in items]))
    cosines: np.ndarray = rows @ profile.vectors.T
    return cosines


def tfidf_cosines(queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
    """TF-IDF cosine of each query to each document, fitted on both sets together."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from models.reviewers.text import tokenize

    vectorizer = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    try:
        matrix = vectorizer.fit_transform([*queries, *documents])
    except ValueError:  # no usable word at all
        return np.zeros((len(queries), len(documents)))
    cosines: np.ndarray = (matrix[: len(queries)] @ matrix[len(queries) :].T).toarray()
    return cosines


def path_overlap(profile: Profile, paths: Sequence[str]) -> float:
    """Share of ``paths`` whose file, or failing that directory, the person worked on."""
    if not paths:
        return 0.0
    hits = [
        1.0 if p in profile.files else 0.5 if parent_dir(p) in profile.dirs else 0.0 for p in paths
    ]
    return sum(hits) / len(hits)


def short_id(change_id: str) -> str:
    """``#1234`` for a pull request number, the first 7 characters of a commit id."""
    return f"#{change_id}" if change_id.isdigit() else change_id[:7]


def _reason(profile: Profile, item: WorkItem, nearest: int) -> str:
    touched = [p for p in item.paths if p in profile.files]
    if touched:
        count = profile.files[touched[0]]
        return f"mentions `{touched[0]}`, which you worked on {_times(count)}"
    past = profile.work[nearest]
    title = past.title or "untitled"
    if past.authored:
        return f"like your change “{title}” ({short_id(past.change_id)})"
    return f"like “{title}” ({short_id(past.change_id)}), which you reviewed"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _random_pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``CALIBRATION_PAIRS`` random index pairs ``(i, j)`` with ``i != j``."""
    rng = np.random.default_rng(seed)
    size = min(CALIBRATION_PAIRS, n * (n - 1))
    first = rng.integers(0, n, size)
    second = (first + rng.integers(1, n, size)) % n  # never equal to ``first``
    return first, second


def calibrate_min_similarity(vectors: np.ndarray, quantile: float = 0.95, seed: int = 0) -> float:
    """The ``quantile`` of encoder cosines between random pairs of a repository's items.

    Random pairs are mostly unrelated, so an item must resemble a person's work more than
    95% (by default) of random pairs resemble each other before it is offered. Returns 0.0
    with fewer than two vectors. Without vectors use ``calibrate_min_similarity_text``.
    """
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2 or len(matrix) < 2:
        return 0.0
    unit = _unit_rows(matrix)
    first, second = _random_pairs(len(unit), seed)
    cosines = np.einsum("ij,ij->i", unit[first], unit[second])
    return float(np.quantile(cosines, quantile))


def calibrate_min_similarity_text(
    texts: Sequence[str], quantile: float = 0.95, seed: int = 0
) -> float:
    """The TF-IDF counterpart of ``calibrate_min_similarity`` (the fallback without vectors)."""
    if len(texts) < 2:
        return 0.0
    from sklearn.feature_extraction.text import TfidfVectorizer

    from models.reviewers.text import tokenize

    vectorizer = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    try:
        matrix = vectorizer.fit_transform(list(texts))
    except ValueError:
        return 0.0
    first, second = _random_pairs(len(texts), seed)
    cosines = np.asarray(matrix[first].multiply(matrix[second]).sum(axis=1)).ravel()
    return float(np.quantile(cosines, quantile))
