"""ReviewerIndex: incremental equals rebuilt, constraints and load in suggest, text indexes."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest

from models.reviewers.constraints import Constraints, Load
from models.reviewers.data import Change, load_changes
from models.reviewers.index import ReviewerIndex
from models.reviewers.ranker import RankerConfig
from models.reviewers.text import EmbeddingTextIndex, TfidfTextIndex
from tests.conftest import shared_data

GOLANG = "reviews/golang-net.jsonl"
DAY = 86_400.0


def change(
    n: int, author: str, reviewers: Sequence[str], files: Sequence[str], title: str = ""
) -> Change:
    return Change(
        str(n), n * DAY, n * DAY + 3600, author, tuple(reviewers), title, "", tuple(files)
    )


def small_history() -> list[Change]:
    history = []
    for n in range(40):
        if n % 2:
            history.append(change(n, "zoe", ["ana"], ["net/http2/transport.go"], "http2: fix"))
        else:
            history.append(change(n, "yan", ["bob"], ["docs/readme.md"], "docs: typo"))
    history.append(change(41, "zoe", ["dependabot[bot]"], ["go.mod"]))
    return history


@pytest.fixture(scope="module")
def golang_head() -> list[Change]:
    return load_changes(shared_data(GOLANG), limit=160)


def test_incremental_equals_rebuilt(golang_head: list[Change]) -> None:
    config = RankerConfig(min_examples=10, refit_min=10)
    live = ReviewerIndex(ranker=config)
    for item in golang_head[:140]:
        live.add(item)
    shuffled = golang_head[:140]
    random.Random(0).shuffle(shuffled)
    rebuilt = ReviewerIndex.rebuild(shuffled, ranker=config)
    assert live.ranker.trained and rebuilt.ranker.trained
    for new in golang_head[140:]:
        assert live.suggest(new, k=5) == rebuilt.suggest(new, k=5)


def test_suggest_prefers_path_expert_with_reason() -> None:
    index = ReviewerIndex.rebuild(small_history())
    new = change(50, "yan", [], ["net/http2/server.go", "net/http2/transport.go"], "http2")
    top = index.suggest(new, k=2)
    assert top[0].login == "ana"
    assert top[0].reason.startswith("touched `net/http2/transport.go` 20 times")
    assert 0.0 < top[0].score <= 1.0


@pytest.mark.parametrize(
    ("constraints", "author", "excluded"),
    [
        (None, "ana", {"ana"}),  # never the author
        (None, "yan", {"dependabot[bot]"}),  # never bots
        (Constraints.build(never=["ana"]), "yan", {"ana"}),
        (Constraints.build(opted_out=["ANA"]), "yan", {"ana"}),
        (Constraints.build(allowed=["bob"]), "yan", {"ana"}),
    ],
)
def test_suggest_respects_constraints(
    constraints: Constraints | None, author: str, excluded: set[str]
) -> None:
    index = ReviewerIndex.rebuild(small_history())
    new = change(50, author, [], ["net/http2/transport.go"])
    logins = {s.login for s in index.suggest(new, k=10, constraints=constraints)}
    assert not logins & excluded
    assert logins


def test_load_discount_reorders_suggestions() -> None:
    index = ReviewerIndex.rebuild(small_history())
    new = change(50, "yan", [], ["net/http2/transport.go", "docs/readme.md"])
    plain = [s.login for s in index.suggest(new, k=2)]
    busy = [
        s.login
        for s in index.suggest(new, k=2, load=Load(busy=frozenset({plain[0]}), busy_factor=0.01))
    ]
    assert busy == plain[::-1]


def test_codeowners_owner_is_a_candidate() -> None:
    index = ReviewerIndex(codeowners="/docs/ @carla\n")
    for item in small_history():
        index.add(item)
    new = change(50, "yan", [], ["docs/readme.md"])
    suggestions = {s.login: s for s in index.suggest(new, k=10)}
    assert suggestions["carla"].reason == "owns `docs/readme.md` per CODEOWNERS"


def test_tfidf_text_index_uses_past_only() -> None:
    index = TfidfTextIndex()
    index.add("http2 transport flow control")
    index.add("html tokenizer attribute parsing")
    sims = index.similarities("flow control window in the http2 transport")
    assert sims.shape == (2,) and sims[0] > 0.3 > sims[1]


class FakeEncoder:
    """Bag-of-letters encoder: enough to test the plumbing."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return np.array([[t.count(c) for c in "abcdefghij"] for t in texts], dtype=float) + 1e-3


def test_embedding_text_index_plugs_into_reviewer_index() -> None:
    index = ReviewerIndex(text_index=EmbeddingTextIndex(FakeEncoder()))
    for item in small_history():
        index.add(item)
    assert len(index.history.text) == len(index)
    assert index.suggest(change(50, "yan", [], ["docs/readme.md"], "docs"), k=1)[0].login == "bob"


class CountingEncoder(FakeEncoder):
    """Counts encode calls, to check that rebuilds batch them."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        return super().encode(texts, batch_size)


def test_rebuild_batches_the_encoder_and_matches_live() -> None:
    encoder = CountingEncoder()
    rebuilt = ReviewerIndex.rebuild(
        small_history(), text_index=EmbeddingTextIndex(encoder), learn=False
    )
    assert encoder.calls == 1
    live = ReviewerIndex(text_index=EmbeddingTextIndex(FakeEncoder()), learn=False)
    for item in small_history():
        live.add(item)
    new = change(50, "yan", [], ["docs/readme.md"], "docs typo")
    assert rebuilt.suggest(new, k=3) == live.suggest(new, k=3)


def test_rebuild_with_learn_window_learns_from_recent_changes_only() -> None:
    index = ReviewerIndex.rebuild(small_history(), learn_window=5)
    assert not index.ranker.trained  # 5 examples are below the first fit
    assert index.learn
