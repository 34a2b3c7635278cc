"""The learned combination of reviewer signals, trained on the repository's own past.

Every change added to the index first becomes a training example: features of the
candidates as they were *before* the change (positives: its actual reviewers; negatives: the
strongest other candidates plus a few random ones). A standardised linear model is
refitted on a schedule, so a suggestion for change ``i`` only uses weights learned from
changes merged before ``i``. The default objective is pairwise (RankNet-style: a reviewer
should outrank the non-reviewers of the same change), which ranked better than pointwise
logistic regression on every replay window tried; scores are Platt-calibrated so that load
discounts act on probabilities. Until enough history exists, a fixed prior (mean of the
relative signals) ranks candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from models.reviewers.features import FEATURES, RELATIVE, feature_names


@dataclass(frozen=True)
class RankerConfig:
    """Training schedule and sampling of the online ranker."""

    min_examples: int = 30  # changes with a positive before the first fit
    refit_share: float = 0.1  # refit when this share of new changes has arrived
    refit_min: int = 25  # ... but never more often than every this many changes
    hard_negatives: int = 15  # top-scored non-reviewers kept per change
    random_negatives: int = 10
    regularization: float = 1.0  # inverse L2 strength (sklearn ``C``)
    max_train_changes: int = 3000  # fit on the most recent changes' examples only
    pairwise: bool = True  # learn from (reviewer, non-reviewer) pairs of the same change
    seed: int = 0


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float,
    start: np.ndarray | None = None,
    intercept: bool = True,
) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method.

    Returns ``[coef..., intercept]`` (or only the coefficients with ``intercept=False``).
    A handful of Newton steps converge on ~30 standardised features; warm-starting from the
    previous fit makes refits cheaper still. The intercept is not regularised.
    """
    design = np.hstack([x, np.ones((len(x), 1))]) if intercept else x
    weights = np.zeros(design.shape[1]) if start is None else start.copy()
    penalty = np.full(design.shape[1], l2)
    if intercept:
        penalty[-1] = 0.0
    target = y.astype(float)
    # One BLAS thread: these matrices are small, and threads contending on a shared CPU
    # made each fit ~15x slower.
    with threadpool_limits(limits=1):
        return _newton(design, target, weights, penalty)


def _penalised_loss(
    design: np.ndarray, target: np.ndarray, weights: np.ndarray, penalty: np.ndarray
) -> float:
    logits = design @ weights
    # log(1 + exp(z)) - y z, computed stably.
    loss = np.logaddexp(0.0, logits) - target * logits
    return float(loss.sum() + 0.5 * (penalty * weights * weights).sum())


def _newton(
    design: np.ndarray, target: np.ndarray, weights: np.ndarray, penalty: np.ndarray
) -> np.ndarray:
    """Damped Newton iterations of the penalised logistic loss, from ``weights``.

    Plain Newton can overshoot from a warm start on nearly separable data, so each step is
    halved until the loss decreases.
    """
    loss = _penalised_loss(design, target, weights, penalty)
    for _ in range(50):
        prob = 1.0 / (1.0 + np.exp(-np.clip(design @ weights, -30.0, 30.0)))
        gradient = design.T @ (prob - target) + penalty * weights
        curvature = prob * (1.0 - prob) + 1e-9
        hessian = (design * curvature[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        for _ in range(20):
            candidate = weights - step
            new_loss = _penalised_loss(design, target, candidate, penalty)
            if new_loss <= loss + 1e-12:
                break
            step = step / 2.0
        else:
            break  # no descent possible: converged to numerical precision
        weights, loss = candidate, new_loss
        if np.abs(step).max() < 1e-6:
            break
    return weights


def prior_scores(features: np.ndarray) -> np.ndarray:
    """Cold-start score in ``[0, 1]``: mean of the relative signals."""
    start = FEATURES.index(f"rel_{RELATIVE[0]}")
    prior: np.ndarray = features[:, start : start + len(RELATIVE)].mean(axis=1)
    return prior


class OnlineRanker:
    """Logistic regression over candidate features, refitted as history grows."""

    def __init__(self, config: RankerConfig | None = None) -> None:
        """Create an untrained ranker."""
        self.config = config or RankerConfig()
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._observed = 0
        self._fitted_at = 0
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._weights: np.ndarray | None = None
        self._direction: np.ndarray | None = None  # pairwise weights before calibration

    @property
    def trained(self) -> bool:
        """True once a model has been fitted."""
        return self._weights is not None

    def observe(self, features: np.ndarray, labels: np.ndarray, key: int) -> None:
        """Record one change's candidates (``labels`` true for its reviewers); maybe refit.

        ``key`` seeds the negative sampling so that rebuilding gives identical examples.
        """
        if not labels.any() or labels.all():
            return
        negatives = np.flatnonzero(~labels)
        prior = prior_scores(features[negatives])
        hard = negatives[np.argsort(-prior, kind="stable")[: self.config.hard_negatives]]
        rest = np.setdiff1d(negatives, hard)
        rng = np.random.default_rng([self.config.seed, key])
        easy = rng.choice(rest, size=min(len(rest), self.config.random_negatives), replace=False)
        keep = np.concatenate([np.flatnonzero(labels), hard, easy])
        self._x.append(features[keep])
        self._y.append(labels[keep])
        self._observed += 1
        self._maybe_fit()

    def _maybe_fit(self) -> None:
        due = max(self.config.refit_min, int(self.config.refit_share * self._fitted_at))
        if self._observed >= self.config.min_examples and self._observed - self._fitted_at >= due:
            self.fit()

    def fit(self) -> None:
        """Fit on every example observed so far."""
        # Old examples beyond the window are dropped: they also describe an older team.
        del self._x[: -self.config.max_train_changes], self._y[: -self.config.max_train_changes]
        x, y = np.vstack(self._x), np.concatenate(self._y)
        self._mean = x.mean(axis=0)
        self._scale = np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
        if self.config.pairwise:
            self._weights = self._fit_pairwise()
        else:
            self._weights = fit_logistic(
                (x - self._mean) / self._scale,
                y,
                l2=1.0 / self.config.regularization,
                start=self._weights,
            )
        self._fitted_at = self._observed

    def _fit_pairwise(self) -> np.ndarray:
        """Pairwise logistic loss (RankNet) on reviewer minus non-reviewer of the same change.

        ``P(reviewer ranked above non-reviewer) = sigmoid(w . (x_r - x_n))``: every pair is a
        positive example without intercept. A 1-D Platt fit then turns ``w . x`` into a
        probability, so load discounts keep working on a meaningful scale.
        """
        assert self._mean is not None and self._scale is not None
        diffs = []
        for x, y in zip(self._x, self._y, strict=True):
            z = (x - self._mean) / self._scale
            diffs.append((z[y][:, None, :] - z[~y][None, :, :]).reshape(-1, z.shape[1]))
        pairs = np.vstack(diffs)
        self._direction = fit_logistic(
            pairs,
            np.ones(len(pairs), dtype=bool),
            l2=1.0 / self.config.regularization,
            start=self._direction,
            intercept=False,
        )
        x, y = np.vstack(self._x), np.concatenate(self._y)
        raw = ((x - self._mean) / self._scale) @ self._direction
        slope, offset = fit_logistic(raw[:, None], y, l2=1e-6)
        return np.concatenate([self._direction * slope, [offset]])

    def score(self, features: np.ndarray) -> np.ndarray:
        """Probability-like scores in ``(0, 1)`` for candidate rows."""
        if self._weights is None or len(features) == 0:
            return prior_scores(features)
        logits = ((features - self._mean) / self._scale) @ self._weights[:-1] + self._weights[-1]
        proba: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
        return proba

    def weights(self) -> dict[str, float]:
        """Learned weight per feature (on standardised inputs), for inspection."""
        if self._weights is None:
            return {}
        names = feature_names(len(self._weights) - 1)
        return dict(zip(names, map(float, self._weights[:-1]), strict=True))
