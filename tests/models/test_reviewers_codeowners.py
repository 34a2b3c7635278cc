"""CODEOWNERS parsing and matching, table-driven."""

from __future__ import annotations

import pytest

from models.reviewers.codeowners import owners_of, ownership_share, parse_codeowners

CODEOWNERS = """
# comment line
*                   @global-owner
*.js                @js-owner   # trailing comment
/docs/              @docs-team
apps/               @apps-owner
/build/logs/        @doctocat
docs/*              docs@example.com
**/logs             @octocat
/scripts/ @Octo-Scripts @other
/empty/
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("README.md", ("global-owner",)),
        ("src/app.js", ("js-owner",)),
        ("docs/intro.md", ("docs@example.com",)),  # later rule wins over /docs/
        ("docs/deep/page.md", ("docs-team",)),  # docs/* does not cross directories
        ("x/apps/main.go", ("apps-owner",)),  # unanchored directory anywhere
        ("build/logs/out.txt", ("octocat",)),  # **/logs is later
        ("deep/nested/logs/a.txt", ("octocat",)),
        ("scripts/run.sh", ("octo-scripts", "other")),  # case-folded, @ stripped
        ("empty/file.txt", ()),  # rule without owners un-owns
    ],
)
def test_owners_of(path: str, owners: tuple[str, ...]) -> None:
    assert owners_of(path, parse_codeowners(CODEOWNERS)) == owners


def test_parse_skips_comments_and_blank_lines() -> None:
    rules = parse_codeowners(CODEOWNERS)
    assert [rule.pattern for rule in rules][:2] == ["*", "*.js"]


def test_ownership_share() -> None:
    rules = parse_codeowners("*.go @gopher\n/docs/ @writer\n")
    share = ownership_share(["a.go", "b.go", "docs/x.md", "c.txt"], rules)
    assert share == {"gopher": 0.5, "writer": 0.25}
