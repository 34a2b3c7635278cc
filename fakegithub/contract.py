"""GitHub's REST contract, loaded from the committed OpenAPI extracts. Pure, no I/O
after loading.

``Contract.check`` answers three questions about a request: which operation of
GitHub's description it is, whether its path and query parameters are valid for that
operation, and whether its JSON body matches the operation's request schema. The fake
records every answer that is not "yes" as a :class:`Violation`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft7Validator

#: Response schemas of the published description that no real answer satisfies;
#: the fake does not check its answers against them.
UNRELIABLE_RESPONSE_SCHEMAS: dict[str, str] = {
    "apps/list-installations": "items.account is allOf[simple-user, enterprise] "
    "(the component schema says anyOf)",
}

#: Path parameters that may contain slashes (file paths, git refs).
_GREEDY_PARAMS = frozenset({"path", "ref", "branch"})


@dataclass(frozen=True)
class Violation:
    """A request (or a fake response) that breaks GitHub's published contract."""

    method: str
    path: str
    kind: str  # unknown-operation | path-parameter | query-parameter | request-body | ...
    message: str
    operation_id: str | None = None


@dataclass(frozen=True)
class Operation:
    """One operation of the OpenAPI description."""

    method: str
    template: str
    operation_id: str
    query_names: frozenset[str]
    pattern: re.Pattern[str] = field(compare=False)
    path_names: tuple[str, ...] = ()
    literal_weight: int = 0


@dataclass(frozen=True)
class Match:
    """A request resolved to an operation, with its decoded path parameters."""

    operation: Operation
    path_params: dict[str, str]


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...], int]:
    """Turn ``/repos/{owner}/{repo}`` into a regex over the raw (encoded) path.

    The weight (number of literal characters) lets ``/issues/comments`` win over
    ``/issues/{issue_number}`` when both match, as on GitHub.
    """
    parts = re.split(r"(\{[^}]+\})", template)
    regex = ""
    names: list[str] = []
    weight = 0
    for part in parts:
        if part.startswith("{"):
            # Names such as ``enterprise-team`` are not valid regex group names.
            names.append(part[1:-1])
            regex += "(.+)" if names[-1] in _GREEDY_PARAMS else "([^/]+)"
        else:
            regex += re.escape(part)
            weight += len(part)
    return re.compile(regex), tuple(names), weight


def coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """Convert a query or path string to the type its schema declares, if possible."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in kinds and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    if "boolean" in kinds and value in {"true", "false"}:
        return value == "true"
    return value


class Contract:
    """Operations and schemas of GitHub's REST API (``api.github.com``)."""

    def __init__(
        self,
        operations: list[list[Any]],
        subset: dict[str, Any],
        errors: Mapping[str, Any] | None = None,
    ) -> None:
        self.operations: list[Operation] = []
        for method, template, operation_id, query in operations:
            pattern, names, weight = compile_template(template)
            self.operations.append(
                Operation(method, template, operation_id, frozenset(query), pattern, names, weight)
            )
        # Most literal template first, so the first match is the most specific one.
        self.operations.sort(key=lambda op: -op.literal_weight)
        self.subset: dict[str, Any] = {v["operationId"]: v for v in subset.values()}
        #: GitHub's ``basic-error`` schema: the body of every error answer.
        self.error_schema: dict[str, Any] | None = (errors or {}).get("basic-error")

    @classmethod
    def load(cls) -> Contract:
        """The contract from ``fakegithub/data`` (parsed once per process)."""
        return _load_default()

    def match(self, method: str, raw_path: str) -> Match | None:
        """The operation for ``method`` and a raw (percent-encoded) path, if any."""
        for operation in self.operations:
            if operation.method != method:
                continue
            found = operation.pattern.fullmatch(raw_path)
            if found:
                values = (unquote(v) for v in found.groups())
                params = dict(zip(operation.path_names, values, strict=True))
                return Match(operation, params)
        return None

    def check(
        self, method: str, raw_path: str, query: Mapping[str, str], body: Any
    ) -> tuple[Match | None, list[Violation]]:
        """Resolve and validate one request; ``body`` is parsed JSON or None."""
        found = self.match(method, raw_path)
        if found is None:
            message = f"{method} {raw_path} is not an operation of GitHub's REST API"
            return None, [Violation(method, raw_path, "unknown-operation", message)]
        violations = [
            *self._check_query(found, method, raw_path, query),
            *self._check_parameters(found, method, raw_path, query),
            *self._check_body(found, method, raw_path, body),
        ]
        return found, violations

    def request_schema(self, operation_id: str) -> dict[str, Any] | None:
        """The requestBody entry (``required``, ``schema``) of an operation."""
        entry = self.subset.get(operation_id)
        return entry.get("requestBody") if entry else None

    def response_schema(self, operation_id: str) -> dict[str, Any] | None:
        """The JSON Schema of the 2xx response of an operation, when extracted."""
        entry = self.subset.get(operation_id)
        response = entry.get("response") if entry else None
        return response.get("schema") if response else None

    def check_response(
        self, method: str, path: str, operation_id: str, status: int, payload: Any
    ) -> list[Violation]:
        """Validate a 2xx JSON payload against the operation's response schema."""
        schema = self.response_schema(operation_id)
        if operation_id in UNRELIABLE_RESPONSE_SCHEMAS:
            return []
        if schema is None or not 200 <= status < 300:
            return []
        return [
            Violation(method, path, "response-body", _describe(error), operation_id)
            for error in _first_errors(schema, payload)
        ]

    def check_error(self, method: str, path: str, status: int, payload: Any) -> list[Violation]:
        """Validate an error answer's JSON body against GitHub's ``basic-error``."""
        if self.error_schema is None or status < 400:
            return []
        return [
            Violation(method, path, "error-body", f"HTTP {status}: {_describe(error)}")
            for error in _first_errors(self.error_schema, payload)
        ]

    def _check_query(
        self, found: Match, method: str, path: str, query: Mapping[str, str]
    ) -> list[Violation]:
        operation = found.operation
        return [
            Violation(
                method,
                path,
                "query-parameter",
                f"unknown query parameter {name!r} for {operation.operation_id}",
                operation.operation_id,
            )
            for name in sorted(query)
            if name not in operation.query_names
        ]

    def _check_parameters(
        self, found: Match, method: str, path: str, query: Mapping[str, str]
    ) -> list[Violation]:
        entry = self.subset.get(found.operation.operation_id)
        if entry is None:
            return []
        values = {"path": found.path_params, "query": query}
        violations: list[Violation] = []
        for param in entry["parameters"]:
            raw = values.get(param["in"], {}).get(param["name"])
            if raw is None:
                continue
            for error in _first_errors(param["schema"], coerce(raw, param["schema"])):
                message = f"{param['in']} parameter {param['name']!r}: {error.message}"
                kind = f"{param['in']}-parameter"
                violations.append(
                    Violation(method, path, kind, message, found.operation.operation_id)
                )
        return violations

    def _check_body(self, found: Match, method: str, path: str, body: Any) -> list[Violation]:
        operation_id = found.operation.operation_id
        request = self.request_schema(operation_id)
        if operation_id not in self.subset:
            return []
        if request is None or request.get("schema") is None:
            if body in (None, {}):
                return []
            message = f"{operation_id} takes no request body"
            return [Violation(method, path, "request-body", message, operation_id)]
        if body is None:
            if not request.get("required"):
                return []
            message = f"{operation_id} requires a JSON request body"
            return [Violation(method, path, "request-body", message, operation_id)]
        return [
            Violation(method, path, "request-body", _describe(error), operation_id)
            for error in _first_errors(request["schema"], body)
        ]


def _first_errors(schema: Mapping[str, Any], instance: Any, limit: int = 5) -> list[Any]:
    """Up to ``limit`` validation errors, deterministic order."""
    errors = sorted(Draft7Validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    return errors[:limit]


def _describe(error: Any) -> str:
    """A one-line description of a jsonschema error with its JSON path."""
    location = "/".join(str(p) for p in error.absolute_path) or "<root>"
    return f"{location}: {error.message}"


@functools.cache
def _load_default() -> Contract:
    data = resources.files("fakegithub") / "data"
    operations = json.loads((data / "openapi-operations.json").read_text())["operations"]
    extract = json.loads((data / "openapi-subset.json").read_text())
    return Contract(operations, extract["operations"], extract.get("errors"))
