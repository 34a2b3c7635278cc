"""The three evaluations of ``steward eval-reviewers --task``: reviewers, people and work.

Each replays a history chronologically and scores Steward, with and without the encoder
feature, against simple baselines in the same run; each returns one JSON-ready dict with
``task``, ``n``, ``steward``, ``steward_no_encoder``, ``popularity`` and ``tfidf``.

* reviewers: ``evaluate.replay`` (also RevFinder and the simulated review load).
* people: every evaluated change is ranked as an issue would be (``issue_view``: title, body,
  the paths they mention) by an authors-target ``ReviewerIndex``; the truth is its author.
* work: for each evaluated change whose author did anything before, the changes open around
  it (created within ``WORK_WINDOW_DAYS`` either side and not merged before it was created,
  the author's other changes left out) are ranked for the author by ``rank_work``; the truth
  is the change itself.

Encoder vectors are computed once up front (``encode_all``) and handed over by text, so a
replay never calls the encoder itself.
"""

from __future__ import annotations

import bisect
import sys
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from models.reviewers.data import Change
from models.reviewers.evaluate import K_VALUES, Metrics, _events, replay
from models.reviewers.history import SECONDS_PER_DAY, encoder_text
from models.reviewers.index import ReviewerIndex, issue_view
from models.reviewers.paths import parent_dir
from models.reviewers.text import EmbeddingTextIndex, TextEncoderLike
from models.reviewers.work import (
    Profile,
    WorkItem,
    contributor_profile,
    rank_work,
    tfidf_cosines,
)

#: Texts per encoder call in ``encode_all`` (one progress step each).
ENCODE_CHUNK = 256
#: Half-width of the work task's window of open changes, in days.
WORK_WINDOW_DAYS = 30.0
TASKS = ("reviewers", "people", "work")
#: Whether the bot's reviewer index gets the encoder feature. On golang-net it did not help
#: (MRR 0.8265 with, 0.8276 without; with the load discount 0.731 against 0.740), so the
#: bot's configuration, whose numbers fill ``load``, is without it.
BOT_REVIEWERS_ENCODER = False

Vectors = Mapping[str, np.ndarray]


def texts_needed(changes: Sequence[Change]) -> list[str]:
    """Every text a task embeds: each change's encoder text and its issue view's."""
    texts = [encoder_text(c) for c in changes] + [encoder_text(issue_view(c)) for c in changes]
    return list(dict.fromkeys(texts))


def encode_all(
    encoder: TextEncoderLike, texts: Sequence[str], *, progress: bool = False
) -> dict[str, np.ndarray]:
    """Embeddings of ``texts`` by text, in a few large batched calls (with a progress bar)."""
    out: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(texts))
    chunks = range(0, len(unique), ENCODE_CHUNK)
    for start in tqdm(chunks, file=sys.stderr, disable=not progress, desc="encode", unit="chunk"):
        part = unique[start : start + ENCODE_CHUNK]
        out.update(zip(part, np.asarray(encoder.encode(part, batch_size=64)), strict=True))
    return out


def semantic_index(vectors: Vectors) -> EmbeddingTextIndex:
    """An encoder-free ``EmbeddingTextIndex`` primed with precomputed vectors."""
    index = EmbeddingTextIndex()
    if vectors:
        index.prime_vectors(list(vectors), np.stack(list(vectors.values())))
    return index


def _slim(metrics: Metrics) -> dict[str, float]:
    """MRR and top-k without the count (``n`` is reported once per task)."""
    return {key: value for key, value in metrics.as_dict().items() if key != "n"}


def evaluate_reviewers(
    changes: Sequence[Change],
    vectors: Vectors | None,
    *,
    eval_from: float = 0.5,
    eval_to: float = 1.0,
    as_of: str = "merged",
    k_values: Sequence[int] = K_VALUES,
    progress: bool = False,
) -> dict[str, Any]:
    """Reviewer replay with and without the encoder feature (today's keys kept).

    ``steward`` ranks without the load discount, from the encoder run when ``vectors`` are
    given; ``steward_no_encoder`` is the run without; ``*_with_load`` add the discount.
    ``load`` (and ``revfinder``, the baselines) come from the configuration the bot runs,
    ``BOT_REVIEWERS_ENCODER``; the other run's load section is ``load_other``.
    """
    options: dict[str, Any] = {
        "eval_from": eval_from,
        "eval_to": eval_to,
        "as_of": as_of,
        "k_values": k_values,
        "progress": progress,
    }
    plain = replay(changes, **options).as_dict()
    encoded = plain
    if vectors is not None:
        index = ReviewerIndex(semantic_index=semantic_index(vectors))
        encoded = replay(changes, index=index, **options).as_dict()
    bot, other = (encoded, plain) if BOT_REVIEWERS_ENCODER else (plain, encoded)
    return {
        "task": "reviewers",
        "n": plain["steward"]["n"],
        "encoder": vectors is not None,
        "bot_uses_encoder": BOT_REVIEWERS_ENCODER,
        **bot,
        "steward": encoded["steward"],
        "steward_with_load": encoded["load"]["steward_with_load"],
        "steward_no_encoder": plain["steward"],
        "steward_no_encoder_with_load": plain["load"]["steward_with_load"],
        "load_other": other["load"],
    }


def evaluate_people(
    changes: Sequence[Change],
    vectors: Vectors | None,
    *,
    eval_from: float = 0.5,
    eval_to: float = 1.0,
    as_of: str = "merged",
    k_values: Sequence[int] = K_VALUES,
    progress: bool = False,
) -> dict[str, Any]:
    """Who authors each evaluated change, ranked from its issue view alone."""
    ks = tuple(sorted(set(k_values)))
    names = ("steward", "steward_no_encoder", "popularity", "tfidf")
    metrics = {name: Metrics(ks) for name in names}
    plain = ReviewerIndex(target="authors")
    encoded = (
        ReviewerIndex(target="authors", semantic_index=semantic_index(vectors))
        if vectors is not None
        else None
    )
    first, last = int(len(changes) * eval_from), int(len(changes) * eval_to)
    with tqdm(total=last, file=sys.stderr, disable=not progress, desc="people") as bar:
        for _, kind, _, change in _events(changes, first, last, as_of):
            if kind == 1:
                plain.add(change)
                if encoded is not None:
                    encoded.add(change)
                bar.update(1)
            elif change.author and len(plain):
                _record_people(plain, encoded, change, metrics)
    if encoded is None:
        metrics["steward"] = metrics["steward_no_encoder"]
    n = metrics["steward"].n
    return {
        "task": "people",
        "n": n,
        "encoder": vectors is not None,
        **{name: _slim(m) for name, m in metrics.items()},
    }


def _record_people(
    plain: ReviewerIndex,
    encoded: ReviewerIndex | None,
    change: Change,
    metrics: Mapping[str, Metrics],
) -> None:
    view, truth = issue_view(change), {change.author}
    query = plain.query(view)
    metrics["steward_no_encoder"].record([login for login, _ in plain.rank(view, query)], truth)
    if encoded is not None:
        metrics["steward"].record([login for login, _ in encoded.rank(view)], truth)
    history = plain.history
    ids = plain.candidates("")
    authors = history.change_author.view
    has = authors >= 0
    counts = np.bincount(authors[has], minlength=history.n_people).astype(float)
    text = np.bincount(authors[has], query.text_similarity[has], history.n_people)
    for name, scores in (("popularity", counts), ("tfidf", text)):
        order = ids[np.argsort(-scores[ids], kind="stable")]
        metrics[name].record([history.people[i] for i in order], truth)


def work_item(number: int, change: Change, vectors: Vectors | None) -> WorkItem:
    """A change as an open item: its issue view's text and mentioned paths (and vector)."""
    view = issue_view(change)
    vector = vectors.get(encoder_text(view)) if vectors is not None else None
    return WorkItem(number, view.title, view.body, paths=view.files, vector=vector)


def _stable_noise(change_id: str) -> float:
    """A fixed pseudo-random number in ``[0, 1)`` per change (tie-breaker for baselines)."""
    return zlib.crc32(change_id.encode()) / 2**32


def evaluate_work(
    changes: Sequence[Change],
    vectors: Vectors | None,
    *,
    eval_from: float = 0.5,
    eval_to: float = 1.0,
    window_days: float = WORK_WINDOW_DAYS,
    k_values: Sequence[int] = K_VALUES,
    progress: bool = False,
) -> dict[str, Any]:
    """Rank each evaluated change among the changes open around it, for its author."""
    ks = tuple(sorted(set(k_values)))
    names = ("steward", "steward_no_encoder", "popularity", "tfidf")
    metrics = {name: Metrics(ks) for name in names}
    ordered = sorted(changes, key=lambda c: c.merged_at)
    merged = [c.merged_at for c in ordered]
    by_id = (
        {c.id: vectors[encoder_text(c)] for c in ordered if encoder_text(c) in vectors}
        if vectors is not None
        else None
    )
    first, last = int(len(ordered) * eval_from), int(len(ordered) * eval_to)
    sizes: list[int] = []
    for position in tqdm(range(first, last), file=sys.stderr, disable=not progress, desc="work"):
        change = ordered[position]
        past = ordered[: bisect.bisect_left(merged, change.created_at)]
        profile = contributor_profile(past, change.author, by_id) if change.author else None
        if profile is None or not profile.work:
            continue
        window = _open_around(ordered, position, window_days)
        items = [work_item(i, ordered[i], vectors) for i in window]
        sizes.append(len(items))
        _record_work(profile, items, position, metrics, encoded=vectors is not None)
    if vectors is None:
        metrics["steward"] = metrics["steward_no_encoder"]
    return {
        "task": "work",
        "n": metrics["steward"].n,
        "encoder": vectors is not None,
        "window_days": window_days,
        "mean_candidates": round(float(np.mean(sizes)), 1) if sizes else 0.0,
        **{name: _slim(m) for name, m in metrics.items()},
    }


def _open_around(ordered: Sequence[Change], position: int, window_days: float) -> list[int]:
    """Positions of the changes open around ``ordered[position]`` (module doc), itself first."""
    change, width = ordered[position], window_days * SECONDS_PER_DAY
    return [position] + [
        i
        for i, other in enumerate(ordered)
        if i != position
        and abs(other.created_at - change.created_at) <= width
        and other.merged_at >= change.created_at
        and other.author != change.author
    ]


def _record_work(
    profile: Profile,
    items: Sequence[WorkItem],
    truth: int,
    metrics: Mapping[str, Metrics],
    *,
    encoded: bool,
) -> None:
    every, target = len(items), {str(truth)}

    def numbers(chosen: Sequence[WorkItem]) -> list[str]:
        return [str(item.number) for item in chosen]

    text_only = Profile(profile.login, profile.work, profile.files, profile.dirs)
    plain = rank_work(text_only, items, k=every, min_similarity=-1.0)
    metrics["steward_no_encoder"].record(numbers([m.item for m in plain]), target)
    if encoded:
        matches = rank_work(profile, items, k=every, min_similarity=-1.0)
        metrics["steward"].record(numbers([m.item for m in matches]), target)
    whole = tfidf_cosines([i.text for i in items], [" ".join(w.text for w in profile.work)])[:, 0]
    # Popularity: items in the person's most-touched directories first, the rest in a fixed
    # pseudo-random order (items rarely mention paths, so this is close to chance).
    popular = [
        sum(profile.dirs.get(parent_dir(p), 0) for p in i.paths)
        + _stable_noise(str(i.number) + profile.login)
        for i in items
    ]
    for name, scores in (("popularity", popular), ("tfidf", list(whole))):
        order = np.argsort(-np.asarray(scores), kind="stable")
        metrics[name].record(numbers([items[i] for i in order]), target)
