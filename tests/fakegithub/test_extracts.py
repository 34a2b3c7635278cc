"""The committed extracts are small, complete and loadable."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from fakegithub import load_webhook_example
from fakegithub.contract import Contract
from fakegithub.graphql_api import load_schema
from fakegithub.webhooks import available_webhook_examples

DATA = Path(__file__).resolve().parents[2] / "fakegithub" / "data"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "extract_github_fixtures.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("extract_github_fixtures", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extracts_stay_small() -> None:
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 3_000_000


def test_every_webhook_example_loads() -> None:
    names = available_webhook_examples()
    assert "issues.opened" in names and "discussion.created" in names
    for name in names:
        payload = load_webhook_example(name)
        assert payload.get("action", "ping") == (name.split(".")[1] if "." in name else "ping")
    with pytest.raises(KeyError):
        load_webhook_example("issues.exploded")


def test_contract_knows_all_of_github_and_the_subset() -> None:
    contract = Contract.load()
    assert len(contract.operations) > 900
    assert contract.request_schema("issues/create-comment") is not None
    assert contract.response_schema("issues/get") is not None


def test_graphql_schema_has_real_names() -> None:
    schema = load_schema()
    assert {"addDiscussionComment", "addLabelsToLabelable"} <= set(schema.mutation_type.fields)
    assert "discussionCount" in schema.type_map["SearchResultItemConnection"].fields


@pytest.mark.parametrize(
    ("openapi", "json_schema"),
    [
        ({"type": "string", "nullable": True}, {"type": ["string", "null"]}),
        (
            {"type": "string", "enum": ["a"], "nullable": True},
            {"type": ["string", "null"], "enum": ["a", None]},
        ),
        (
            {"anyOf": [{"type": "string"}], "nullable": True},
            {"anyOf": [{"anyOf": [{"type": "string"}]}, {"type": "null"}]},
        ),
        (
            {"type": "object", "properties": {"nullable": {"type": "integer", "nullable": True}}},
            {"type": "object", "properties": {"nullable": {"type": ["integer", "null"]}}},
        ),
    ],
)
def test_nullable_conversion(openapi: dict[str, object], json_schema: dict[str, object]) -> None:
    assert _script().to_json_schema(openapi) == json_schema
