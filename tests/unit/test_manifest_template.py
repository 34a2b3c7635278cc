"""Where ``steward serve`` finds Probot's ``app.yml``: the current folder, the source tree,
or the copy ``pip install`` puts under ``<prefix>/share/steward``."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import setup

REPO_APP_YML = Path(__file__).resolve().parents[2] / "app.yml"


@pytest.mark.parametrize(
    ("in_cwd", "in_source", "installed", "expected"),
    [
        ("cwd", "source", "installed", "cwd"),
        (None, "source", "installed", "source"),
        (None, None, "installed", "installed"),
        (None, None, None, None),
    ],
)
def test_manifest_search_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_cwd: str | None,
    in_source: str | None,
    installed: str | None,
    expected: str | None,
) -> None:
    places = {"cwd": tmp_path / "cwd", "source": tmp_path / "src", "installed": tmp_path / "share"}
    for name, where in places.items():
        where.mkdir()
        if name in (in_cwd, in_source, installed):
            (where / "app.yml").write_text(f"name: from-{name}\n")
    monkeypatch.chdir(places["cwd"])
    monkeypatch.setattr(setup, "APP_YML", places["source"] / "app.yml")
    monkeypatch.setattr(setup, "INSTALLED_APP_YML", places["installed"] / "app.yml")
    if expected is None:
        with pytest.raises(FileNotFoundError, match=r"app\.yml not found"):
            setup.load_manifest_template()
    else:
        assert setup.load_manifest_template() == {"name": f"from-{expected}"}


def test_shipped_manifest_is_installed_as_data_file() -> None:
    import tomllib

    pyproject = tomllib.loads((REPO_APP_YML.parent / "pyproject.toml").read_text())
    data_files = pyproject["tool"]["setuptools"]["data-files"]
    assert data_files == {"share/steward": ["app.yml"]}
    assert setup.INSTALLED_APP_YML.parts[-3:] == ("share", "steward", "app.yml")
    assert setup.load_manifest_template(REPO_APP_YML)["default_permissions"]
