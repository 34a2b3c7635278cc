"""Evaluation of triage models: per-label scores, calibration checks and an HTML report.

``evaluate_repo`` is a pure function over probability and truth matrices; the report
writer draws PNGs with matplotlib's Agg backend and links them from one HTML page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.triage.calibration import applied_stats, precision_coverage_curve


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


def plot_repo(
    out: Path, name: str, labels: Sequence[str], truth: np.ndarray, probs: np.ndarray
) -> list[str]:
    """Confusion matrix, reliability diagram and precision–coverage curve as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(4, 4))
    matrix = confusion(truth, probs)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center")
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xlabel="predicted",
        ylabel="true",
        title=name,
    )
    ax.set_xticklabels(labels, rotation=45)
    ax.set_yticklabels(labels)
    files.append(save_figure(fig, out / f"{name}-confusion.png"))

    fig, ax = plt.subplots(figsize=(4, 4))
    mean_conf, accuracy, counts = reliability(truth, probs)
    keep = counts > 0
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.plot(mean_conf[keep], accuracy[keep], "o-")
    ax.set(xlabel="confidence of top label", ylabel="accuracy", title=f"{name}: reliability")
    files.append(save_figure(fig, out / f"{name}-reliability.png"))

    fig, ax = plt.subplots(figsize=(4, 4))
    coverage, precision = precision_coverage_curve(probs, truth)
    ax.plot(coverage, precision)
    ax.axhline(0.95, ls="--", color="grey")
    ax.set(
        xlabel="coverage",
        ylabel="precision of top label",
        ylim=(0, 1.02),
        title=f"{name}: precision–coverage",
    )
    files.append(save_figure(fig, out / f"{name}-precision-coverage.png"))
    return files


def save_figure(fig: Any, path: Path) -> str:
    """Write ``fig`` to ``path`` and free it; return the file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def write_report(
    out: str | Path,
    summary: Mapping[str, Any],
    curves: Mapping[str, tuple[Sequence[str], np.ndarray, np.ndarray]],
) -> Path:
    """PNG plots per repository and ``index.html`` linking them; returns the HTML path."""
    import json

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    rows, images = [], []
    for repo, (labels, truth, probs) in curves.items():
        name = repo.replace("/", "__")
        files = plot_repo(directory, name, labels, truth, probs)
        r = summary["repos"][repo]
        rows.append(
            f"<tr><td>{html.escape(repo)}</td><td>{r['n']}</td><td>{r['macro_f1']:.3f}</td>"
            f"<td>{describe_precision(r['applied_precision'])}</td><td>{r['coverage']:.3f}</td></tr>"
        )
        images.append(
            f"<h2>{html.escape(repo)}</h2>"
            + "".join(f'<a href="{f}"><img src="{f}" alt="{f}" width="320"></a>' for f in files)
        )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>Steward triage report</title></head><body>"
        f"<h1>Triage evaluation</h1><p>Mean macro F1: {summary['mean_macro_f1']:.3f}</p>"
        "<table border=1><tr><th>repo</th><th>n</th><th>macro F1</th><th>applied precision</th>"
        f"<th>coverage</th></tr>{''.join(rows)}</table>{''.join(images)}"
        f"<h2>Raw numbers</h2><pre>{html.escape(json.dumps(summary, indent=2))}</pre></body></html>"
    )
    path = directory / "index.html"
    path.write_text(page)
    return path
