"""Possible duplicates with the packaged encoder (issue 27): a paraphrase that shares no
word with its duplicate is found through the encoder, and ``steward eval-duplicates``
reports the encoder's row. Both load all-MiniLM-L6-v2, hence ``slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from models.defaults import packaged_model_path
from models.duplicates.index import DuplicateIndex
from models.encoder import get_encoder
from models.matching import embedding_text
from tests.unit.test_duplicates import METRICS, write_tracker

DAY = 86_400.0
EARLIER = [
    ("Browser crashes when I print a page", "Choosing File > Print closes everything."),
    ("Bookmarks disappear after the update", "All my saved sites are gone."),
    ("Email will not send", "Outgoing messages stay in the outbox."),
    ("Dark theme makes text unreadable", "Black letters on a black background."),
]


@pytest.mark.slow
def test_a_paraphrase_is_found_by_the_encoder() -> None:
    encoder = get_encoder(packaged_model_path())
    texts = [embedding_text(title, body) for title, body in EARLIER]
    index = DuplicateIndex(
        [f"issue:{i}" for i in range(len(EARLIER))],
        [title for title, _ in EARLIER],
        [body for _, body in EARLIER],
        encoder.encode(texts),
        [i * DAY for i in range(len(EARLIER))],
    )
    title, body = "Application quits unexpectedly while printing", ""
    vector = encoder.encode([embedding_text(title, body)])[0]
    found = index.query(title, body, vector, at=10 * DAY, k=2)
    assert found[0].key == "issue:0"
    assert "encoder" in found[0].found_by and found[0].shared_words == ()
    assert found[0].cosine > found[1].cosine
    assert np.isfinite([c.score for c in found]).all()


@pytest.mark.slow
def test_cli_with_the_packaged_encoder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports, pairs = write_tracker(tmp_path)
    code = main(["eval-duplicates", "--reports", str(reports), "--pairs", str(pairs), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out)
    assert result["n"] == 2
    assert result["encoder_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    for name in ("steward", "steward_no_recency", "encoder", "bm25", "tfidf"):
        assert set(result[name]) == METRICS, name
    assert result["steward"]["recall@5"] == 1.0  # five or fewer candidates: always in the top 5
    assert "embed" in captured.err  # the progress bar, on stderr
