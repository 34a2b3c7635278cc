"""Data that cannot train a classifier is refused up front, with every reason listed,
and ``steward train`` / ``evaluate`` say so in one line and exit 2 instead of a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.triage.cli import main
from models.triage.data import DatasetError, LabelledItem
from models.triage.finetune import TrainConfig
from models.triage.train import check_trainable, train_models, trainability_problems


def items(repo: str, *labels: str) -> list[LabelledItem]:
    return [LabelledItem(repo, f"t{i}", "", (lab,)) for i, lab in enumerate(labels)]


@pytest.mark.parametrize(
    ("groups", "folds", "expected"),
    [
        ({"o/r": items("o/r", "bug", "feature", "bug", "feature")}, 2, []),
        ({"o/r": items("o/r", "bug", "feature")}, 0, []),
        ({"o/r": items("o/r", "bug", "bug", "bug")}, 2, ["o/r: labels found: bug;"]),
        ({"o/r": []}, 0, ["o/r: labels found: none;"]),
        (
            {"o/r": items("o/r", "bug", "feature"), "o/s": items("o/s", "bug", "question")},
            3,
            ["o/r: 2 labelled issue(s) cannot be split into 3 folds", "o/s: 2 labelled"],
        ),
    ],
)
def test_trainability_problems(
    groups: dict[str, list[LabelledItem]], folds: int, expected: list[str]
) -> None:
    problems = trainability_problems(groups, folds)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


def test_train_models_refuses_before_loading_any_model() -> None:
    cfg = TrainConfig(base_model="/nonexistent/model", calibration_folds=2, progress=False)
    with pytest.raises(DatasetError, match="needs at least two labels"):
        train_models(items("o/r", "bug", "bug"), cfg, log=lambda _: None)
    check_trainable({"o/r": items("o/r", "bug", "feature")}, 2)  # no error


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("x/y,,bug,t,b\nx/y,,bug,u,b\n", "x/y: labels found: bug"),
        ("x/y,,,t,b\n", "no labelled issues"),
    ],
)
def test_cli_train_prints_the_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, message: str
) -> None:
    data = tmp_path / "issues.csv"
    data.write_text("repo,created_at,label,title,body\n" + rows)
    code = main(["train", "--data", str(data), "--per-repo", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_evaluate_on_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["evaluate", "--model", str(tmp_path), "--data", str(tmp_path / "nope.csv")])
    assert code == 2
    assert "error: cannot read" in capsys.readouterr().err
