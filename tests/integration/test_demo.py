"""`steward demo` (a documented command) runs, its expectations hold, and its story is
not interleaved with the services' logs (they go to a file it names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_demo_passes_and_narrates(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out, err = capfd.readouterr()
    assert "demo passed" in out and "@dave" in out and "@frank" in out
    assert "the bot's own logs go to .steward/demo.log" in out
    story = out + err
    for noise in ("WARNING", "SecurityWarning", "-------------- steward@", "Loading weights"):
        assert noise not in story, noise
    assert "celery" in Path(".steward/demo.log").read_text().lower()  # the logs are kept there
