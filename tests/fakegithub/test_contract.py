"""Requests are checked against GitHub's OpenAPI description."""

from __future__ import annotations

import pytest

from fakegithub.contract import Contract
from tests.fakegithub.helpers import OWNER, REPO, Served


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "params"),
    [
        ("GET", "/repos/o/r/issues/comments/5", "issues/get-comment", {"comment_id": "5"}),
        ("GET", "/repos/o/r/issues/5", "issues/get", {"issue_number": "5"}),
        ("GET", "/repos/o/r/contents/a/b/c.yml", "repos/get-content", {"path": "a/b/c.yml"}),
        (
            "DELETE",
            "/repos/o/r/issues/1/labels/good%20first%20issue",
            "issues/remove-label",
            {"name": "good first issue"},
        ),
        ("POST", "/graphql", None, None),
        ("GET", "/repos/o/r/issues/5/bogus", None, None),
    ],
)
def test_operation_matching(
    method: str, path: str, operation_id: str | None, params: dict[str, str] | None
) -> None:
    found = Contract.load().match(method, path)
    if operation_id is None:
        assert found is None
        return
    assert found is not None
    assert found.operation.operation_id == operation_id
    assert params is not None and params.items() <= found.path_params.items()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"),
    [
        ("POST", "/issues/1/comments", {"text": "wrong field"}, 422, "request-body"),
        ("POST", "/issues/1/comments", {"body": 5}, 422, "request-body"),
        ("POST", "/issues/1/labels", {"labels": "bug"}, 422, "request-body"),
        ("POST", "/pulls/1/requested_reviewers", {"reviewers": "alice"}, 422, "request-body"),
        ("POST", "/issues", None, 422, "request-body"),
        ("GET", "/issues/abc", None, 404, "path-parameter"),
        ("GET", "/no-such-thing", None, 404, "unknown-operation"),
        ("PUT", "/issues/1/comments", {"body": "x"}, 404, "unknown-operation"),
    ],
)
async def test_violations_are_recorded_and_answered(
    served: Served, method: str, path: str, body: object, status: int, kind: str
) -> None:
    served.fake.add_pull(OWNER, REPO, title="p")
    got, answer, _ = await served.call(method, f"/repos/{OWNER}/{REPO}{path}", json=body)
    assert got == status
    assert answer["message"] and answer["documentation_url"]
    assert [v.kind for v in served.fake.violations] == [kind]
    assert served.fake.violations[0].path.startswith(f"/repos/{OWNER}/{REPO}")


async def test_unknown_query_parameter_is_a_violation(served: Served) -> None:
    status, _, _ = await served.call(
        "GET", f"/repos/{OWNER}/{REPO}/issues", params={"labelz": "bug", "state": "open"}
    )
    assert status == 200  # GitHub ignores it; the fake reports it
    (violation,) = served.fake.violations
    assert (violation.kind, violation.operation_id) == ("query-parameter", "issues/list-for-repo")
    assert "labelz" in violation.message


async def test_invalid_enum_query_value_is_a_violation(served: Served) -> None:
    await served.call("GET", f"/repos/{OWNER}/{REPO}/issues", params={"state": "opened"})
    assert [v.kind for v in served.fake.violations] == ["query-parameter"]


async def test_real_but_unimplemented_operation_is_reported(served: Served) -> None:
    status, _, _ = await served.call("GET", f"/repos/{OWNER}/{REPO}/releases")
    assert status == 404
    assert [v.kind for v in served.fake.violations] == ["not-implemented"]
