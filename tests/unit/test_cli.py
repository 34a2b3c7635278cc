"""The ``steward`` command line's own options."""

from __future__ import annotations

import pytest

from app.cli import installed_version, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"steward {installed_version()}"
    assert installed_version() != "unknown"  # installed by `make` (pip install -e)
