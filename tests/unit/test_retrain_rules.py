"""Scheduled retraining's pure rules (``workers/retrain/decide.py`` and the retrain
flow's plain functions) as tables: when a candidate is promoted, scores on an older
vocabulary, the data fingerprint and version numbers, one job per org, the training
precision. Versions on disk and retraining end to end are in
tests/integration/test_retrain.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.settings import load_settings
from models.triage.plan import RetrainPolicy
from tests.unit.test_training_plan import item
from workers.modelstore import next_version, version_of
from workers.retrain.decide import Score, align_probs, already_trained, data_fingerprint, promotion
from workers.retrain.flow import default_train_config, retrain_jobs

POLICY = RetrainPolicy(margin=0.01, precision_tolerance=0.02)


@pytest.mark.parametrize(
    ("candidate", "current", "promote", "why"),
    [
        pytest.param(Score(0.50, 1.0), None, True, "no live model", id="first model"),
        pytest.param(Score(0.70, 0.9, 5), Score(0.60, 0.9, 5), True, "beats", id="better"),
        pytest.param(Score(0.605, 0.9, 5), Score(0.60, 0.9, 5), False, "does not beat", id="tiny"),
        pytest.param(Score(0.60, 0.9, 5), Score(0.60, 0.9, 5), False, "does not beat", id="equal"),
        pytest.param(Score(0.50, 0.9, 5), Score(0.60, 0.9, 5), False, "does not beat", id="worse"),
        pytest.param(
            Score(0.90, 0.85, 5), Score(0.60, 0.90, 5), False, "precision", id="less precise"
        ),
        pytest.param(
            Score(0.90, 0.89, 5), Score(0.60, 0.90, 5), True, "beats", id="within tolerance"
        ),
        pytest.param(
            Score(0.90, 1.0, 0), Score(0.60, 0.99, 9), True, "beats", id="applies nothing"
        ),
    ],
)
def test_promotion_rule(candidate: Score, current: Score | None, promote: bool, why: str) -> None:
    decision = promotion(candidate, current, POLICY)
    assert decision.promote is promote and why in decision.reason


@pytest.mark.parametrize(
    ("candidate", "current", "promote", "why"),
    [
        pytest.param(Score(0.60, 0.9, 5), Score(0.60, 0.9, 5), True, "shared encoder", id="equal"),
        pytest.param(Score(0.595, 0.9, 5), Score(0.60, 0.9, 5), True, "holds", id="within margin"),
        pytest.param(Score(0.58, 0.9, 5), Score(0.60, 0.9, 5), False, "does not beat", id="worse"),
        pytest.param(
            Score(0.60, 0.85, 5), Score(0.60, 0.90, 5), False, "precision", id="less precise"
        ),
    ],
)
def test_promotion_of_a_repository_carried_along_in_its_orgs_training(
    candidate: Score, current: Score, promote: bool, why: str
) -> None:
    """Same data, new shared encoder: it moves when it is not worse (one encoder per org)."""
    decision = promotion(candidate, current, POLICY, same_data=True)
    assert decision.promote is promote and why in decision.reason


def test_align_probs_scores_an_older_vocabulary_on_the_same_columns() -> None:
    probs = np.array([[0.7, 0.3], [0.2, 0.8]])
    aligned = align_probs(["bug", "old"], probs, ["feature", "bug"])
    np.testing.assert_allclose(aligned, [[0.0, 0.7], [0.0, 0.2]], rtol=1e-6)


def test_fingerprint_and_versions() -> None:
    items = [item(1, "bug"), item(2, "feature")]
    fp = data_fingerprint(items, ["bug", "feature"])
    assert fp.startswith("sha256:") and fp == data_fingerprint(list(items), ["bug", "feature"])
    assert fp != data_fingerprint(items[:1], ["bug", "feature"])
    assert fp != data_fingerprint(items, ["bug"])
    rows = [
        {"path": "/m/.versions/o__r/1", "fingerprint": "a"},
        {"path": "/x/2", "fingerprint": fp},
    ]
    assert already_trained(fp, rows) == 2 and already_trained("c", rows) is None
    assert version_of({"path": "/m/live"}) is None
    assert next_version(["1", "3", ".tmp-x", "2"]) == 4 and next_version([]) == 1


def test_retrain_jobs_are_one_per_org() -> None:
    """An org's repositories are trained together; the same owner under another
    installation (a user and an org of one name cannot be, but a re-install can) is not.
    """
    jobs = retrain_jobs([(7, "o/a"), (7, "o/b"), (7, "p/c"), (9, "o/d"), (7, "o/e")])
    assert [(j.installation_id, j.owner, j.repo, j.together) for j in jobs] == [
        (7, "o", "a", ("b", "e")),
        (7, "p", "c", ()),
        (9, "o", "d", ()),
    ]


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_scheduled_retraining_uses_the_deployment_precision(precision: str) -> None:
    settings = load_settings({"STEWARD_PRECISION": precision}, env_file=Path("/nonexistent.env"))
    assert default_train_config(settings).precision == precision
