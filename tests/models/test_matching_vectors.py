"""The semantic vector index: changes, search filters, persistence, batch embedding."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from models.matching.vectors import (
    IndexFileError,
    VectorIndex,
    embed_in_batches,
    kind_of,
    normalise,
)

LARGE = 6000  # rows for tests of a bigger index (still fast: 6000 x 32 floats)


def unit(*values: float) -> np.ndarray:
    """A float32 vector scaled to length 1."""
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def small_index() -> VectorIndex:
    """Four items of three kinds in 3 dimensions, each near one axis."""
    index = VectorIndex(3, model="enc@1")
    index.upsert(
        ["issue:1", "issue:2", "pull:3", "discussion:4"],
        np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.8, 0, 0.2]], dtype=np.float32),
    )
    return index


def stored(index: VectorIndex, key: str) -> np.ndarray:
    """The vector stored for ``key``, which must be there."""
    vector = index.vector(key)
    assert vector is not None, key
    return vector


def random_unit(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    """Random unit vectors, reproducibly."""
    matrix = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return normalise(matrix)


class FakeEncoder:
    """Encodes a text as (length, 1, 0, ...) and records the batches it was given."""

    def __init__(self) -> None:
        """No batches seen yet."""
        self.calls: list[int] = []

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One vector per text, its first component the text's length."""
        self.calls.append(len(texts))
        out = np.zeros((len(texts), 4), dtype=np.float32)
        out[:, 0] = [len(text) for text in texts]
        out[:, 1] = 1
        return out


# -- changes --------------------------------------------------------------------------


def test_upsert_stores_unit_vectors_and_reports_contents() -> None:
    index = small_index()
    assert len(index) == 4 and "pull:3" in index and "pull:9" not in index
    assert index.keys() == ["issue:1", "issue:2", "pull:3", "discussion:4"]
    assert (index.dim, index.model) == (3, "enc@1")
    stored = index.vector("issue:2")
    assert stored is not None and stored.dtype == np.float32
    assert np.linalg.norm(stored) == pytest.approx(1.0, abs=1e-3)
    assert index.vector("pull:9") is None


def test_upsert_replaces_an_existing_key_and_last_duplicate_wins() -> None:
    index = small_index()
    index.upsert(["issue:1", "issue:5", "issue:5"], np.array([[0, 0, 3], [0, 1, 0], [0, 0, 1]]))
    assert len(index) == 5
    np.testing.assert_allclose(stored(index, "issue:1"), [0, 0, 1], atol=1e-3)
    np.testing.assert_allclose(stored(index, "issue:5"), [0, 0, 1], atol=1e-3)


def test_zero_vector_stays_zero_and_bad_input_is_refused() -> None:
    index = VectorIndex(2)
    index.upsert(["issue:1"], np.zeros((1, 2)))
    np.testing.assert_array_equal(stored(index, "issue:1"), [0, 0])
    with pytest.raises(ValueError, match="shape"):
        index.upsert(["issue:2"], np.zeros((1, 3)))
    with pytest.raises(ValueError, match="keys"):
        index.upsert(["issue:2", "issue:3"], np.ones((1, 2)))
    with pytest.raises(ValueError, match="finite"):
        index.upsert(["issue:2"], np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="width"):
        index.search(np.ones(3))
    with pytest.raises(ValueError):
        VectorIndex(0)


def test_remove_forgets_keys_and_keeps_the_others_intact() -> None:
    index = small_index()
    keys = index.keys()
    before = {key: stored(index, key) for key in keys}
    index.remove(["issue:1", "nothing:0"])
    assert len(index) == 3 and "issue:1" not in index
    remaining = index.keys()
    for key in remaining:
        np.testing.assert_array_equal(stored(index, key), before[key])
    assert index.search(unit(1, 0, 0), k=5)[0][0] == "issue:2"
    index.remove(index.keys())
    assert len(index) == 0 and index.search(unit(1, 0, 0)) == []


def test_growth_keeps_earlier_vectors_and_is_geometric() -> None:
    index = VectorIndex(8)
    vectors = random_unit(1000, 8)
    capacities = set()
    for i in range(1000):
        index.upsert([f"issue:{i}"], vectors[i : i + 1])
        capacities.add(index.nbytes)
    assert len(capacities) <= 8  # doubling: a handful of reallocations, not one per insert
    keys, matrix = index.to_arrays()
    assert keys == [f"issue:{i}" for i in range(1000)]
    np.testing.assert_allclose(matrix, vectors, atol=1e-3)


# -- search ---------------------------------------------------------------------------


def test_search_orders_by_cosine_best_first() -> None:
    results = small_index().search(unit(1, 0, 0), k=3)
    assert [key for key, _ in results] == ["issue:1", "issue:2", "discussion:4"]
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0, abs=1e-3)


def test_search_query_is_normalised() -> None:
    index = small_index()
    assert index.search(np.array([5.0, 0, 0]), k=1)[0][1] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"prefix": "issue:"}, ["issue:1", "issue:2"]),
        ({"prefix": "pull:"}, ["pull:3"]),
        ({"prefix": "iss"}, ["issue:1", "issue:2"]),
        ({"prefix": "issue:2"}, ["issue:2"]),
        ({"prefix": "wiki:"}, []),
        ({"among": ["pull:3", "discussion:4", "gone:1"]}, ["discussion:4", "pull:3"]),
        ({"exclude": ["issue:1"]}, ["issue:2", "discussion:4", "pull:3"]),
        ({"prefix": "issue:", "exclude": ["issue:1"]}, ["issue:2"]),
        ({"among": ["issue:1", "pull:3"], "prefix": "pull:"}, ["pull:3"]),
        ({"among": []}, []),
    ],
)
def test_search_filters(options: dict[str, object], expected: list[str]) -> None:
    results = small_index().search(unit(1, 0, 0), k=10, **options)  # type: ignore[arg-type]
    assert [key for key, _ in results] == expected


def test_search_k_limits_and_zero_k_is_empty() -> None:
    index = small_index()
    assert len(index.search(unit(1, 0, 0), k=2)) == 2
    assert index.search(unit(1, 0, 0), k=0) == []


def test_similarities_follow_the_given_keys_and_mark_unknown_ones() -> None:
    scores = small_index().similarities(unit(0, 1, 0), ["pull:3", "nope:1", "issue:1"])
    assert scores[0] == pytest.approx(1.0, abs=1e-3)
    assert np.isnan(scores[1])
    assert scores[2] == pytest.approx(0.0, abs=1e-3)


def test_large_index_search_agrees_with_exact_float32() -> None:
    vectors = random_unit(LARGE, 32, seed=1)
    index = VectorIndex.from_arrays([f"issue:{i}" for i in range(len(vectors))], vectors, model="")
    queries = random_unit(50, 32, seed=2)
    overlap = []
    for query in queries:
        exact = np.argsort(-(vectors @ query))[:10]
        found = [int(key.split(":")[1]) for key, _ in index.search(query, k=10)]
        overlap.append(len(set(found) & set(exact.tolist())) / 10)
    assert np.mean(overlap) == 1.0


def test_large_index_prefix_and_exclude() -> None:
    vectors = random_unit(LARGE, 16, seed=3)
    keys = [f"{'pull' if i % 2 else 'issue'}:{i}" for i in range(len(vectors))]
    index = VectorIndex.from_arrays(keys, vectors, model="")
    query = vectors[7]  # pull:7 itself
    assert index.search(query, k=1)[0][0] == "pull:7"
    assert index.search(query, k=1, exclude=["pull:7"])[0][0] != "pull:7"
    assert all(key.startswith("issue:") for key, _ in index.search(query, k=20, prefix="issue:"))


# -- persistence ----------------------------------------------------------------------


def test_to_arrays_and_from_arrays_round_trip() -> None:
    index = small_index()
    keys, matrix = index.to_arrays()
    assert matrix.dtype == np.float32 and matrix.shape == (4, 3)
    again = VectorIndex.from_arrays(keys, matrix, model=index.model)
    assert again.keys() == keys and again.model == "enc@1"
    np.testing.assert_allclose(again.to_arrays()[1], matrix, atol=1e-6)  # renormalised: 1 ulp


def test_save_load_round_trip(tmp_path: Path) -> None:
    index = small_index()
    path = tmp_path / "sub" / "index.npz"
    index.save(path)
    loaded = VectorIndex.load(path)
    assert (loaded.dim, loaded.model, loaded.keys()) == (3, "enc@1", index.keys())
    np.testing.assert_allclose(loaded.to_arrays()[1], index.to_arrays()[1], atol=1e-6)
    assert [p.name for p in path.parent.iterdir()] == ["index.npz"]  # no temporary left


def test_save_replaces_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "index.npz"
    small_index().save(path)
    VectorIndex(3, model="enc@2").save(path)
    loaded = VectorIndex.load(path)
    assert len(loaded) == 0 and loaded.model == "enc@2"


def test_load_refuses_pickles_and_corrupt_files(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, keys=np.array([{"a": 1}], dtype=object), vectors=np.zeros((1, 3)))
    raw_pickle = tmp_path / "raw.npz"
    raw_pickle.write_bytes(pickle.dumps({"keys": ["issue:1"]}))
    truncated = tmp_path / "truncated.npz"
    small_index().save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:40])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, other=np.zeros(2))
    bare = tmp_path / "bare.npy"
    np.save(bare, np.zeros(3))
    for path in (pickled, raw_pickle, truncated, foreign, bare, tmp_path / "missing.npz"):
        with pytest.raises(IndexFileError):
            VectorIndex.load(path)


def test_load_refuses_mismatched_shapes(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        format=np.array(1),
        model=np.array("m"),
        dim=np.array(3),
        keys=np.array(["issue:1", "issue:2"]),
        vectors=np.zeros((1, 3), dtype=np.float32),
    )
    with pytest.raises(IndexFileError, match="keys"):
        VectorIndex.load(path)


# -- helpers --------------------------------------------------------------------------


def test_kind_of() -> None:
    assert kind_of("issue:12") == "issue:"
    assert kind_of("discussion:5") == "discussion:"
    assert kind_of("plain") == ""


def test_embed_in_batches_keeps_input_order_and_batches() -> None:
    encoder = FakeEncoder()
    texts = ["ccc", "a", "bbbbb", "dd", "e"]
    out = embed_in_batches(encoder, texts, batch_size=2)
    assert out.dtype == np.float32 and out.shape == (5, 4)
    np.testing.assert_array_equal(out[:, 0], [3, 1, 5, 2, 1])
    assert encoder.calls == [2, 2, 1]


def test_embed_in_batches_empty_and_bad_batch_size() -> None:
    assert embed_in_batches(FakeEncoder(), [], batch_size=8).shape == (0, 4)
    with pytest.raises(ValueError):
        embed_in_batches(FakeEncoder(), ["x"], batch_size=0)
