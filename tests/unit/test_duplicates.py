"""Possible duplicates (issue 27): words, BM25, TF-IDF, fusion, the replay's rules, the CSV
reader and ``steward eval-duplicates`` without an encoder (``--no-encoder``).

Corpora are a few hand-made reports; vectors are hand-made too, so every expected ranking
can be checked by reading the case.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from models.duplicates.data import TrackerDataError, parse_pairs, parse_reports, parse_time
from models.duplicates.fusion import (
    ENCODER_ONLY,
    NO_RECENCY,
    WORDS_ONLY,
    Channels,
    FusionWeights,
    fuse,
    standardise,
)
from models.duplicates.index import DuplicateIndex, top_rows
from models.duplicates.lexical import LexicalIndex
from models.duplicates.replay import (
    chronological_positions,
    duplicate_groups,
    first_hit_rank,
    natural_key,
    plan_replay,
    summarise,
)
from models.duplicates.words import identifier_words, weighted_counts, words

DAY = 86_400.0
ALL = None  # a mask of every row


def everything(n: int) -> np.ndarray:
    return np.ones(n, dtype=bool)


# -- words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("crash", ["crash"]),
        ("NameNode", ["namenode", "name", "node"]),
        ("HTTPServer", ["httpserver", "http", "server"]),
        ("dfs.replication", ["dfs.replication", "dfs", "replication"]),
        ("snake_case", ["snake_case", "snake", "case"]),
        ("HDFS", ["hdfs"]),
    ],
)
def test_identifier_words(identifier: str, expected: list[str]) -> None:
    assert identifier_words(identifier) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The NameNode is down.", ["namenode", "name", "node", "down"]),
        ("a b c 1 of the", []),  # one-character tokens and stop words
        ("Crash, crash!", ["crash", "crash"]),  # repeats kept: term frequencies
        ("FSDownload.java fails", ["fsdownload.java", "fs", "download", "java", "fails"]),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_title_words_count_more() -> None:
    assert weighted_counts(["crash"], ["crash", "disk"], 2.0) == {"crash": 3.0, "disk": 1.0}


# -- BM25 and TF-IDF -------------------------------------------------------------------

CORPUS = [
    ("namenode safemode stuck", "restart does not leave"),  # 0
    ("editor toolbar icons", "the safemode of the namenode is mentioned in passing here"),  # 1
    ("crash on startup", "crash crash"),  # 2
    ("crash when printing", "printer dialog"),  # 3
    ("crash in mail", "mail window closes"),  # 4
    ("crash saving bookmarks", "bookmarks lost"),  # 5
]


def lexical() -> LexicalIndex:
    return LexicalIndex([t for t, _ in CORPUS], [b for _, b in CORPUS])


def ranking(scores: np.ndarray, mask: np.ndarray | None = None) -> list[int]:
    rows = np.flatnonzero(everything(len(scores)) if mask is None else mask)
    return [int(r) for r in rows[np.argsort(-scores[rows], kind="stable")]]


@pytest.mark.parametrize(
    ("title", "body", "best"),
    [
        ("namenode stuck in safemode", "", 0),  # title matches beat body matches
        ("printing crash", "", 3),  # the rare word decides, not the common "crash"
        ("mail window", "it closes", 4),
        ("bookmarks", "saving them fails", 5),
    ],
)
def test_bm25_ranks_the_matching_report_first(title: str, body: str, best: int) -> None:
    index = lexical()
    scores = index.bm25(index.query_terms(title, body), everything(len(CORPUS)))
    assert ranking(scores)[0] == best


def test_bm25_scores_zero_without_shared_words() -> None:
    index = lexical()
    scores = index.bm25(index.query_terms("kerberos ticket", "expired"), everything(len(CORPUS)))
    assert np.all(scores == 0)


def test_bm25_idf_counts_only_the_candidates() -> None:
    index = lexical()
    terms = index.query_terms("crash", "")
    all_rows = index.bm25_idf(terms, everything(len(CORPUS)))
    before_crashes = index.bm25_idf(terms, np.array([1, 1, 1, 0, 0, 0], dtype=bool))
    # "crash" is in 4 of 6 reports, but only 1 of the first 3: rarer, so worth more there.
    assert before_crashes[0] > all_rows[0]


def test_bm25_prefers_the_shorter_report_for_the_same_words() -> None:
    index = LexicalIndex(["disk full", "disk full"], ["", "and many other words here too"])
    scores = index.bm25(index.query_terms("disk full", ""), everything(2))
    assert scores[0] > scores[1] > 0


@pytest.mark.parametrize(
    ("title", "body", "best"),
    [
        ("namenode safemode stuck", "restart does not leave", 0),
        ("printing crash", "printer dialog", 3),
        ("mail window", "", 4),
    ],
)
def test_tfidf_ranks_the_matching_report_first(title: str, body: str, best: int) -> None:
    index = lexical()
    scores = index.tfidf(index.query_terms(title, body), everything(len(CORPUS)))
    assert ranking(scores)[0] == best
    assert np.all((scores >= 0) & (scores <= 1 + 1e-9))


def test_tfidf_of_a_report_with_itself_is_one() -> None:
    index = lexical()
    title, body = CORPUS[3]
    scores = index.tfidf(index.query_terms(title, body), everything(len(CORPUS)))
    assert scores[3] == pytest.approx(1.0)


def test_shared_words_by_weight() -> None:
    index = lexical()
    terms = index.query_terms("namenode safemode", "restart")
    shared = index.shared_words(terms, everything(len(CORPUS)), [0, 1, 2])
    assert set(shared[0]) == {"namenode", "safemode", "restart"}
    assert set(shared[1]) == {"namenode", "safemode"}
    assert shared[2] == ()
    assert index.shared_words(terms, everything(len(CORPUS)), [0], limit=1)[0] in {
        ("namenode",),
        ("safemode",),  # title words (weight 2) before the body's "restart"
    }


# -- fusion -----------------------------------------------------------------------------


def test_standardise_uses_the_candidates_only() -> None:
    mask = np.array([True, True, False])
    z = standardise(np.array([1.0, 3.0, 100.0]), mask)
    assert z[:2] == pytest.approx([-1.0, 1.0])
    assert z[2] == pytest.approx(98.0)


@pytest.mark.parametrize("values", [[2.0, 2.0, 2.0], [5.0]])
def test_standardise_of_a_flat_channel_is_zero(values: list[float]) -> None:
    assert np.all(standardise(np.array(values), everything(len(values))) == 0)


COSINE = np.array([0.90, 0.50, 0.50, 0.50, 0.85])
BM25 = np.array([0.0, 1.0, 1.0, 100.0, 30.0])
AGES = np.array([400.0, 300.0, 200.0, 100.0, 5.0])


@pytest.mark.parametrize(
    ("weights", "ages", "best"),
    [
        (ENCODER_ONLY, None, 0),
        (WORDS_ONLY, None, 3),
        # strong in both channels beats an outlier in one (BM25 is fused on a log scale)
        (NO_RECENCY, None, 4),
        (FusionWeights(), AGES, 4),
        # recency alone: the newest candidate
        (FusionWeights(encoder=0, words=0, recency=1), AGES, 4),
    ],
)
def test_fusion(weights: FusionWeights, ages: np.ndarray | None, best: int) -> None:
    fused = fuse(Channels(COSINE, BM25, ages), everything(5), weights)
    assert ranking(fused)[0] == best


def test_recency_breaks_a_tie_between_equal_matches() -> None:
    channels = Channels(
        np.array([0.8, 0.8, 0.1]), np.array([5.0, 5.0, 0.0]), np.array([900, 3, 50.0])
    )
    assert ranking(fuse(channels, everything(3), FusionWeights()))[0] == 1
    assert ranking(fuse(channels, everything(3), NO_RECENCY))[:2] == [0, 1]  # tie: row order


def test_recency_ignored_without_a_time() -> None:
    with_time = fuse(Channels(COSINE, BM25, None), everything(5), FusionWeights())
    assert with_time == pytest.approx(fuse(Channels(COSINE, BM25, None), everything(5), NO_RECENCY))


@pytest.mark.parametrize(
    ("scores", "mask", "k", "expected"),
    [
        ([0.1, 0.9, 0.5, 0.7], [True, True, True, True], 2, [1, 3]),
        ([0.1, 0.9, 0.5, 0.7], [True, False, True, True], 2, [3, 2]),
        ([0.5, 0.5, 0.5], [True, True, True], 5, [0, 1, 2]),  # ties: lower row first
        ([0.5, 0.9], [False, False], 3, []),
    ],
)
def test_top_rows(scores: list[float], mask: list[bool], k: int, expected: list[int]) -> None:
    assert top_rows(np.array(scores), np.array(mask), k) == expected


# -- the index --------------------------------------------------------------------------


def small_index() -> DuplicateIndex:
    """Five issues; vectors say 0 and 4 are about the same thing as the query."""
    vectors = np.array(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0], [0.9, 0.1, 0.0]]
    )
    return DuplicateIndex(
        ["issue:1", "issue:2", "issue:3", "issue:4", "issue:5"],
        [t for t, _ in CORPUS[:5]],
        [b for _, b in CORPUS[:5]],
        vectors,
        [1 * DAY, 2 * DAY, 3 * DAY, 4 * DAY, 10 * DAY],
    )


def test_query_finds_the_duplicate_and_says_why() -> None:
    index = small_index()
    found = index.query("namenode stuck in safemode", "", np.array([1.0, 0.05, 0.0]), k=2)
    assert [c.key for c in found] == ["issue:1", "issue:5"]
    best = found[0]
    assert best.found_by == ("encoder", "words")
    assert "namenode" in best.shared_words and "safemode" in best.shared_words
    assert best.reason.startswith("found by the encoder and the words (BM25)")
    assert "shared words: " in best.reason and best.age_days is None


def test_query_sees_only_issues_filed_before_it_and_not_excluded() -> None:
    index = small_index()
    vector = np.array([1.0, 0.0, 0.0])
    found = index.query("namenode safemode", "", vector, at=4.5 * DAY, exclude=["issue:1"])
    assert {c.key for c in found} == {"issue:2", "issue:3", "issue:4"}
    assert all(c.age_days is not None and c.age_days > 0 for c in found)
    assert found[0].reason.endswith("filed 12 hours earlier")


def test_query_before_the_first_issue_finds_nothing() -> None:
    assert small_index().query("anything", "", np.ones(3), at=0.5 * DAY) == []


def test_index_rejects_mismatched_input() -> None:
    with pytest.raises(ValueError, match="one row each"):
        DuplicateIndex(["a", "b"], ["x", "y"], ["", ""], np.zeros((3, 4)), [1.0, 2.0])
    with pytest.raises(ValueError, match="width"):
        small_index().query("x", "", np.ones(7))


# -- the replay's rules -----------------------------------------------------------------


def test_natural_key_orders_numbers_as_numbers() -> None:
    keys = ["BUG-10", "BUG-9", "APP-2", "100", "11"]
    assert sorted(keys, key=natural_key) == ["APP-2", "BUG-9", "BUG-10", "11", "100"]


def test_positions_by_time_then_key() -> None:
    positions = chronological_positions(["B-10", "B-9", "B-1"], [5.0, 5.0, 1.0])
    assert positions.tolist() == [2, 1, 0]


def test_groups_are_connected_components() -> None:
    groups = duplicate_groups([("a", "b"), ("c", "b"), ("x", "y")])
    assert groups["a"] == groups["b"] == groups["c"] != groups["x"] == groups["y"]


def replay_rows(
    pairs: Sequence[tuple[str, str]], keys: Sequence[str] = ("A", "B", "C", "D", "E")
) -> list[tuple[str, list[str]]]:
    """(query key, hit keys) of a replay over reports filed in ``keys`` order."""
    created = [float(i) for i in range(len(keys))]
    plan = plan_replay(list(keys), created, pairs)
    return [(keys[q.row], [keys[h] for h in q.hits]) for q in plan.queries]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        # the later report is the query, whichever column names it
        ([("A", "C")], [("C", ["A"])]),
        ([("C", "A")], [("C", ["A"])]),
        # a group: every earlier member is a hit, and the middle one is a query too
        ([("A", "B"), ("C", "B")], [("B", ["A"]), ("C", ["A", "B"])]),
        # the same pair twice, both ways: one query
        ([("A", "B"), ("B", "A")], [("B", ["A"])]),
        # a report missing from the file gives no query ...
        ([("A", "X")], []),
        # ... but still joins its group: A counts as a hit for E through X
        ([("A", "X"), ("X", "E"), ("D", "E")], [("E", ["A", "D"])]),
        # a report paired with itself is no pair
        ([("B", "B")], []),
    ],
)
def test_replay_queries(
    pairs: list[tuple[str, str]], expected: list[tuple[str, list[str]]]
) -> None:
    assert replay_rows(pairs) == expected


def test_replay_candidates_are_the_reports_filed_before() -> None:
    keys = ["A", "B", "C", "D"]
    plan = plan_replay(keys, [3.0, 1.0, 2.0, 4.0], [("A", "B")])
    (query,) = plan.queries
    assert keys[query.row] == "A"
    assert plan.candidates(query).tolist() == [False, True, True, False]
    assert (plan.pairs, plan.pairs_with_both) == (1, 1)


def test_replay_counts_pairs_with_a_missing_report() -> None:
    plan = plan_replay(["A", "B"], [1.0, 2.0], [("A", "B"), ("A", "Z"), ("Q", "Q")])
    assert (plan.pairs, plan.pairs_with_both, len(plan.queries)) == (2, 1, 1)


@pytest.mark.parametrize(
    ("scores", "hits", "rank"),
    [
        ([0.9, 0.5, 0.1], [0], 1),
        ([0.9, 0.5, 0.1], [2], 3),
        ([0.9, 0.5, 0.1], [2, 1], 2),  # the best-ranked hit counts
        ([0.5, 0.5, 0.5], [1], 3),  # ties go against the ranker
    ],
)
def test_first_hit_rank(scores: list[float], hits: list[int], rank: int) -> None:
    assert first_hit_rank(np.array(scores), everything(3), hits) == rank


def test_first_hit_rank_ignores_rows_outside_the_mask() -> None:
    mask = np.array([False, True, True])
    assert first_hit_rank(np.array([0.99, 0.5, 0.1]), mask, [1]) == 1


def test_summarise() -> None:
    assert summarise([1, 2, 6, 20]) == {
        "recall@1": 0.25,
        "recall@5": 0.5,
        "recall@10": 0.75,
        "mrr": round((1 + 0.5 + 1 / 6 + 1 / 20) / 4, 4),
    }


# -- reading trackers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/Sep/21 17:20", "2021-09-30T17:20:00+00:00"),  # Jira
        ("30/Sep/21 5:20 PM", "2021-09-30T17:20:00+00:00"),
        ("2020-01-02 17:14:21+00:00", "2020-01-02T17:14:21+00:00"),  # Bugzilla
        ("2020-01-02T19:14:21+02:00", "2020-01-02T17:14:21+00:00"),
        ("2023-05-01T08:00:00Z", "2023-05-01T08:00:00+00:00"),  # GitHub
        ("2023-05-01", "2023-05-01T00:00:00+00:00"),
    ],
)
def test_parse_time(text: str, expected: str) -> None:
    from datetime import datetime

    assert parse_time(text) == datetime.fromisoformat(expected).timestamp()


@pytest.mark.parametrize("text", ["", "  ", "yesterday", "32/Sep/21 17:20"])
def test_parse_time_unreadable(text: str) -> None:
    assert parse_time(text) is None


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


HEADER = ("Summary", "Issue id", "Status", "Created", "Description")


def test_parse_reports_keeps_what_it_can() -> None:
    log = "x" * 300_000  # over csv's default field limit of 128 KiB
    text = "\ufeff" + csv_text(
        HEADER,
        [
            ("Crash", "1", "Open", "30/Sep/21 17:20", log),
            ("No body", "2", "Open", "2021-10-01 10:00:00+00:00", ""),
            ("Again", "1", "Open", "30/Sep/21 17:20", "a repeat of key 1"),
            ("Undated", "3", "Open", "someday", "body"),
            ("No key", "", "Open", "30/Sep/21 17:20", "body"),
        ],
    )
    read = parse_reports(text)
    assert [r.key for r in read.reports] == ["1", "2"]
    assert read.reports[0].body == log and read.reports[1].body == ""
    assert (read.undated, read.repeated) == (["3"], 1)


def test_parse_reports_without_a_description_column() -> None:
    read = parse_reports(csv_text(("Issue id", "Summary", "Created"), [("7", "t", "2021-01-01")]))
    assert read.reports[0].body == ""


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (("Summary", "Created", "Description"), "missing column(s) Issue id"),
        (("Issue id", "Description"), "missing column(s) Summary, Created"),
    ],
)
def test_parse_reports_names_missing_columns(header: tuple[str, ...], message: str) -> None:
    with pytest.raises(
        TrackerDataError, match=r"bugs\.csv: " + message.replace("(", r"\(").replace(")", r"\)")
    ):
        parse_reports(csv_text(header, [("x",) * len(header)]), "bugs.csv")


def test_parse_reports_with_no_dated_report() -> None:
    with pytest.raises(TrackerDataError, match="no report has a readable Created time"):
        parse_reports(csv_text(HEADER, [("t", "1", "Open", "soon", "")]))


def test_parse_pairs() -> None:
    text = csv_text(("Issue id", "Duplicate id"), [("1", "2"), (" 3 ", "4"), ("5", "")])
    assert parse_pairs(text) == [("1", "2"), ("3", "4")]
    with pytest.raises(TrackerDataError, match="missing column"):
        parse_pairs(csv_text(("Issue", "Duplicate id"), [("1", "2")]))


# -- the command ------------------------------------------------------------------------

REPORTS = [
    ("NameNode stuck in safemode after restart", "1", "01/Jan/21 10:00", "safemode never ends"),
    ("Printing crashes the browser", "2", "02/Jan/21 10:00", "printer dialog then crash"),
    ("Bookmarks lost on upgrade", "3", "03/Jan/21 10:00", "after the upgrade bookmarks gone"),
    ("Safemode not left by namenode", "4", "05/Jan/21 10:00", "restart namenode stuck"),
    ("Crash when printing a page", "5", "06/Jan/21 10:00", ""),
    ("Mail window closes", "6", "07/Jan/21 10:00", "mail closes at once"),
]
PAIRS = [("4", "1"), ("2", "5"), ("6", "99")]


def write_tracker(folder: Path) -> tuple[Path, Path]:
    reports, pairs = folder / "t_bugs.csv", folder / "t_bugs-combined.csv"
    reports.write_text(csv_text(("Summary", "Issue id", "Created", "Description"), REPORTS))
    pairs.write_text(csv_text(("Issue id", "Duplicate id"), PAIRS))
    return reports, pairs


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["eval-duplicates", "--no-progress", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


METRICS = {"recall@1", "recall@5", "recall@10", "mrr"}


def test_cli_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports, pairs = write_tracker(tmp_path)
    code, out, _ = run_cli(capsys, "--reports", reports, "--pairs", pairs, "--json", "--no-encoder")
    assert code == 0
    result = json.loads(out)
    assert result["n"] == 2  # 4 (answer 1) and 5 (answer 2); 6's partner is missing
    for name in ("steward", "bm25", "tfidf", "steward_no_recency"):
        assert set(result[name]) == METRICS, name
        assert all(0.0 <= value <= 1.0 for value in result[name].values())
    assert "encoder" not in result and result["encoder_model"] is None
    assert result["bm25"]["recall@1"] == 1.0  # both duplicates share their words
    assert (result["reports"], result["pairs"], result["pairs_with_both"]) == (6, 3, 2)


def test_cli_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports, pairs = write_tracker(tmp_path)
    code, out, _ = run_cli(capsys, "--reports", reports, "--pairs", pairs, "--no-encoder")
    assert code == 0
    lines = out.splitlines()
    assert "6 reports, 3 pairs (2 with both reports), 2 queries" in lines[0]
    assert lines[1].split() == ["ranker", "recall@1", "recall@5", "recall@10", "mrr"]
    assert [line.split("  ")[0] for line in lines[2:]] == [
        "Steward",
        "Steward without recency",
        "BM25 alone",
        "TF-IDF alone",
    ]


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, pairs = write_tracker(tmp_path)
    code, out, err = run_cli(capsys, "--reports", tmp_path / "nope.csv", "--pairs", pairs)
    assert code == 2 and out == ""
    assert err.strip() == f"eval-duplicates: {tmp_path / 'nope.csv'}: no such file"


def test_cli_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports, pairs = write_tracker(tmp_path)
    pairs.write_text(csv_text(("Issue id", "Master"), [("4", "1")]))
    code, _, err = run_cli(capsys, "--reports", reports, "--pairs", pairs)
    assert code == 2
    assert "missing column(s) Duplicate id (found: Issue id, Master)" in err


def test_cli_nothing_to_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports, pairs = write_tracker(tmp_path)
    pairs.write_text(csv_text(("Issue id", "Duplicate id"), [("98", "99")]))
    code, _, err = run_cli(capsys, "--reports", reports, "--pairs", pairs)
    assert code == 2 and "nothing to replay" in err


def test_cli_reports_undated_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports, pairs = write_tracker(tmp_path)
    rows = [*REPORTS, ("Later", "7", "not a date", "")]
    reports.write_text(csv_text(("Summary", "Issue id", "Created", "Description"), rows))
    code, _, err = run_cli(capsys, "--reports", reports, "--pairs", pairs, "--no-encoder", "--json")
    assert code == 0
    assert "left out 1 reports without a readable Created time (first: 7)" in err
