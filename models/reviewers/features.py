"""Per-person reviewer signals for one new change, computed from the past only.

``build_query`` gathers what a new change shares with each past change (path similarity,
exact file and directory overlap, text similarity). ``person_signals`` turns those into one
row of raw signals per person via the authorship and review edges of ``History``, and
``candidate_features`` normalises them for the learned ranker. Several time scales are kept
side by side so that the ranker, not a hand-set constant, decides how much recency matters.

When the history carries a semantic (encoder) index, ``SEMANTIC_SIGNALS`` are appended after
``SIGNALS`` and ``SEMANTIC_FEATURES`` after ``FEATURES``; without one, every array is exactly
what it was before the encoder signals existed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.reviewers.codeowners import OwnerRule, normalize_owner, ownership_share
from models.reviewers.data import Change
from models.reviewers.history import SECONDS_PER_DAY, History, encoder_text

#: Raw per-person signals, in column order.
SIGNALS: tuple[str, ...] = (
    "path_rev_all",  # RevFinder score: summed path similarity of changes they reviewed
    "path_rev_recent",  # the same with recency decay
    "path_auth_recent",  # path similarity of changes they authored, decayed
    "file_rev",  # reviewed changes touching one of these exact files, decayed
    "dir_rev",  # reviewed changes touching one of these directories, decayed
    "file_auth",
    "dir_auth",
    "text_rev",  # text similarity of changes they reviewed, decayed
    "text_rev_max",  # the single most similar change they reviewed
    "text_auth",
    "reviews_short",  # review activity, short half-life
    "reviews_long",  # review activity, long half-life
    "authored_short",
    "days_since_review",
    "affinity",  # share of this author's past changes they reviewed (decayed)
    "reciprocity",  # their changes reviewed by this author (decayed)
    "owner",  # CODEOWNERS share of the change's files
    # Sharpened and nearest-neighbour views of the same evidence. A sum of similarities
    # mostly counts activity; raising similarity to ``SHARP_POWER`` (or taking the best
    # match) lets the few closest past changes speak, which a linear ranker over logs and
    # ratios cannot build from the sums by itself.
    "path_rev_sharp",  # path similarity ** SHARP_POWER of changes they reviewed, short decay
    "text_auth_max",  # the single most similar change they authored
    "text_auth_sharp",  # text similarity ** SHARP_POWER of changes they authored, short decay
    "text_auth_short",  # text similarity of changes they authored, short decay
)
#: Signals also given relative to the best candidate for this change (scale-free across repos).
RELATIVE: tuple[str, ...] = (
    "path_rev_all",
    "path_rev_recent",
    "path_auth_recent",
    "file_rev",
    "dir_rev",
    "text_rev",
    "text_rev_max",
    "affinity",
    "reviews_short",
    "path_rev_sharp",
    "text_auth_max",
    "text_auth_sharp",
    "text_auth_short",
)
FEATURES: tuple[str, ...] = (
    *(f"log_{s}" for s in SIGNALS),
    *(f"rel_{s}" for s in RELATIVE),
    "rank_path_rev_recent",
)
#: Encoder-similarity signals, present only when the history has a semantic index.
SEMANTIC_SIGNALS: tuple[str, ...] = (
    "sem_rev",  # encoder similarity of changes they reviewed, decayed
    "sem_rev_max",  # the single most similar change they reviewed
    "sem_auth",  # ... of changes they authored, decayed
    "sem_auth_max",
)
SEMANTIC_RELATIVE: tuple[str, ...] = SEMANTIC_SIGNALS
SEMANTIC_FEATURES: tuple[str, ...] = (
    *(f"log_{s}" for s in SEMANTIC_SIGNALS),
    *(f"rel_{s}" for s in SEMANTIC_RELATIVE),
)
#: Encoder cosines below this quantile of the query's similarities to the whole history
#: count as zero: every pair of texts from one repository is somewhat similar (MiniLM gives
#: unrelated changes 0.2-0.4), and summing that floor would only count activity.
SEMANTIC_BASELINE_QUANTILE = 0.5
#: Exponent of the sharpened similarity signals: 0.5 ** 4 weighs a half-similar change at a
#: sixteenth of an identical one, so the closest past changes dominate the sum.
SHARP_POWER = 4.0


def feature_names(width: int) -> tuple[str, ...]:
    """Names of the model inputs for a feature matrix ``width`` columns wide."""
    return FEATURES if width == len(FEATURES) else (*FEATURES, *SEMANTIC_FEATURES)


@dataclass(frozen=True)
class SignalConfig:
    """Time scales of the decayed signals, in days (the ranker learns their weights)."""

    expertise_half_life: float = 180.0
    short_half_life: float = 30.0
    long_half_life: float = 365.0


@dataclass
class Query:
    """What one new change shares with every past change (arrays over past changes)."""

    change: Change
    time: float
    path_similarity: np.ndarray  # (4, n_changes), RevFinder's four techniques
    file_hits: np.ndarray
    dir_hits: np.ndarray
    text_similarity: np.ndarray
    owner_share: dict[str, float] = field(default_factory=dict)
    #: Encoder cosine to every past change, when the history has a semantic index.
    semantic_similarity: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of past changes this query was computed against."""
        return int(self.path_similarity.shape[1])

    @property
    def path_mean(self) -> np.ndarray:
        """Mean of the four techniques per past change."""
        mean: np.ndarray = self.path_similarity.mean(axis=0)
        return mean


def build_query(history: History, change: Change, rules: list[OwnerRule] | None = None) -> Query:
    """Compare ``change`` with every past change in ``history``.

    The change is seen as at creation time (what the bot sees when a pull request opens).
    """
    file_hits, dir_hits = history.paths.overlap(change.files)
    return Query(
        change=change,
        time=change.created_at or change.merged_at,
        path_similarity=history.paths.change_similarity(change.files),
        file_hits=file_hits,
        dir_hits=dir_hits,
        text_similarity=history.text.similarities(change.text)
        if change.text
        else np.zeros(len(history)),
        owner_share=ownership_share(change.files, rules) if rules else {},
        semantic_similarity=(
            history.semantic.similarities(encoder_text(change))
            if history.semantic is not None
            else None
        ),
    )


def _sum_by(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount`` with weights that stays float when ``keys`` is empty."""
    return np.bincount(keys, values, n).astype(np.float64)


def _decay(history: History, now: float, half_life_days: float) -> np.ndarray:
    age_days = np.maximum(now - history.change_time.view, 0.0) / SECONDS_PER_DAY
    weights: np.ndarray = np.exp(-np.log(2.0) * age_days / half_life_days)
    return weights


def person_signals(history: History, query: Query, config: SignalConfig) -> np.ndarray:
    """Raw signals, shape ``(n_people, len(SIGNALS))``, from changes before the query only."""
    n = history.n_people
    rc, rp = history.review_change.view, history.review_person.view
    authors = history.change_author.view
    has_author = authors >= 0
    ac, ap = np.flatnonzero(has_author), authors[has_author]
    w_exp = _decay(history, query.time, config.expertise_half_life)
    w_short = _decay(history, query.time, config.short_half_life)
    w_long = _decay(history, query.time, config.long_half_life)
    path, text = query.path_mean, query.text_similarity
    file_any, dir_any = (query.file_hits > 0).astype(float), (query.dir_hits > 0).astype(float)

    def by_reviewer(values: np.ndarray) -> np.ndarray:
        return _sum_by(rp, values[rc], n)

    def by_author(values: np.ndarray) -> np.ndarray:
        return _sum_by(ap, values[ac], n)

    text_max = np.zeros(n)
    np.maximum.at(text_max, rp, text[rc])
    columns = {
        "path_rev_all": by_reviewer(path),
        "path_rev_recent": by_reviewer(path * w_exp),
        "path_auth_recent": by_author(path * w_exp),
        "file_rev": by_reviewer(file_any * w_exp),
        "dir_rev": by_reviewer(dir_any * w_exp),
        "file_auth": by_author(file_any * w_exp),
        "dir_auth": by_author(dir_any * w_exp),
        "text_rev": by_reviewer(text * w_exp),
        "text_rev_max": text_max,
        "text_auth": by_author(text * w_exp),
        "reviews_short": by_reviewer(w_short),
        "reviews_long": by_reviewer(w_long),
        "authored_short": by_author(w_short),
        "days_since_review": _days_since_review(history, query.time, rc, rp),
        **_author_relations(history, query.change.author, w_long),
        "owner": _owner_column(history, query.owner_share),
        **_sharp_columns(path, text, w_short, by_reviewer, by_author),
        "text_auth_max": _max_by(ap, text[ac], n),
    }
    raw = np.column_stack([columns[name] for name in SIGNALS])
    if query.semantic_similarity is None:
        return raw
    strength = semantic_strength(query.semantic_similarity)
    semantic = _semantic_columns(strength, by_reviewer, by_author, w_exp, (rc, rp, ac, ap), n)
    return np.column_stack([raw, *(semantic[name] for name in SEMANTIC_SIGNALS)])


def _sharp_columns(
    path: np.ndarray,
    text: np.ndarray,
    weights: np.ndarray,
    by_reviewer: Callable[[np.ndarray], np.ndarray],
    by_author: Callable[[np.ndarray], np.ndarray],
) -> dict[str, np.ndarray]:
    """The sharpened, short-decay signals (``SIGNALS`` comments) from per-change similarity."""
    return {
        "path_rev_sharp": by_reviewer(path**SHARP_POWER * weights),
        "text_auth_sharp": by_author(text**SHARP_POWER * weights),
        "text_auth_short": by_author(text * weights),
    }


def _max_by(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per person, the largest of ``values`` over their edges (0 for people without any)."""
    best = np.zeros(n)
    np.maximum.at(best, keys, values)
    return best


def semantic_strength(similarity: np.ndarray) -> np.ndarray:
    """Encoder cosines above the query's own median to the history, else zero."""
    if len(similarity) == 0:
        return similarity
    baseline = float(np.quantile(similarity, SEMANTIC_BASELINE_QUANTILE))
    strength: np.ndarray = np.maximum(similarity - baseline, 0.0)
    return strength


def _semantic_columns(
    strength: np.ndarray,
    by_reviewer: Callable[[np.ndarray], np.ndarray],
    by_author: Callable[[np.ndarray], np.ndarray],
    weights: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n: int,
) -> dict[str, np.ndarray]:
    """The ``SEMANTIC_SIGNALS`` columns from per-change encoder strength."""
    rc, rp, ac, ap = edges
    rev_max, auth_max = np.zeros(n), np.zeros(n)
    np.maximum.at(rev_max, rp, strength[rc])
    np.maximum.at(auth_max, ap, strength[ac])
    return {
        "sem_rev": by_reviewer(strength * weights),
        "sem_rev_max": rev_max,
        "sem_auth": by_author(strength * weights),
        "sem_auth_max": auth_max,
    }


def _days_since_review(history: History, now: float, rc: np.ndarray, rp: np.ndarray) -> np.ndarray:
    """Days since each person's last review; ten years for people who never reviewed."""
    last = np.full(history.n_people, -np.inf)
    np.maximum.at(last, rp, history.change_time.view[rc])
    days = (now - last) / SECONDS_PER_DAY
    return np.clip(np.where(np.isfinite(days), days, 3650.0), 0.0, 3650.0)


def _author_relations(history: History, author: str, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Who reviews this author's changes (affinity) and whose changes this author reviews."""
    n = history.n_people
    author_id = history.person_ids.get(author, -1) if author else -1
    if author_id < 0:
        return {"affinity": np.zeros(n), "reciprocity": np.zeros(n)}
    rc, rp = history.review_change.view, history.review_person.view
    authors = history.change_author.view
    own = authors == author_id
    from_author = own[rc]
    affinity = _sum_by(rp[from_author], weights[rc[from_author]], n)
    affinity /= 1.0 + float(weights[own].sum())
    by_author = rp == author_id
    reviewed_authors = authors[rc[by_author]]
    keep = reviewed_authors >= 0
    reciprocity = _sum_by(reviewed_authors[keep], weights[rc[by_author]][keep], n)
    return {"affinity": affinity, "reciprocity": reciprocity}


def _owner_column(history: History, share: dict[str, float]) -> np.ndarray:
    column = np.zeros(history.n_people)
    if share:
        for person, login in enumerate(history.people):
            column[person] = share.get(normalize_owner(login), 0.0)
    return column


def _relative(rows: np.ndarray) -> np.ndarray:
    """Each column divided by its best candidate's value (0 where nobody has any)."""
    tops = rows.max(axis=0) if len(rows) else np.zeros(rows.shape[1])
    relative: np.ndarray = np.divide(rows, tops, out=np.zeros(rows.shape), where=tops > 0)
    return relative


def candidate_features(raw: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Model inputs for ``candidates`` (person ids): ``log1p`` signals, relatives and a rank.

    Columns of ``raw`` beyond ``SIGNALS`` are the semantic ones; their inputs come last.
    """
    rows = raw[candidates]
    base, semantic = rows[:, : len(SIGNALS)], rows[:, len(SIGNALS) :]
    logs = np.log1p(np.maximum(base, 0.0))
    relative = _relative(base[:, [SIGNALS.index(name) for name in RELATIVE]])
    expertise = base[:, SIGNALS.index("path_rev_recent")]
    # Reciprocal rank among candidates: how far down the path-expertise list this person is.
    rank = np.empty(len(rows))
    rank[np.argsort(-expertise, kind="stable")] = np.arange(len(rows))
    columns = [logs, relative, 1.0 / (1.0 + rank)]
    if semantic.shape[1]:
        sem_rel = [SEMANTIC_SIGNALS.index(name) for name in SEMANTIC_RELATIVE]
        columns += [np.log1p(np.maximum(semantic, 0.0)), _relative(semantic[:, sem_rel])]
    return np.column_stack(columns)
