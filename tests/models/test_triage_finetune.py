"""One small real fine-tuning run: loss goes down, save/load predicts identically, CLI works."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from models.defaults import base_model
from models.triage.cli import main
from models.triage.data import LabelledItem, load_items, repo_dirname
from models.triage.finetune import FineTuned, TrainConfig, fine_tune, make_tasks
from tests.conftest import shared_data

pytestmark = pytest.mark.slow

REPOS = ("bitcoin/bitcoin", "facebook/react")


@pytest.fixture(scope="module")
def small() -> dict[str, list[LabelledItem]]:
    items = [it for it in load_items(shared_data("issues/nlbse24-train.csv")) if it.repo in REPOS]
    random.Random(0).shuffle(items)
    return {repo: [it for it in items if it.repo == repo][:24] for repo in REPOS}


@pytest.fixture(scope="module")
def tuned(small: dict[str, list[LabelledItem]]) -> FineTuned:
    cfg = TrainConfig(
        base_model=base_model({}),
        epochs=2,
        batch_size=8,
        max_length=32,
        lr=1e-4,
        head_lr=1e-2,
        progress=False,
        device="cpu",
    )
    return fine_tune(small, make_tasks(small), cfg)


def test_training_loss_decreases(tuned: FineTuned) -> None:
    losses = tuned.step_losses
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_saved_model_predicts_like_the_trained_one(
    tuned: FineTuned, small: dict[str, list[LabelledItem]], tmp_path: Path
) -> None:
    from models.triage.model import TriageModel

    repo = REPOS[0]
    model = tuned.to_model(
        repo, {"bug": 0.5, "feature": 0.5, "question": 0.5}, fingerprint="sha256:x"
    )
    model.save(tmp_path / "m")
    loaded = TriageModel.load(tmp_path / "m")
    before, after = model.predict_proba(small[repo]), loaded.predict_proba(small[repo])
    np.testing.assert_allclose(before, after, atol=1e-5)
    assert loaded.meta.thresholds == {"bug": 0.5, "feature": 0.5, "question": 0.5}
    assert loaded.meta.fingerprint == "sha256:x" and loaded.labels == ["bug", "feature", "question"]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["label2id"] == {"bug": 0, "feature": 1, "question": 2}
    assert not list((tmp_path / "m").glob("*.bin")) and not list((tmp_path / "m").glob("*.pkl"))


def test_an_encoder_store_holds_one_encoder_for_many_repositories(
    tuned: FineTuned, small: dict[str, list[LabelledItem]], tmp_path: Path
) -> None:
    """Models fine-tuned together keep one encoder on disk and one in memory."""
    from models.triage.model import ENCODERS_DIR, TriageModel, load_cached

    store = tmp_path / "models" / ENCODERS_DIR
    folders = {repo: tmp_path / "models" / ".versions" / repo_dirname(repo) / "1" for repo in REPOS}
    for repo, folder in folders.items():
        tuned.to_model(repo).save(folder, encoders=store)
    [encoder_dir] = list(store.iterdir())
    assert (encoder_dir / "model.safetensors").is_file() and (
        encoder_dir / "tokenizer.json"
    ).is_file()
    for folder in folders.values():
        assert not (folder / "config.json").exists()
        assert sum(f.stat().st_size for f in folder.iterdir()) < 100_000  # a head, not 87 MB
    first, second = (load_cached(folder) for folder in folders.values())
    assert first.encoder is second.encoder
    repo = REPOS[0]
    expected = tuned.to_model(repo).predict_proba(small[repo])
    np.testing.assert_allclose(first.predict_proba(small[repo]), expected, atol=1e-5)

    moved = tmp_path / "elsewhere"
    folders[repo].rename(moved)  # a version folder copied without its model dir
    with pytest.raises(FileNotFoundError, match=ENCODERS_DIR):
        TriageModel.load(moved)


def test_cli_evaluate_json_and_classify(
    tuned: FineTuned,
    small: dict[str, list[LabelledItem]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for repo in REPOS:
        tuned.to_model(repo).save(tmp_path / "models" / repo_dirname(repo))
    data = tmp_path / "eval.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["repo", "created_at", "label", "title", "body"])
        for it in small[REPOS[0]][:5] + small[REPOS[1]][:5]:
            writer.writerow([it.repo, it.created_at, it.labels[0], it.title, it.body])
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(tmp_path / "models"),
                "--data",
                str(data),
                "--json",
                "--report",
                str(tmp_path / "report"),
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert set(result["repos"]) == set(REPOS)
    for scores in result["repos"].values():
        assert {"macro_f1", "applied_precision", "coverage"} <= set(scores)
    assert isinstance(result["mean_macro_f1"], float)
    assert (tmp_path / "report" / "index.html").is_file()

    assert (
        main(
            [
                "classify",
                "--repo",
                REPOS[0],
                "--model",
                str(tmp_path / "models" / repo_dirname(REPOS[0])),
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "Node crashes on startup",
                "segfault in validation.cpp",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "applied: (none)" in out  # uncalibrated models apply nothing
    assert "never applied" in out and "threshold 1.0" not in out  # and say so
    other = str(tmp_path / "models" / repo_dirname(REPOS[1]))
    assert main(["classify", "--repo", REPOS[0], "--model", other, "Crash", "on start"]) == 2
    assert f"is {REPOS[1]}'s model" in capsys.readouterr().err
    from models.triage.model import TriageModel

    fp32 = TriageModel.load(
        tmp_path / "models" / repo_dirname(REPOS[0]), device="cpu", precision="fp32"
    )
    issue = LabelledItem(REPOS[0], "Node crashes on startup", "segfault in validation.cpp")
    for label, p in fp32.predict([issue])[0].items():
        assert f"{label:20s} {p:.3f}" in out


def test_the_packaged_base_model_is_recorded_by_name(tuned: FineTuned, tmp_path: Path) -> None:
    """triage.json names the base model people know, not a folder in this virtualenv."""
    tuned.to_model(REPOS[0]).save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "triage.json").read_text())
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["train_config"]["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
