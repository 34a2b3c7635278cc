"""Evaluation of triage models: per-label scores, calibration checks and an HTML report.

``evaluate_repo`` is a pure function over probability and truth matrices; the report
writer draws PNGs with matplotlib's Agg backend and links them from one HTML page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.triage.calibration import applied_stats, precision_coverage_curve
from models.triage.data import repo_dirname


def predicted_matrix(probs: np.ndarray, multi_label: bool) -> np.ndarray:
    """0/1 predictions: the top label (single-label) or every label with p ≥ 0.5."""
    if multi_label:
        return (probs >= 0.5).astype(int)
    out = np.zeros_like(probs, dtype=int)
    if len(probs):
        out[np.arange(len(probs)), probs.argmax(axis=1)] = 1
    return out


def per_label_scores(
    truth: np.ndarray, pred: np.ndarray, labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each label (0 where undefined)."""
    scores = {}
    for j, label in enumerate(labels):
        tp = float(np.sum((pred[:, j] == 1) & (truth[:, j] == 1)))
        precision = tp / pred[:, j].sum() if pred[:, j].sum() else 0.0
        recall = tp / truth[:, j].sum() if truth[:, j].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(truth[:, j].sum()),
        }
    return scores


def evaluate_repo(
    labels: Sequence[str],
    truth: np.ndarray,
    probs: np.ndarray,
    thresholds: Mapping[str, float],
    *,
    multi_label: bool,
) -> dict[str, Any]:
    """Scores of one repository: per label, macro F1, applied precision and coverage."""
    labels = list(labels)
    per_label = per_label_scores(truth, predicted_matrix(probs, multi_label), labels)
    stats = applied_stats(probs, truth, labels, thresholds, single_label=not multi_label)
    return {
        "n": len(probs),
        "labels": per_label,
        "macro_f1": float(np.mean([s["f1"] for s in per_label.values()])) if labels else 0.0,
        # Nothing applied means no precision to report, not a perfect one (JSON null).
        "applied_precision": float(stats.precision) if stats.applied else None,
        "coverage": float(stats.coverage),
        "applied": int(stats.applied),
    }


def describe_precision(value: float | None) -> str:
    """Applied precision for people: ``n/a (nothing applied)`` rather than a perfect score."""
    return "n/a (nothing applied)" if value is None else f"{value:.3f}"


def summarise(repos: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON document of ``steward evaluate --json``."""
    applied = sum(r.get("applied", 0) for r in repos.values())
    correct = sum(r.get("applied", 0) * (r["applied_precision"] or 0.0) for r in repos.values())
    total = sum(r["n"] for r in repos.values())
    return {
        "repos": dict(repos),
        "mean_macro_f1": float(np.mean([r["macro_f1"] for r in repos.values()])) if repos else 0.0,
        "applied_precision": correct / applied if applied else None,
        "coverage": sum(r["coverage"] * r["n"] for r in repos.values()) / total if total else 0.0,
    }


def confusion(truth: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Counts of (true top label, predicted top label)."""
    n = probs.shape[1]
    matrix = np.zeros((n, n), dtype=int)
    for t, p in zip(truth.argmax(axis=1), probs.argmax(axis=1), strict=True):
        matrix[t, p] += 1
    return matrix


def reliability(
    truth: np.ndarray, probs: np.ndarray, bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean confidence, accuracy and count of the top label per confidence bin."""
    conf = probs.max(axis=1)
    right = truth[np.arange(len(probs)), probs.argmax(axis=1)]
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean_conf = np.bincount(which, conf, bins) / np.maximum(counts, 1)
    accuracy = np.bincount(which, right, bins) / np.maximum(counts, 1)
    return mean_conf, accuracy, counts


@dataclass(frozen=True)
class RepoCurves:
    """What the plots of one repository need."""

    repo: str
    labels: Sequence[str]
    truth: np.ndarray
    probs: np.ndarray
    #: (coverage, applied precision) at the model's own thresholds, when it applied any.
    operating: tuple[float, float] | None = None

    @property
    def stem(self) -> str:
        """File-name stem (``owner__name``)."""
        return repo_dirname(self.repo)


def plot_confusion(out: Path, curves: RepoCurves) -> str:
    """Confusion matrix of the top label; counts readable on light and dark cells."""
    import matplotlib.pyplot as plt

    labels = curves.labels
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    matrix = confusion(curves.truth, curves.probs)
    ax.imshow(matrix, cmap="Blues")
    dark = matrix.max() / 2 if matrix.size else 0
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > dark else "black")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted")
    ax.set(ylabel="true (what people labelled)", title=f"{curves.repo}: top label")
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticklabels(labels)
    return save_figure(fig, out / f"{curves.stem}-confusion.png")


def plot_reliability(out: Path, curves: RepoCurves) -> str:
    """Is a probability of 0.8 right 80 % of the time?"""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    mean_conf, accuracy, counts = reliability(curves.truth, curves.probs)
    keep = counts > 0
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    ax.plot(mean_conf[keep], accuracy[keep], "o-", label="this model")
    ax.set(
        xlabel="confidence of top label", ylabel="share right", title=f"{curves.repo}: reliability"
    )
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, out / f"{curves.stem}-reliability.png")


def plot_precision_coverage(out: Path, curves: RepoCurves, target: float = 0.95) -> str:
    """What precision each share of items would get, and where the model operates."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    coverage, precision = precision_coverage_curve(curves.probs, curves.truth)
    ax.plot(coverage, precision, label="top label, any threshold")
    ax.axhline(target, ls="--", color="grey", label=f"target precision {target:.2f}")
    if curves.operating is not None:
        at_coverage, at_precision = curves.operating
        ax.plot([at_coverage], [at_precision], "o", color="crimson", label="at its thresholds")
    ax.set(xlabel="coverage (share of items labelled)", ylabel="precision", ylim=(0, 1.02))
    ax.set(title=f"{curves.repo}: precision–coverage")
    ax.legend(loc="lower left", fontsize=8)
    return save_figure(fig, out / f"{curves.stem}-precision-coverage.png")


def plot_repo(out: Path, curves: RepoCurves) -> list[str]:
    """Confusion matrix, reliability diagram and precision–coverage curve as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    return [
        plot_confusion(out, curves),
        plot_reliability(out, curves),
        plot_precision_coverage(out, curves),
    ]


def save_figure(fig: Any, path: Path) -> str:
    """Write ``fig`` to ``path`` and free it; return the file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


REPORT_STYLE = (
    "body{font-family:system-ui;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45}table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
    "th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right}"
    "th:first-child,td:first-child{text-align:left}img{max-width:100%;height:auto}"
    ".plots{display:flex;flex-wrap:wrap;gap:.5rem}.scroll{overflow-x:auto}"
)


def summary_table(summary: Mapping[str, Any]) -> str:
    """One row per repository: the numbers a maintainer reads first."""
    rows = "".join(
        f"<tr><td>{html.escape(repo)}</td><td>{r['n']}</td><td>{r['macro_f1']:.3f}</td>"
        f"<td>{describe_precision(r['applied_precision'])}</td><td>{r['coverage']:.3f}</td></tr>"
        for repo, r in summary["repos"].items()
    )
    return (
        "<div class='scroll'><table><tr><th>repository</th><th>items</th><th>macro F1</th>"
        f"<th>applied precision</th><th>coverage</th></tr>{rows}</table></div>"
    )


def label_table(scores: Mapping[str, Mapping[str, Any]]) -> str:
    """Per label: precision, recall, F1 and how many items carry it."""
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{s['precision']:.3f}</td>"
        f"<td>{s['recall']:.3f}</td><td>{s['f1']:.3f}</td><td>{s['support']}</td></tr>"
        for label, s in scores.items()
    )
    return (
        "<div class='scroll'><table><tr><th>label</th><th>precision</th><th>recall</th>"
        f"<th>F1</th><th>items</th></tr>{rows}</table></div>"
    )


def write_report(
    out: str | Path,
    summary: Mapping[str, Any],
    curves: Mapping[str, tuple[Sequence[str], np.ndarray, np.ndarray]],
) -> Path:
    """``index.html``: a summary table, then per repository its labels and three plots
    (PNGs beside it); ``report.json`` holds the numbers for machines. Returns the page."""
    import json

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    sections = []
    for repo, (labels, truth, probs) in curves.items():
        r = summary["repos"][repo]
        operating = (
            (r["coverage"], r["applied_precision"]) if r["applied_precision"] is not None else None
        )
        files = plot_repo(directory, RepoCurves(repo, labels, truth, probs, operating))
        images = "".join(f'<a href="{f}"><img src="{f}" alt="{f}" width="360"></a>' for f in files)
        sections.append(
            f"<h2>{html.escape(repo)}</h2>{label_table(r['labels'])}"
            f"<div class='plots'>{images}</div>"
        )
    (directory / "report.json").write_text(json.dumps(summary, indent=2, default=float))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Steward triage report</title><style>{REPORT_STYLE}</style></head><body>"
        "<h1>Triage evaluation</h1>"
        f"<p>Mean macro F1 over repositories: <strong>{summary['mean_macro_f1']:.3f}</strong>. "
        "<em>Applied precision</em> and <em>coverage</em> are what the bot would do at each "
        "model's calibrated thresholds: how often a label it applies is right, and on what "
        "share of items it applies one.</p>"
        f"{summary_table(summary)}{''.join(sections)}"
        "<p>The numbers as JSON: <a href='report.json'>report.json</a>.</p></body></html>"
    )
    path = directory / "index.html"
    path.write_text(page)
    return path
