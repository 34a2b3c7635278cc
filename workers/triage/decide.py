"""Triage decisions, pure: which of a repository's labels to apply to a new item."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.config_schema import TriageConfig
from core.markdown import code
from models.triage.calibration import labels_to_apply
from models.triage.taxonomy import matches_status

MARKER = "<!-- steward:triage -->"


@dataclass(frozen=True)
class Prediction:
    """What a model said about one item, and the thresholds it was calibrated with."""

    probs: dict[str, float]
    thresholds: dict[str, float]
    single_label: bool
    source: str  # "model" | "nearest-neighbour"


def resolve_label(name: str, repo_labels: Iterable[str], aliases: Mapping[str, str]) -> str | None:
    """The repository's spelling of a model label (after aliases), or None if it has none."""
    wanted = aliases.get(name, name).casefold()
    for label in repo_labels:
        if label.casefold() == wanted:
            return label
    return None


def permitted(label: str, config: TriageConfig) -> bool:
    """The allow-list (when set) admits it and the deny-list does not name it."""
    folded = label.casefold()
    if any(folded == d.casefold() for d in config.deny):
        return False
    return not config.allow or any(folded == a.casefold() for a in config.allow)


def choose_labels(
    prediction: Prediction,
    *,
    repo_labels: Iterable[str],
    config: TriageConfig,
    removed_by_humans: Iterable[str] = (),
) -> list[tuple[str, float]]:
    """Labels to apply with their probabilities, most probable first.

    Which probabilities clear their thresholds is the one rule ``steward evaluate``
    measures (:func:`models.triage.calibration.labels_to_apply`, with the per-label
    minimums from config replacing the calibrated threshold). Of those, a label is
    applied only if it exists in the repository, config permits it, and no human
    removed it from this item before.
    """
    existing = list(repo_labels)
    removed = {r.casefold() for r in removed_by_humans}
    passing = labels_to_apply(
        prediction.probs,
        prediction.thresholds,
        config.min_confidence,
        single_label=prediction.single_label,
    )
    chosen: list[tuple[str, float]] = []
    for model_label in passing:
        name = resolve_label(model_label, existing, config.aliases)
        if name is None or not permitted(name, config):
            continue
        if name.casefold() in removed or any(name == c for c, _ in chosen):
            continue
        chosen.append((name, prediction.probs[model_label]))
    return chosen[: config.max_labels]


def kind_enabled(config: TriageConfig, kind: str) -> bool:
    """Whether triage is on for this kind of item (``issue``, ``pull_request``, ``discussion``)."""
    switch = {
        "issue": config.issues,
        "pull_request": config.pull_requests,
        "discussion": config.discussions,
    }.get(kind, False)
    return config.enabled and switch


@dataclass(frozen=True)
class Gates:
    """A repository's gates for one classifier: thresholds, and the labels that are live."""

    thresholds: dict[str, float]
    live: frozenset[str]
    #: Whether this classifier was measured at all (False: every label is held back).
    measured: bool = True


def with_gates(prediction: Prediction, gates: Gates) -> Prediction:
    """The prediction with each gated label's threshold from its gate (a classifier's own
    thresholds stand for labels the gate did not measure).
    """
    return Prediction(
        probs=prediction.probs,
        thresholds={**prediction.thresholds, **gates.thresholds},
        single_label=prediction.single_label,
        source=prediction.source,
    )


def live_names(gates: Gates, *, repo_labels: Iterable[str], config: TriageConfig) -> set[str]:
    """The repository's spellings of the labels the bot may apply: those the gate put
    live, and those a maintainer gave a threshold of their own (``triage.min_confidence``:
    their call, not the gate's).
    """
    existing = list(repo_labels)
    wanted = set(gates.live) | set(config.min_confidence)
    return {
        name
        for label in wanted
        if (name := resolve_label(label, existing, config.aliases)) is not None
    }


def top_candidate(
    prediction: Prediction,
    *,
    repo_labels: Iterable[str],
    config: TriageConfig,
    removed: Iterable[str] = (),
) -> list[tuple[str, float]]:
    """The single most probable label, whatever its threshold, under the repository's own
    constraints (exists, permitted, not removed by a person): the decision recorded in
    shadow when no label cleared its threshold. Multi-label predictions have none.
    """
    if not prediction.single_label or not prediction.probs:
        return []
    top = sorted(prediction.probs.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    anything = Prediction(prediction.probs, {top: 0.0}, True, prediction.source)
    return choose_labels(
        anything,
        repo_labels=repo_labels,
        config=dataclasses.replace(config, min_confidence={}),
        removed_by_humans=removed,
    )


def never_guessed(label: str, *, config: TriageConfig, status: Iterable[str] = ()) -> bool:
    """A status or workflow label the bot must not guess: listed in
    ``triage.status_labels`` or learnt as one from history (``status``), unless a
    maintainer named it in ``triage.allow`` or ``triage.min_confidence``.
    """
    folded = label.casefold()
    named = [*config.allow, *config.min_confidence]
    if any(folded == n.casefold() for n in named):
        return False
    learnt = {s.casefold() for s in status}
    return folded in learnt or matches_status(label, config.status_labels)


def explanation(chosen: list[tuple[str, float]], source: str) -> str:
    """The optional comment that says what was applied and how sure the bot was."""
    parts = ", ".join(f"{code(name, limit=100)} ({prob:.0%})" for name, prob in chosen)
    how = {
        "model": "this repository's trained model",
        "nearest-neighbour": "similar issues labelled before",
    }.get(source, "label descriptions")
    return (
        f"Steward labelled this {parts}, based on {how}. Remove a label if it is wrong; "
        f"Steward will not add it again and learns from the correction.\n\n{MARKER}"
    )


def item_text(
    title: str, body: str, paths: Iterable[str] = (), *, category: str = ""
) -> tuple[str, str]:
    """Title and body as the model sees them: a PR's changed paths appended to its body,
    a discussion's category ahead of its title ("Q&A: How do I…", "Ideas: Support…"),
    where both the encoder and the nearest neighbours read it with the words it carries.
    """
    files = list(paths)
    if files:
        body = f"{body}\n\nChanged files: {' '.join(files[:50])}"
    if category:
        title = f"{category}: {title}"
    return title, body
