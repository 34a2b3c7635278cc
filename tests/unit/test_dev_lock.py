"""The lock `make` installs for the tests and CI (issue 24, item 10): every package pinned
with hashes, every dependency and test tool of ``pyproject.toml`` in it, and the same pin
as the image's lock for every package they share; `make` installs it hash-checked.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    """``name → version`` of a lock written by ``uv pip compile --generate-hashes``; each
    pinned block must carry its hashes."""
    text = path.read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if re.match(r"[A-Za-z0-9_.\-]+==", block):
            assert "--hash=sha256:" in block, block[:80]
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.M)
    return {name.lower().replace("_", "-"): version for name, version in found}


def names(specs: list[str]) -> set[str]:
    """The distribution names of requirement strings."""
    return {
        re.match(r"[A-Za-z0-9_.\-]+", spec)[0].lower().replace("_", "-")  # type: ignore[index]
        for spec in specs
    }


def test_the_dev_lock_holds_every_dependency_with_the_images_pins() -> None:
    dev = pins(ROOT / "deploy" / "requirements-dev.lock")
    image = pins(ROOT / "deploy" / "requirements.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = names(project["dependencies"]) | names(project["optional-dependencies"]["dev"])
    assert sorted(wanted - {"torch"} - set(dev)) == []  # else: run deploy/lock.sh
    assert {name: dev.get(name) for name in image} == image
    assert not [n for n in dev if n == "torch" or n.startswith(("nvidia-", "cuda-", "triton"))]


def test_make_installs_the_lock_hash_checked() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^\$\(STAMP\):(.*)\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe is not None
    assert "deploy/requirements-dev.lock" in recipe[1]  # a new lock reinstalls
    assert "deploy/install-dev.sh $(BIN)/python" in recipe[2]
    script = (ROOT / "deploy" / "install-dev.sh").read_text()
    assert '--require-hashes --no-deps -r "$lock"' in script
    assert "lock=deploy/requirements-dev.lock" in script
    assert "deploy/requirements-dev.lock" in (ROOT / "deploy" / "lock.sh").read_text()
