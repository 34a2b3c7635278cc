"""RevFinder path similarity: known values, the bulk index against the reference, Borda."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models.reviewers.data import Change
from models.reviewers.pathindex import PathIndex
from models.reviewers.paths import MEASURES, change_similarity, path_similarity, split_path
from models.reviewers.revfinder import RevFinder, borda_count

SETTINGS = "src/com/android/settings/LocationSettings.java"
UTILS = "src/com/android/settings/Utils.java"


@pytest.mark.parametrize(
    ("measure", "a", "b", "expected"),
    [
        ("lcp", SETTINGS, UTILS, 4 / 5),  # the paper's example
        ("lcsuff", SETTINGS, UTILS, 0.0),
        ("lcsubstr", SETTINGS, UTILS, 4 / 5),
        ("lcsubseq", SETTINGS, UTILS, 4 / 5),
        ("lcp", "src/a/b.go", "src/a/c.go", 2 / 3),
        ("lcsuff", "a/b/c.go", "x/b/c.go", 2 / 3),
        ("lcsuff", "a/b/c.go", "b/c.go", 2 / 3),
        ("lcsubstr", "a/b/c/d", "x/b/c/y", 2 / 4),
        ("lcsubseq", "a/b/c/d", "a/x/c/d/e", 3 / 5),
        ("lcsubseq", "a/b", "b/a", 1 / 2),
        ("lcp", "a/b", "a/b", 1.0),
        ("lcp", "x/y", "a/b/c", 0.0),
        ("lcp", "", "a", 0.0),
    ],
)
def test_path_similarity_known_values(measure: str, a: str, b: str, expected: float) -> None:
    assert path_similarity(measure, a, b) == pytest.approx(expected)


def test_split_path_ignores_empty_parts() -> None:
    assert split_path("/a//b/") == ("a", "b")


def test_change_similarity_is_average_over_file_pairs() -> None:
    value = change_similarity("lcp", ["a/b/c", "x/y"], ["a/b/d"])
    assert value == pytest.approx((2 / 3 + 0.0) / 2)


def _random_path(rng: random.Random) -> str:
    # A tiny alphabet forces repeated components, the hard case for the trie DP.
    return "/".join(rng.choice("abcd") for _ in range(rng.randint(1, 6)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_path_index_matches_reference(seed: int) -> None:
    rng = random.Random(seed)
    index = PathIndex()
    past: list[list[str]] = []
    for _ in range(60):
        files = [_random_path(rng) for _ in range(rng.randint(1, 4))]
        if past:
            bulk = index.change_similarity(files)
            for c, old in enumerate(past):
                for m, measure in enumerate(MEASURES):
                    reference = change_similarity(
                        measure, list(dict.fromkeys(files)), list(dict.fromkeys(old))
                    )
                    assert bulk[m, c] == pytest.approx(reference, abs=1e-6)
        index.add(files)
        past.append(files)


def test_path_index_overlap_counts_files_and_directories() -> None:
    index = PathIndex()
    index.add(["net/http2/transport.go", "net/http2/server.go"])
    index.add(["net/html/parse.go"])
    files, dirs = index.overlap(["net/http2/transport.go", "net/html/token.go"])
    assert files.tolist() == [1.0, 0.0]
    assert dirs.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([[3.0, 2.0, 1.0]], [2, 1, 0]),
        ([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]], [2, 2, 2]),
        ([[1.0, 1.0, 0.0]], [2, 2, 0]),  # ties share the best rank
        ([[0.0, 5.0], [0.0, 5.0], [9.0, 0.0]], [1, 2]),
    ],
)
def test_borda_count(scores: list[list[float]], expected: list[int]) -> None:
    assert borda_count(np.array(scores)).tolist() == expected


def test_revfinder_ranks_reviewer_of_similar_paths_first() -> None:
    model = RevFinder()
    model.add(Change("1", 1.0, 1.0, "x", ("ana",), files=("net/http2/transport.go",)))
    model.add(Change("2", 2.0, 2.0, "x", ("bob",), files=("docs/readme.md",)))
    ranking = model.rank(Change("3", 3.0, 3.0, "y", (), files=("net/http2/server.go",)))
    assert [login for login, _ in ranking] == ["ana", "bob"]


def test_revfinder_never_ranks_the_author() -> None:
    model = RevFinder()
    model.add(Change("1", 1.0, 1.0, "x", ("ana", "bob"), files=("a/b.go",)))
    ranking = model.rank(Change("2", 2.0, 2.0, "ana", (), files=("a/b.go",)))
    assert [login for login, _ in ranking] == ["bob"]
