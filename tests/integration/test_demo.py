"""`steward demo` (a documented command) runs and its expectations hold."""

from __future__ import annotations

import pytest

from app.cli import main

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_demo_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "demo passed" in out and "@dave" in out and "@frank" in out
