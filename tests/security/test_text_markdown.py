"""The escaping itself (:mod:`core.markdown`), rendered by a CommonMark renderer.

:func:`inert` renders as exactly the text (nothing added but the joiner after ``@`` and
in references), :func:`code` as one code span holding exactly the text whatever
backtick runs it holds, :func:`mention` mentions only a login that fits GitHub's rule,
:func:`spans` keeps the model library's quoted paths as code and nothing else.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from core.markdown import JOINER, clean, code, inert, mention, spans
from tests.security.test_text_comments import PROPERTY, hostile, render


@PROPERTY
@given(text=hostile)
def test_inert_text_renders_as_exactly_its_characters(text: str) -> None:
    seen = render(f"x{inert(text)}x")
    assert seen.tags == ["p"] and seen.comments == [] and seen.code == []
    shown = "".join(seen.text).rstrip("\n")
    assert shown.replace(JOINER, "") == f"x{clean(text)}x"
    assert seen.mentions() == set()


@PROPERTY
@given(text=hostile)
def test_a_code_span_holds_exactly_the_text(text: str) -> None:
    seen = render(f"a {code(text)} b")
    assert seen.tags == ["p", "code"], (code(text), seen.tags)
    assert len(seen.code) == 1 and "".join(seen.text).rstrip("\n") == "a  b"
    expected = clean(text).strip() or " "
    assert seen.code[0].replace(JOINER, "") == expected
    assert "<!--" not in code(text)


@pytest.mark.parametrize("run", range(1, 40))
def test_no_backtick_run_closes_a_code_span_early(run: int) -> None:
    for text in ("`" * run, f"a{'`' * run}b", f"{'`' * run}a", f"a{'`' * run}"):
        seen = render(code(text))
        assert seen.code == [text] and seen.tags == ["p", "code"]


@pytest.mark.parametrize(
    ("login", "shown"),
    [
        ("alice", "@alice"),
        ("a-b-1", "@a-b-1"),
        ("-alice", None),
        ("alice-", None),
        ("a--b", None),
        ("x" * 40, None),
        ("alice bob", None),
        ("org/team", None),
        ("dependabot[bot]", None),
        ("", None),
    ],
)
def test_only_a_real_login_is_mentioned(login: str, shown: str | None) -> None:
    made = mention(login)
    assert render(made).mentions() == ({shown[1:]} if shown else set())


def test_spans_keep_the_model_libraries_code_and_nothing_else() -> None:
    assert spans("touched `a/b.go` 3 times") == "touched `a/b.go` 3 times"
    seen = render(spans("like “@victim ![](x)” `a``b` <!-- steward:x -->"))
    assert seen.mentions() == set() and "img" not in seen.tags and seen.comments == []
