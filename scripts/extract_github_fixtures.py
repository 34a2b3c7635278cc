"""Extract small, committed fixtures from GitHub's published API descriptions.

The fake GitHub in ``fakegithub`` checks every request against GitHub's real
contract. The packages that describe that contract are large (``@octokit/openapi`` is
hundreds of megabytes), so this script installs them with npm into a temporary
directory and writes only small extracts into ``fakegithub/data/``:

* ``webhooks/<event>.<action>.json`` – one real example payload per event/action;
* ``openapi-operations.json`` – every (method, path, operationId, query params);
* ``openapi-subset.json`` – dereferenced parameters, request and response schemas
  (OpenAPI 3.0 converted to JSON Schema) for the operations the fake implements;
* ``graphql-subset.graphql`` – an SDL subset of GitHub's GraphQL schema.

The output is deterministic (sorted keys, pinned package versions) so re-running the
script produces no diff unless the pinned versions change.

Usage::

    python scripts/extract_github_fixtures.py [--packages-dir DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    build_ast_schema,
    parse,
    print_ast,
    validate_schema,
)
from graphql.language import ListTypeNode, NonNullTypeNode

#: Pinned so the extracts are reproducible; bump deliberately and re-run.
PACKAGES: dict[str, str] = {
    "@octokit/webhooks-examples": "7.6.1",
    "@octokit/openapi": "23.0.2",
    "@octokit/graphql-schema": "15.26.1",
}

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "fakegithub" / "data"

#: (event, action) pairs for which one example payload is extracted; ``None`` = no action.
WEBHOOKS: tuple[tuple[str, str | None], ...] = (
    ("ping", None),
    ("issues", "opened"),
    ("issues", "labeled"),
    ("issues", "unlabeled"),
    ("issues", "closed"),
    ("issue_comment", "created"),
    ("issue_comment", "edited"),
    ("pull_request", "opened"),
    ("pull_request", "closed"),
    ("pull_request", "ready_for_review"),
    ("pull_request", "labeled"),
    ("pull_request", "unlabeled"),
    ("pull_request_review", "submitted"),
    ("discussion", "created"),
    ("discussion", "labeled"),
    ("discussion_comment", "created"),
    ("discussion_comment", "edited"),
    ("installation", "created"),
    ("installation", "deleted"),
    ("installation_repositories", "added"),
    ("installation_repositories", "removed"),
)

#: REST operations the fake implements: their schemas go into ``openapi-subset.json``.
SUBSET_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "/app"),
    ("get", "/app/installations"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/app/hook/deliveries"),
    ("get", "/app/hook/deliveries/{delivery_id}"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
    ("post", "/app-manifests/{code}/conversions"),
    ("get", "/rate_limit"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/issues"),
    ("post", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("get", "/repos/{owner}/{repo}/labels"),
    ("post", "/repos/{owner}/{repo}/labels"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("put", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/events"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/assignees"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/assignees"),
    ("get", "/repos/{owner}/{repo}/assignees/{assignee}"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("delete", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("get", "/repos/{owner}/{repo}/collaborators"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/search/issues"),
    ("get", "/user"),
    ("get", "/user/installations"),
    ("get", "/user/installations/{installation_id}/repositories"),
)

#: The schema of GitHub's error bodies (``message``, ``documentation_url``, ``status``).
BASIC_ERROR_REF = {"$ref": "#/components/schemas/basic-error"}

#: Budget for all response schemas together; above it they are dropped (see brief).
RESPONSE_BUDGET_BYTES = 1_500_000

#: What the history backfill reads of an issue or a pull request.
_ITEM_FIELDS = (
    "id",
    "number",
    "title",
    "body",
    "createdAt",
    "updatedAt",
    "closedAt",
    "labels",
    "timelineItems",
)

#: GraphQL subset: object/interface/union type -> fields kept. Enums, scalars and input
#: objects reached from kept fields' arguments are copied whole.
GRAPHQL_FIELDS: dict[str, tuple[str, ...]] = {
    "Query": ("node", "nodes", "rateLimit", "repository", "search", "user", "viewer"),
    "Mutation": (
        "addDiscussionComment",
        "addLabelsToLabelable",
        "addReaction",
        "createDiscussion",
        "removeLabelsFromLabelable",
        "updateDiscussion",
    ),
    "Node": ("id",),
    "Labelable": ("labels",),
    "Actor": ("login", "url"),
    "User": ("id", "login", "url", "name", "status"),
    "UserStatus": ("indicatesLimitedAvailability", "message"),
    "Bot": ("id", "login", "url"),
    "Repository": (
        "id",
        "name",
        "nameWithOwner",
        "url",
        "discussion",
        "discussionCategories",
        "discussions",
        "issue",
        "issues",
        "label",
        "labels",
        "pullRequest",
        "pullRequests",
    ),
    "Discussion": (
        "id",
        "number",
        "title",
        "body",
        "url",
        "createdAt",
        "author",
        "repository",
        "labels",
        "comments",
        "category",
        "closed",
        # The history backfill: when it changed, closed and was answered (GitHub keeps
        # no timeline for discussions, so no label events).
        "updatedAt",
        "closedAt",
        "isAnswered",
        "answerChosenAt",
    ),
    "DiscussionCategory": ("id", "name", "description", "isAnswerable"),
    "DiscussionCategoryConnection": ("edges", "nodes", "pageInfo", "totalCount"),
    "DiscussionConnection": ("edges", "nodes", "pageInfo", "totalCount"),
    "DiscussionEdge": ("cursor", "node"),
    "DiscussionCategoryEdge": ("cursor", "node"),
    "DiscussionComment": ("id", "body", "url", "createdAt", "updatedAt", "author", "discussion"),
    "DiscussionCommentConnection": ("edges", "nodes", "pageInfo", "totalCount"),
    "DiscussionCommentEdge": ("cursor", "node"),
    "Label": ("id", "name", "color", "description", "url"),
    "LabelConnection": ("edges", "nodes", "pageInfo", "totalCount"),
    "LabelEdge": ("cursor", "node"),
    "PageInfo": ("endCursor", "hasNextPage", "hasPreviousPage", "startCursor"),
    "SearchResultItemConnection": ("discussionCount", "issueCount", "nodes", "pageInfo"),
    "SearchResultItem": ("Discussion", "User"),
    "AddDiscussionCommentPayload": ("clientMutationId", "comment"),
    "AddLabelsToLabelablePayload": ("clientMutationId", "labelable"),
    "AddReactionPayload": ("clientMutationId", "reaction"),
    "CreateDiscussionPayload": ("clientMutationId", "discussion"),
    "UpdateDiscussionPayload": ("clientMutationId", "discussion"),
    "Reaction": ("id", "content"),
    "RemoveLabelsFromLabelablePayload": ("clientMutationId", "labelable"),
    # The history backfill: issues and pull requests a hundred at a time, with their
    # labels, who labelled them (the timeline's label events), a pull request's files,
    # and what the query cost.
    "RateLimit": ("cost", "limit", "nodeCount", "remaining", "resetAt", "used"),
    "Issue": _ITEM_FIELDS,
    "PullRequest": (*_ITEM_FIELDS, "files"),
    "IssueConnection": ("edges", "nodes", "pageInfo", "totalCount"),
    "IssueEdge": ("cursor", "node"),
    "PullRequestConnection": ("edges", "nodes", "pageInfo", "totalCount"),
    "PullRequestEdge": ("cursor", "node"),
    "IssueTimelineItemsConnection": ("nodes", "pageInfo", "totalCount"),
    "PullRequestTimelineItemsConnection": ("nodes", "pageInfo", "totalCount"),
    "IssueTimelineItems": ("LabeledEvent", "UnlabeledEvent"),
    "PullRequestTimelineItems": ("LabeledEvent", "UnlabeledEvent"),
    "LabeledEvent": ("id", "actor", "createdAt", "label"),
    "UnlabeledEvent": ("id", "actor", "createdAt", "label"),
    "PullRequestChangedFile": ("path", "additions", "deletions"),
    "PullRequestChangedFileConnection": ("nodes", "pageInfo", "totalCount"),
}

#: OpenAPI 3.0 keywords with no validation meaning; dropped to keep extracts small.
_DROP_KEYS = frozenset(
    {
        "description",
        "example",
        "examples",
        "title",
        "externalDocs",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
        "xml",
    }
)


def npm_install(target: Path) -> Path:
    """Install the pinned packages into ``target`` and return its ``node_modules``."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "package.json").write_text('{"name": "fixtures", "private": true}\n')
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", *specs],
        cwd=target,
        check=True,
    )
    return target / "node_modules"


def write_json(path: Path, data: Any) -> int:
    """Write ``data`` as compact, key-sorted JSON; return the byte size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path.stat().st_size


# --------------------------------------------------------------------------- webhooks


def pick_example(examples: list[dict[str, Any]], event: str, action: str | None) -> Any:
    """Pick the first example for ``action``; for ``pull_request.closed`` prefer a merge."""
    matching = [e for e in examples if e.get("action") == action]
    if event == "pull_request" and action == "closed":
        merged = [e for e in matching if e.get("pull_request", {}).get("merged")]
        matching = merged or matching
    return matching[0] if matching else None


def extract_webhooks(modules: Path, out: Path) -> list[str]:
    """Write one example payload per wanted event/action; return the missing ones."""
    index = modules / "@octokit" / "webhooks-examples" / "api.github.com" / "index.json"
    definitions = {d["name"]: d for d in json.loads(index.read_text())}
    missing: list[str] = []
    for event, action in WEBHOOKS:
        name = f"{event}.{action}" if action else event
        examples = definitions.get(event, {}).get("examples", [])
        example = pick_example(examples, event, action)
        if example is None:
            missing.append(name)
            continue
        path = out / "webhooks" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Webhook payloads stay pretty-printed: people read them in test failures.
        path.write_text(json.dumps(example, indent=2, sort_keys=True) + "\n")
    if missing:
        (out / "webhooks" / "MISSING.txt").write_text(
            "Not in @octokit/webhooks-examples "
            f"{PACKAGES['@octokit/webhooks-examples']}:\n" + "\n".join(missing) + "\n"
        )
    return missing


# --------------------------------------------------------------------------- openapi


class Dereferencer:
    """Resolve ``$ref`` in an OpenAPI document and convert schemas to JSON Schema."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def lookup(self, ref: str) -> Any:
        """Return the object a local ``#/a/b`` reference points to."""
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def resolve(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        """Dereference ``node`` recursively; a cyclic reference becomes ``{}`` (any)."""
        if isinstance(node, list):
            return [self.resolve(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if ref in stack:
                return {}
            return self.resolve(self.lookup(ref), (*stack, ref))
        return {
            key: self.resolve(value, stack)
            for key, value in node.items()
            if key not in _DROP_KEYS and not key.startswith("x-")
        }


def to_json_schema(schema: Any) -> Any:
    """Convert an (already dereferenced) OpenAPI 3.0 schema to JSON Schema.

    OpenAPI 3.0 marks nullable values with ``nullable: true`` instead of a ``null``
    type; JSON Schema validators ignore that keyword, so it must be rewritten.
    """
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {
        key: (value if key in {"enum", "required", "default"} else to_json_schema(value))
        for key, value in schema.items()
        if key != "nullable"
    }
    if "properties" in schema:
        # Property names are data, not keywords: convert only their schemas.
        converted["properties"] = {
            name: to_json_schema(sub) for name, sub in schema["properties"].items()
        }
    if not schema.get("nullable"):
        return converted
    if isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
        if "enum" in converted and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
        return converted
    return {"anyOf": [converted, {"type": "null"}]}


def iter_operations(document: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """Yield ``(method, path, operation)`` for every operation, in sorted order."""
    methods = ("get", "put", "post", "delete", "patch", "head", "options")
    for path in sorted(document["paths"]):
        item = document["paths"][path]
        for method in methods:
            if method in item:
                yield method, path, item[method]


def operation_parameters(deref: Dereferencer, path: str, method: str) -> list[dict[str, Any]]:
    """Return the merged path-level and operation-level parameters of an operation."""
    item = deref.document["paths"][path]
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        param = deref.resolve(raw)
        merged[(param["in"], param["name"])] = {
            "in": param["in"],
            "name": param["name"],
            "required": bool(param.get("required", False)),
            "schema": to_json_schema(param.get("schema", {})),
        }
    return [merged[key] for key in sorted(merged)]


def extract_operations(deref: Dereferencer) -> list[list[Any]]:
    """Every operation as ``[METHOD, path, operationId, [query parameter names]]``."""
    rows: list[list[Any]] = []
    for method, path, operation in iter_operations(deref.document):
        params = operation_parameters(deref, path, method)
        query = sorted(p["name"] for p in params if p["in"] == "query")
        rows.append([method.upper(), path, operation["operationId"], query])
    return rows


def json_body_schema(container: dict[str, Any] | None) -> Any:
    """The ``application/json`` schema of a request body or response, if any."""
    if not container:
        return None
    content = container.get("content", {})
    for media_type in sorted(content):
        if "json" in media_type and "schema" in content[media_type]:
            return to_json_schema(content[media_type]["schema"])
    return None


def subset_entry(deref: Dereferencer, method: str, path: str) -> dict[str, Any]:
    """Parameters, request body and 2xx response schema of one operation."""
    operation = deref.document["paths"][path][method]
    body = deref.resolve(operation.get("requestBody"))
    responses = operation.get("responses", {})
    success = sorted(code for code in responses if code.startswith("2"))
    response = deref.resolve(responses[success[0]]) if success else None
    return {
        "operationId": operation["operationId"],
        "parameters": operation_parameters(deref, path, method),
        "requestBody": (
            {"required": bool(body.get("required")), "schema": json_body_schema(body)}
            if body
            else None
        ),
        "response": (
            {"status": int(success[0]), "schema": json_body_schema(response)} if success else None
        ),
    }


def extract_openapi(modules: Path, out: Path) -> dict[str, int]:
    """Write ``openapi-operations.json`` and ``openapi-subset.json``; return sizes."""
    source = modules / "@octokit" / "openapi" / "generated" / "api.github.com.json"
    deref = Dereferencer(json.loads(source.read_text()))
    origin = f"@octokit/openapi {PACKAGES['@octokit/openapi']} api.github.com.json"
    sizes = {
        "openapi-operations.json": write_json(
            out / "openapi-operations.json",
            {"source": origin, "operations": extract_operations(deref)},
        )
    }
    subset = {
        f"{method.upper()} {path}": subset_entry(deref, method, path)
        for method, path in SUBSET_OPERATIONS
    }
    response_bytes = sum(
        len(json.dumps(e["response"]["schema"])) for e in subset.values() if e["response"]
    )
    if response_bytes > RESPONSE_BUDGET_BYTES:
        for entry in subset.values():
            if entry["response"]:
                entry["response"]["schema"] = None
    # Every error answer (rate limits included) is a ``basic-error``: the fake checks its
    # own against it.
    errors = {"basic-error": to_json_schema(deref.resolve(BASIC_ERROR_REF))}
    sizes["openapi-subset.json"] = write_json(
        out / "openapi-subset.json", {"source": origin, "operations": subset, "errors": errors}
    )
    return sizes


# --------------------------------------------------------------------------- graphql


def named_type(node: TypeNode) -> str:
    """The innermost type name of a (possibly list / non-null) type reference."""
    while isinstance(node, ListTypeNode | NonNullTypeNode):
        node = node.type
    assert isinstance(node, NamedTypeNode)
    return node.name.value


def strip_field(field: FieldDefinitionNode) -> FieldDefinitionNode:
    """A copy of ``field`` without descriptions or directives (kept SDL small)."""
    arguments = tuple(
        arg.__class__(name=arg.name, type=arg.type, default_value=arg.default_value, directives=())
        for arg in field.arguments or ()
    )
    return FieldDefinitionNode(name=field.name, type=field.type, arguments=arguments, directives=())


def graphql_subset(document: DocumentNode) -> str:
    """Build the SDL subset described by ``GRAPHQL_FIELDS`` and validate it."""
    definitions: dict[str, Any] = {
        d.name.value: d for d in document.definitions if hasattr(d, "name") and d.name
    }
    kept: dict[str, Any] = {}
    pending: list[str] = []
    for type_name, members in GRAPHQL_FIELDS.items():
        kept[type_name] = subset_composite(definitions[type_name], members, pending)
    while pending:
        name = pending.pop()
        if name in kept or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        kept[name] = subset_leaf(definitions[name], pending)
    sdl = "\n\n".join(print_ast(kept[name]) for name in sorted(kept)) + "\n"
    errors = validate_schema(build_ast_schema(parse(sdl)))
    if errors:
        raise SystemExit(f"invalid GraphQL subset: {errors}")
    return sdl


def subset_composite(definition: Any, members: tuple[str, ...], pending: list[str]) -> Any:
    """Keep only ``members`` of an object, interface or union definition."""
    if isinstance(definition, UnionTypeDefinitionNode):
        types = tuple(t for t in definition.types or () if t.name.value in members)
        return UnionTypeDefinitionNode(name=definition.name, types=types, directives=())
    fields = tuple(strip_field(f) for f in definition.fields or () if f.name.value in members)
    missing = set(members) - {f.name.value for f in fields}
    if missing:
        raise SystemExit(f"{definition.name.value} has no fields {sorted(missing)}")
    for field in fields:
        pending.append(named_type(field.type))
        pending.extend(named_type(arg.type) for arg in field.arguments or ())
    # An interface is kept only where the subset keeps all of its fields here.
    names = set(members)
    interfaces = tuple(
        i
        for i in definition.interfaces or ()
        if names.issuperset(GRAPHQL_FIELDS.get(i.name.value, ("\0",)))
    )
    node_class = (
        InterfaceTypeDefinitionNode
        if isinstance(definition, InterfaceTypeDefinitionNode)
        else ObjectTypeDefinitionNode
    )
    return node_class(name=definition.name, fields=fields, interfaces=interfaces, directives=())


def subset_leaf(definition: Any, pending: list[str]) -> Any:
    """Copy an enum, scalar or input object whole (minus descriptions/directives)."""
    if isinstance(definition, ScalarTypeDefinitionNode):
        return ScalarTypeDefinitionNode(name=definition.name, directives=())
    if isinstance(definition, EnumTypeDefinitionNode):
        values = tuple(v.__class__(name=v.name, directives=()) for v in definition.values or ())
        return EnumTypeDefinitionNode(name=definition.name, values=values, directives=())
    if isinstance(definition, InputObjectTypeDefinitionNode):
        fields = tuple(
            f.__class__(name=f.name, type=f.type, default_value=f.default_value, directives=())
            for f in definition.fields or ()
        )
        pending.extend(named_type(f.type) for f in fields)
        return InputObjectTypeDefinitionNode(name=definition.name, fields=fields, directives=())
    raise SystemExit(f"type {definition.name.value} is reached but not listed in GRAPHQL_FIELDS")


def extract_graphql(modules: Path, out: Path) -> int:
    """Write ``graphql-subset.graphql``; return its size."""
    source = modules / "@octokit" / "graphql-schema" / "schema.graphql"
    sdl = graphql_subset(parse(source.read_text()))
    header = (
        f"# Subset of GitHub's GraphQL schema (@octokit/graphql-schema "
        f"{PACKAGES['@octokit/graphql-schema']}), written by "
        "scripts/extract_github_fixtures.py.\n\n"
    )
    path = out / "graphql-subset.graphql"
    path.write_text(header + sdl)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Install the packages (or reuse ``--packages-dir``) and write every extract."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--packages-dir", type=Path, help="an existing node_modules with the packages (skips npm)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="steward-fixtures-") as tmp:
        modules = args.packages_dir or npm_install(Path(tmp))
        missing = extract_webhooks(modules, args.out)
        sizes = extract_openapi(modules, args.out)
        sizes["graphql-subset.graphql"] = extract_graphql(modules, args.out)
    for name, size in sorted(sizes.items()):
        print(f"{name}: {size} bytes")
    print("missing webhook examples:", ", ".join(missing) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
