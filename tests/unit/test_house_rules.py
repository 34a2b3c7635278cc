"""The house rules of docs/ARCHITECTURE.md, checked on the source itself.

- what may import what: ``core`` is the floor, ``workers`` and ``models`` never import
  the web process, and nothing in the product imports the fake GitHub;
- no function longer than 50 lines in the product packages;
- no more than three positional parameters in ``app``, ``workers`` and ``core`` (more
  read better as keywords).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("app", "workers", "models", "core")

#: Package → top-level packages it must never import. The web process (``app``) reaches
#: the workers only through the queue; ``app/cli.py`` composes their commands by name.
FORBIDDEN = {
    "app": {"workers", "models"},
    "core": {"app", "workers", "models", "fakegithub"},
    "workers": {"app", "fakegithub"},
    "models": {"app", "workers", "core", "fakegithub"},
    "fakegithub": {"app", "workers", "models", "core"},
}


#: Modules a package may import although their package is forbidden to it: the one rule
#: of who is a bot (pure, no I/O) is core's, and the reviewer library asks it too.
EXCEPT = {"models": {"core.accounts"}}


def sources(package: str) -> Iterator[tuple[Path, ast.Module]]:
    """Every module of a package, parsed (Alembic's generated migrations left out)."""
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" not in path.relative_to(ROOT).parts:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import, including those inside functions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module


def imported_packages(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every import, including those inside functions."""
    for line, module in imported_modules(tree):
        yield line, module.split(".")[0]


def test_only_the_demo_uses_the_fake_github() -> None:
    users = {
        str(path.relative_to(ROOT))
        for package in PRODUCT
        for path, tree in sources(package)
        for _, name in imported_packages(tree)
        if name == "fakegithub"
    }
    assert users == {"app/demo.py"}


def functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function and method."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_what_may_import_what(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path, tree in sources(package)
        for line, module in imported_modules(tree)
        if module.split(".")[0] in FORBIDDEN[package] and module not in EXCEPT.get(package, ())
    ]
    assert wrong == []


@pytest.mark.parametrize("package", PRODUCT)
def test_no_function_over_50_lines(package: str) -> None:
    long = [
        f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({fn.end_lineno - fn.lineno + 1} lines)"
        for path, tree in sources(package)
        for fn in functions(tree)
        if fn.end_lineno is not None and fn.end_lineno - fn.lineno + 1 > 50
    ]
    assert long == []


def positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """How many parameters may be passed by position (``self`` and ``cls`` not counted)."""
    params = [*fn.args.posonlyargs, *fn.args.args]
    if params and params[0].arg in ("self", "cls"):
        params = params[1:]
    return len(params)


#: Signatures another library defines: (file, function) → whose.
OVERRIDES = {("workers/github.py", "_request"): "gidgethub.abc.GitHubAPI._request"}


@pytest.mark.parametrize("package", ["app", "workers", "core"])
def test_at_most_three_positional_parameters(package: str) -> None:
    wide = [
        f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({positional(fn)})"
        for path, tree in sources(package)
        for fn in functions(tree)
        if positional(fn) > 3 and (str(path.relative_to(ROOT)), fn.name) not in OVERRIDES
    ]
    assert wide == []


def test_the_shared_floor_names_the_same_precisions_as_the_encoder() -> None:
    from core.settings import PRECISIONS
    from models.encoder import PRECISIONS as ENCODER_PRECISIONS

    assert PRECISIONS == ENCODER_PRECISIONS
