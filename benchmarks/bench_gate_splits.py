"""Check the label gate by simulation: is a label it puts live right on the next issues?

For each of many random splits of each repository of the NLBSE'24 file into a history
(H issues, the labelled past the bootstrap reads) and the next issues (the rest: what
arrives tomorrow), the benchmark runs the product's own gate on the history
(:func:`models.triage.gate.gate_labels` over held-out probabilities) and applies every
label it put live, at its threshold, to the next issues with the bot's rule
(:func:`models.triage.calibration.labels_to_apply`, single-label). It reports, per
classifier, history size and bar: how many labels went live, their pooled precision and
coverage on the next issues, and the share of (split, live label) whose precision on
the next issues reached the bar: the gate's promise is that share ≥ its confidence.

Classifiers:

- ``nearest``: the bootstrap's nearest neighbours (GitHub's default label texts plus the
  history's labelled issues, the packaged encoder), each history item scored without
  itself, as the bootstrap gates it; the next issues scored against the whole history.
- ``linear``: a trained classifier gated as a fine-tuned model is (out-of-fold scores on
  the history, a model trained on all of it for the next issues): a logistic regression
  on the encoder's embeddings, fast enough for hundreds of splits.
- ``fine-tuned`` (``--oof FILE``): out-of-fold probabilities of the fine-tuning recipe
  for every issue of the file (``--make-oof FILE`` computes them: 5 folds, about an hour
  on two cores), gated on the history's rows, applied to the next issues' rows. A proxy:
  each row comes from a model trained on 80 % of the file.

    .venv/bin/python benchmarks/bench_gate_splits.py [--splits 40] [--history 100,200,250]
        [--targets 0.8,0.9,0.95] [--confidence 0.95] [--oof FILE] [--json FILE]

The embeddings are computed once (about a minute) and kept in ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from models.triage.calibration import labels_to_apply  # noqa: E402
from models.triage.data import LabelInfo, LabelledItem, parse_csv  # noqa: E402
from models.triage.gate import GatePolicy, gate_labels  # noqa: E402

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")
#: GitHub's default labels for the file's three labels (``feature`` is ``enhancement``).
LABELS = [
    LabelInfo("bug", "Something isn't working"),
    LabelInfo("enhancement", "New feature or request"),
    LabelInfo("question", "Further information is requested"),
]
RENAME = {"feature": "enhancement"}
NAMES = [label.name for label in LABELS]
START = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr with the time since the start."""
    print(f"[{time.monotonic() - START:6.1f}s] {message}", file=sys.stderr, flush=True)


def load(path: Path) -> dict[str, list[LabelledItem]]:
    """The file's issues per repository, oldest first, labels renamed to GitHub's."""
    items = parse_csv(path.read_text(encoding="utf-8"))
    out: dict[str, list[LabelledItem]] = {}
    for it in items:
        labels = tuple(RENAME.get(lab, lab) for lab in it.labels)
        out.setdefault(it.repo, []).append(
            LabelledItem(
                it.repo, it.title, it.body, labels, it.created_at, len(out.get(it.repo, []))
            )
        )
    return {repo: sorted(rows, key=lambda r: r.created_at) for repo, rows in sorted(out.items())}


class MemoEncoder:
    """The packaged encoder behind a text → vector memo (kept in ``cache`` between runs),
    so every split's classifier reuses the same embeddings.
    """

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.rows: dict[str, np.ndarray] = {}
        if cache.is_file():
            data = np.load(cache, allow_pickle=False)
            self.rows = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
        self._encoder: Any = None

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of ``texts``, embedding only those never seen."""
        missing = sorted({t for t in texts if t not in self.rows})
        if missing:
            self._embed(missing)
        return np.stack([self.rows[t] for t in texts])

    def _embed(self, texts: list[str]) -> None:
        if self._encoder is None:
            from models.defaults import packaged_model_path
            from models.encoder import get_encoder

            self._encoder = get_encoder(packaged_model_path())
        say(f"embedding {len(texts)} texts with the packaged encoder")
        vectors = np.asarray(self._encoder.encode(texts), dtype=np.float32)
        self.rows.update(zip(texts, vectors, strict=True))
        np.savez(
            self.cache, texts=np.array(list(self.rows)), vectors=np.stack(list(self.rows.values()))
        )


# ----------------------------------------------------------------------- the splits


@dataclass(frozen=True)
class Split:
    """One repository's history (oldest first) and next issues, by row of :func:`load`."""

    repo: str
    history: np.ndarray
    upcoming: np.ndarray


def splits(
    groups: Mapping[str, list[LabelledItem]], size: int, count: int, seed: int
) -> list[Split]:
    """``count`` random splits of every repository: ``size`` issues of history, the rest
    next (each split its own seed, so runs are repeatable).
    """
    out = []
    for k in range(count):
        for repo, rows in groups.items():
            order = np.random.default_rng(seed + k).permutation(len(rows))
            out.append(Split(repo, np.sort(order[:size]), np.sort(order[size:])))
    return out


Scores = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # history p, t; next p, t


def truth_of(items: Sequence[LabelledItem]) -> np.ndarray:
    """0/1 matrix items × :data:`NAMES`."""
    return np.array([[int(n in it.labels) for n in NAMES] for it in items], dtype=int)


def nearest_scores(items: list[LabelledItem], split: Split, encoder: MemoEncoder) -> Scores:
    """The bootstrap's nearest neighbours: history held out one by one, next issues
    against the whole history.
    """
    from models.triage.zeroshot import ZeroShotClassifier

    history = [items[i] for i in split.history]
    upcoming = [items[i] for i in split.upcoming]
    clf = ZeroShotClassifier(LABELS, history, encoder=encoder).fit()
    nxt = np.array([[p[n] for n in NAMES] for p in clf.predict(upcoming)])
    return clf.held_out_probs(), truth_of(clf.examples), nxt, truth_of(upcoming)


def linear_scores(items: list[LabelledItem], split: Split, encoder: MemoEncoder) -> Scores:
    """A trained classifier gated the way a fine-tuned model is: a logistic regression on
    the encoder's embeddings, the history scored out of fold (5 folds), the next issues
    by a model trained on the whole history.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from models.triage.text import prepare_text

    def vectors(rows: Sequence[LabelledItem]) -> np.ndarray:
        return encoder.encode([prepare_text(it.title, it.body) for it in rows])

    history = [items[i] for i in split.history]
    upcoming = [items[i] for i in split.upcoming]
    x, truth = vectors(history), truth_of(history)
    y = truth.argmax(axis=1)
    model = LogisticRegression(C=4.0, max_iter=2000)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    held = cross_val_predict(model, x, y, cv=folds, method="predict_proba")
    nxt = model.fit(x, y).predict_proba(vectors(upcoming))
    return held, truth, nxt, truth_of(upcoming)


def oof_scores(oof: Mapping[str, np.ndarray], items: list[LabelledItem], split: Split) -> Scores:
    """The fine-tuning recipe's out-of-fold probabilities of the split's rows."""
    probs = oof[split.repo]
    history = [items[i] for i in split.history]
    upcoming = [items[i] for i in split.upcoming]
    return probs[split.history], truth_of(history), probs[split.upcoming], truth_of(upcoming)


# ------------------------------------------------------------------------ the tally


@dataclass
class Tally:
    """What the labels a gate put live did on the next issues, over many splits."""

    label_splits: int = 0
    live: int = 0
    judged: int = 0  # live labels applied at least once to the next issues
    reached: int = 0  # of those, right at least `target` of the time
    consistent: int = 0  # of those, not significantly below `target` on the next issues
    applied: int = 0
    right: int = 0
    upcoming: int = 0
    covered: int = 0
    misses: list[tuple[str, str, int, int]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The numbers of one table row."""
        return {
            "label_splits": self.label_splits,
            "live": self.live,
            "judged": self.judged,
            "share_reached": self.reached / self.judged if self.judged else None,
            "share_consistent": self.consistent / self.judged if self.judged else None,
            "precision": self.right / self.applied if self.applied else None,
            "coverage": self.covered / self.upcoming if self.upcoming else 0.0,
            "applied_per_live": self.applied / self.live if self.live else None,
            "misses": self.misses[:8],
        }


def upper_bound(correct: int, applied: int, confidence: float) -> float:
    """One-sided Clopper–Pearson upper bound: how precise a label could be and still show
    these counts (a label at the bar misses it on a dozen items one time in two).
    """
    from scipy.stats import beta

    if correct >= applied:
        return 1.0
    return float(beta.ppf(confidence, correct + 1, applied - correct))


def judge_split(scores: Scores, policy: GatePolicy, tally: Tally, repo: str) -> None:
    """Gate on the history, apply the live labels to the next issues, count."""
    hist_p, hist_t, next_p, next_t = scores
    gates = gate_labels(hist_p, hist_t, NAMES, policy=policy, single_label=True)
    live = {name: g.threshold for name, g in gates.items() if g.live}
    tally.label_splits += len(NAMES)
    tally.live += len(live)
    tally.upcoming += len(next_p)
    per_label = {name: [0, 0] for name in live}
    for row, truth in zip(next_p, next_t, strict=True):
        chosen = labels_to_apply(
            dict(zip(NAMES, row.tolist(), strict=True)), live, single_label=True
        )
        tally.covered += bool(chosen)
        for name in chosen:
            per_label[name][0] += 1
            per_label[name][1] += int(truth[NAMES.index(name)])
    for name, (applied, right) in per_label.items():
        tally.applied, tally.right = tally.applied + applied, tally.right + right
        if applied:
            tally.judged += 1
            tally.reached += right / applied >= policy.target
            tally.consistent += upper_bound(right, applied, policy.confidence) >= policy.target
            if right / applied < policy.target:
                tally.misses.append((repo, name, right, applied))


# ------------------------------------------------------------------- fine-tuning OOF


def make_oof(groups: Mapping[str, list[LabelledItem]], out: Path, folds: int = 5) -> None:
    """Out-of-fold probabilities of the fine-tuning recipe for every issue of the file
    (``folds`` fine-tunings, each on the other folds of every repository).
    """
    import os

    from models.defaults import base_model
    from models.triage.finetune import TrainConfig, make_tasks
    from models.triage.train import out_of_fold

    cfg = TrainConfig(base_model=base_model(os.environ), progress=False)
    tasks = make_tasks(groups)
    oof = out_of_fold(groups, tasks, cfg, folds, log=say)
    for repo, task in tasks.items():
        if task.labels != NAMES:
            raise SystemExit(f"{repo}: labels {task.labels}, expected {NAMES}")
    arrays: dict[str, Any] = {repo.replace("/", "__"): probs for repo, probs in oof.items()}
    np.savez(out, **arrays)


def read_oof(path: Path, groups: Mapping[str, list[LabelledItem]]) -> dict[str, np.ndarray]:
    """:func:`make_oof`'s file, one array (issues × labels) per repository."""
    data = np.load(path, allow_pickle=False)
    out = {}
    for repo, rows in groups.items():
        probs = data[repo.replace("/", "__")]
        if probs.shape != (len(rows), len(NAMES)):
            raise SystemExit(f"{path}: {repo} has shape {probs.shape}, not {(len(rows), 3)}")
        out[repo] = probs
    return out


# ------------------------------------------------------------------------------ main


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every classifier × history size × bar, over ``--splits`` splits."""
    groups = load(args.data)
    encoder = MemoEncoder(args.cache)
    classifiers: dict[str, Callable[[list[LabelledItem], Split], Scores]] = {
        "nearest": lambda items, split: nearest_scores(items, split, encoder),
        "linear": lambda items, split: linear_scores(items, split, encoder),
    }
    from models.triage.zeroshot import ZeroShotClassifier

    everything = [it for rows in groups.values() for it in rows]
    ZeroShotClassifier(LABELS, everything, encoder=encoder).fit()  # embed all at once
    if args.oof:
        oof = read_oof(args.oof, groups)
        classifiers["fine-tuned"] = lambda items, split: oof_scores(oof, items, split)
    targets = [float(t) for t in args.targets.split(",")]
    results = []
    for name, scorer in classifiers.items():
        for size in [int(h) for h in args.history.split(",")]:
            tallies = {t: Tally() for t in targets}
            for split in splits(groups, size, args.splits, args.seed):
                scores = scorer(groups[split.repo], split)
                for target in targets:
                    policy = GatePolicy(target=target, confidence=args.confidence)
                    judge_split(scores, policy, tallies[target], split.repo)
            say(f"{name} H={size}: {args.splits} splits × {len(groups)} repositories done")
            for target, tally in tallies.items():
                results.append(
                    {"classifier": name, "history": size, "target": target, **tally.row()}
                )
    return results


def fmt(value: Any, digits: int = 3) -> str:
    """A number for the table ('-' for none)."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(results: Sequence[Mapping[str, Any]], confidence: float) -> None:
    """One row per classifier × history size × bar."""
    print(
        f"{'classifier':>11} {'H':>4} {'bar':>5} {'live':>9} {'judged':>6} "
        f"{'reached':>8} {'consistent':>10} {'precision':>9} {'coverage':>8} {'per live':>8}"
    )
    for r in results:
        print(
            f"{r['classifier']:>11} {r['history']:>4} {r['target']:>5.2f} "
            f"{r['live']:>4}/{r['label_splits']:<4} {r['judged']:>6} "
            f"{fmt(r['share_reached']):>8} {fmt(r['share_consistent']):>10} "
            f"{fmt(r['precision']):>9} {fmt(r['coverage']):>8} "
            f"{fmt(r['applied_per_live'], 1):>8}"
        )
    print(
        f"\nlive: (split, label) pairs the gate put live; judged: of those, applied at least "
        f"once to the next issues; reached: share of the judged whose precision on the next "
        f"issues reached the bar; consistent: share of the judged whose next issues do not "
        f"show, with {confidence:.0%} confidence, a precision below the bar (the gate's "
        f"promise: at least {confidence:.2f}; 'reached' also counts the noise of a dozen "
        f"next applications); precision and coverage pooled over the next issues of every "
        f"split."
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the NLBSE'24 CSV file")
    parser.add_argument("--splits", type=int, default=40, help="random splits per repository")
    parser.add_argument("--history", default="100,200,250", help="history sizes")
    parser.add_argument("--targets", default="0.8,0.9,0.95", help="bars (triage.precision)")
    parser.add_argument("--confidence", type=float, default=0.95, help="triage.confidence")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oof", type=Path, default=None, help="fine-tuning OOF file")
    parser.add_argument("--make-oof", type=Path, default=None, help="write the OOF file")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/steward-gate-splits-vectors.npz"))
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate, print the table."""
    args = parse_args(argv)
    if not args.data.is_file():
        print(f"no data file at {args.data} (--data)", file=sys.stderr)
        return 2
    if args.make_oof:
        make_oof(load(args.data), args.make_oof)
        args.oof = args.make_oof
    results = run(args)
    print_table(results, args.confidence)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"total {time.monotonic() - START:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
