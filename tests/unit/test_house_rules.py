"""The house rules of docs/ARCHITECTURE.md, checked on the source itself.

- what may import what: ``core`` is the floor, ``workers`` and ``models`` never import
  the web process, and nothing in the product imports the fake GitHub;
- no function longer than 50 lines and no file over 600 lines in the product packages
  and the fake GitHub;
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


#: The product, and the fake GitHub every test stands on: both kept to the size rules.
SIZED = (*PRODUCT, "fakegithub")


@pytest.mark.parametrize("package", SIZED)
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


# --------------------------------------------------------------- workers' floors

WORKERS = ROOT / "workers"
#: The composition: the only modules that know every feature (the Celery tasks, the
#: worker's app and command).
COMPOSITION = {"tasks", "celery_app", "cli"}
#: Imports between features that are allowed: none. Work one feature hands to another
#: goes through a task contract (``Runtime.enqueue``); what two features share lives
#: in the worker's base (``workers/*.py``), ``core`` or ``models``.
ALLOWED_BETWEEN_FEATURES: set[tuple[str, str]] = set()


def features() -> list[str]:
    """The feature packages: ``workers/<feature>/``."""
    return sorted(p.name for p in WORKERS.iterdir() if (p / "__init__.py").is_file())


def room_of(module: str) -> str | None:
    """``workers.triage.flow`` → ``triage``; a base module is ``base``, the composition
    ``composition``; None outside ``workers``.
    """
    parts = module.split(".")
    if parts[0] != "workers":
        return None
    if len(parts) < 2:  # the package itself
        return "base"
    if parts[1] in features():
        return parts[1]
    return "composition" if parts[1] in COMPOSITION else "base"


def room_imports() -> dict[str, set[tuple[str, str]]]:
    """Per room of ``workers``: (room it imports, where) for every import of another room."""
    rooms: dict[str, set[tuple[str, str]]] = {}
    for path, tree in sources("workers"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = room_of(module.removesuffix(".__init__"))
        assert here is not None
        for line, imported in imported_modules(tree):
            there = room_of(imported)
            if there and there != here:
                rooms.setdefault(here, set()).add((there, f"{path.relative_to(ROOT)}:{line}"))
    return rooms


def test_features_stand_side_by_side() -> None:
    """No ``workers/<feature>`` imports another feature, at module level or inside a
    function."""
    crossing = sorted(
        f"{where} imports workers.{there}"
        for here, found in room_imports().items()
        if here in features()
        for there, where in found
        if there in features() and (here, there) not in ALLOWED_BETWEEN_FEATURES
    )
    assert crossing == []


def test_the_base_stands_below_the_features() -> None:
    """The worker's base (``workers/*.py``) imports no feature and not the composition."""
    upward = sorted(
        f"{where} imports {there}"
        for there, where in room_imports().get("base", set())
        if there != "base"
    )
    assert upward == []


def test_workers_stand_on_at_most_four_floors() -> None:
    """Floors of ``workers``: the base, the features side by side, the composition."""
    edges = room_imports()

    def floor(room: str, seen: frozenset[str] = frozenset()) -> int:
        assert room not in seen, f"a cycle through {room}"
        below = {there for there, _ in edges.get(room, set())}
        return 1 + max((floor(r, seen | {room}) for r in below), default=0)

    rooms = {"base", "composition", *features()}
    assert max(floor(r) for r in rooms) <= 4


@pytest.mark.parametrize("package", SIZED)
def test_no_file_over_600_lines(package: str) -> None:
    long = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for path, _ in sources(package)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600
    ]
    assert long == []
