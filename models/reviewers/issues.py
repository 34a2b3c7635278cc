"""People and newcomer helpers for issues: same expertise model, pure functions.

* ``rank_people_for_issue``: who is most likely to resolve an issue (its text and any paths
  it mentions), using a ``ReviewerIndex`` built with ``target="authors"`` (past authors and
  reviewers are candidates, trained on who authored each change), under the same load rule.
* ``match_good_first_issues``: open newcomer-labelled issues ranked by similarity to what a
  newcomer wrote about themselves (TF-IDF; an encoder when given).
* ``looks_like_good_first_issue``: a small heuristic for easy, well-described issues.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.reviewers.constraints import Constraints, Load
from models.reviewers.data import Change
from models.reviewers.index import ReviewerIndex, Suggestion
from models.reviewers.paths import extract_paths as extract_paths  # re-exported
from models.reviewers.text import TextEncoderLike, tokenize

#: Labels that mark an issue as meant for newcomers (compared case-insensitively).
NEWCOMER_LABELS = frozenset(
    {"good first issue", "good-first-issue", "first-timers-only", "beginner", "easy", "starter"}
)
#: Words that suggest a small, self-contained task.
EASY_WORDS = (
    "typo",
    "spelling",
    "documentation",
    "docs",
    "readme",
    "docstring",
    "comment",
    "broken link",
    "example",
    "rename",
    "add a test",
    "add test",
    "missing test",
    "error message",
    "lint",
    "deprecat",
    "help text",
    "wording",
    "translation",
)
#: Words that suggest deep or risky work.
HARD_WORDS = (
    "panic",
    "segfault",
    "crash",
    "deadlock",
    "race condition",
    "data race",
    "memory leak",
    "security",
    "cve",
    "vulnerab",
    "regression",
    "performance",
    "architecture",
    "redesign",
    "rfc",
    "proposal",
    "design doc",
    "breaking change",
    "flaky",
)
_TRACE = re.compile(r"^(\s+at |Traceback|goroutine \d+|panic:|\s*File \")", re.MULTILINE)


@dataclass(frozen=True)
class OpenIssue:
    """An open issue as the newcomer matcher needs it."""

    number: int
    title: str
    body: str = ""
    labels: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """Title and body together."""
        return f"{self.title}\n{self.body}"


@dataclass(frozen=True)
class IssueMatch:
    """An open issue and how well it fits the newcomer (cosine similarity)."""

    issue: OpenIssue
    score: float


def rank_people_for_issue(
    text: str,
    mentioned_paths: Sequence[str],
    index: ReviewerIndex,
    k: int = 3,
    *,
    author: str = "",
    constraints: Constraints | None = None,
    now: float | None = None,
    load: Load | None = None,
) -> list[Suggestion]:
    """People who know what the issue is about: its text and the paths it mentions.

    The issue is ranked like a change touching ``mentioned_paths`` (plus paths found in the
    text), as of ``now`` (default: the latest change in the index). Use an index built with
    ``target="authors"``: one built for reviewers offers past reviewers only. ``load`` is the
    reviewers' load rule (``bot_load``); ``constraints`` carry opt-outs and the never list.

    ``author`` (the reporter) is never suggested, but the issue is ranked without an
    author, as the authors index learnt it (an issue's reporter says nothing about who
    will resolve it, and the author-affinity signals would otherwise speak for them).
    """
    paths = tuple(dict.fromkeys([*mentioned_paths, *extract_paths(text)]))
    moment = now if now is not None else _latest(index)
    title, _, body = text.partition("\n")
    constraints = constraints or Constraints()
    if author:
        constraints = replace(constraints, never=constraints.never | {author.strip().lower()})
    issue = Change(
        id="issue",
        created_at=moment,
        merged_at=moment,
        author="",
        reviewers=(),
        title=title,
        body=body,
        files=paths,
    )
    return index.suggest(issue, k=k, constraints=constraints, load=load)


def _latest(index: ReviewerIndex) -> float:
    times = index.history.change_time.view
    return float(times.max()) if len(times) else 0.0


def is_newcomer_issue(labels: Iterable[str]) -> bool:
    """True when any label marks the issue for newcomers."""
    return any(label.strip().lower() in NEWCOMER_LABELS for label in labels)


def match_good_first_issues(
    newcomer_text: str,
    open_issues: Sequence[OpenIssue],
    k: int = 3,
    *,
    encoder: TextEncoderLike | None = None,
    min_similarity: float = 0.0,
    vectors: Mapping[int, np.ndarray] | None = None,
    newcomer_vector: np.ndarray | None = None,
) -> list[IssueMatch]:
    """Open newcomer-labelled issues, most similar to ``newcomer_text`` first (at most ``k``).

    Similarity is the cosine of precomputed vectors (``vectors`` by issue number and
    ``newcomer_vector``) when every candidate has one, else of ``encoder`` embeddings when an
    encoder is given, else of TF-IDF. Issues below ``min_similarity`` are dropped (see
    ``work.calibrate_min_similarity`` for a floor from the repository's own history).
    """
    pool = [issue for issue in open_issues if is_newcomer_issue(issue.labels)]
    if not pool:
        return []
    texts = [issue.text for issue in pool]
    if newcomer_vector is not None and vectors and all(i.number in vectors for i in pool):
        scores = _cosines(newcomer_vector, np.stack([vectors[i.number] for i in pool]))
    elif encoder is not None:
        scores = _embedding_scores(newcomer_text, texts, encoder)
    else:
        scores = _tfidf_scores(newcomer_text, texts)
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= min_similarity][:k]
    return [IssueMatch(pool[i], float(scores[i])) for i in order]


def _cosines(query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine of ``query`` to each row."""
    matrix = np.asarray(rows, dtype=np.float64)
    matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    unit = np.asarray(query, dtype=np.float64)
    scores: np.ndarray = matrix @ (unit / max(float(np.linalg.norm(unit)), 1e-12))
    return scores


def _tfidf_scores(query: str, texts: Sequence[str]) -> np.ndarray:
    """Cosine similarity of TF-IDF vectors fitted on these texts and the query."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    try:
        matrix = vectorizer.fit_transform([query, *texts])
    except ValueError:  # no usable word at all
        return np.zeros(len(texts))
    scores: np.ndarray = (matrix[1:] @ matrix[0].T).toarray().ravel()
    return scores


def _embedding_scores(query: str, texts: Sequence[str], encoder: TextEncoderLike) -> np.ndarray:
    vectors = np.asarray(encoder.encode([query, *texts]), dtype=np.float64)
    return _cosines(vectors[0], vectors[1:])


def _first_word(text: str, words: Sequence[str]) -> str:
    return next((w for w in words if re.search(r"\b" + re.escape(w), text)), "")


def looks_like_good_first_issue(
    title: str, body: str, labels: Sequence[str] = ()
) -> tuple[bool, str]:
    """Heuristic: is this an easy, well-described issue? Returns ``(verdict, reason)``."""
    if is_newcomer_issue(labels):
        return True, "already labelled for newcomers"
    text = f"{title}\n{body}".lower()
    hard = _first_word(text, HARD_WORDS)
    if hard:
        return False, f"mentions `{hard}`: likely needs deep context"
    if _TRACE.search(body):
        return False, "contains a stack trace: likely a bug needing investigation"
    if len(body.strip()) < 60:
        return False, "too little description for a newcomer"
    if len(body) > 3000:
        return False, "long description: likely a large task"
    easy = _first_word(text, EASY_WORDS)
    if not easy:
        return False, "no sign that the change is small"
    pointers = extract_paths(body) or re.findall(r"`([^`\n]{2,60})`", body)
    where = f", points at `{pointers[0]}`" if pointers else ""
    return True, f"small task (`{easy}`), well described{where}"
