"""The repository config schema: parsing, merging, _extends, docs."""

from __future__ import annotations

import pytest

from core.config_schema import (
    ConfigSyntaxError,
    RepoConfig,
    deep_merge,
    load_yaml,
    parse_config,
    parse_extends,
    schema_docs,
)


def test_empty_config_is_all_defaults() -> None:
    config, errors = parse_config({})
    assert config == RepoConfig() and errors == []
    assert config.mode == "live" and config.welcome.enabled


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"mode": "loud"}, "mode: expected 'live' | 'shadow'"),
        ({"welcome": {"enabled": "yes"}}, "welcome.enabled: expected bool"),
        ({"welcome": True}, "welcome: must be a mapping"),
        ({"welcom": {}}, "welcom: unknown setting"),
        ({"triage": {"min_confidence": {"bug": "high"}}}, "triage.min_confidence"),
        ({"reviewers": {"count": 1.5}}, "reviewers.count: expected int"),
        ({"triage": {"precision": 0}}, "triage.precision: expected a number above 0"),
        ({"triage": {"precision": 1.5}}, "triage.precision: expected a number above 0"),
        ({"triage": {"precision": "high"}}, "triage.precision: expected float"),
        ({"triage": {"min_support": 0}}, "triage.min_support: expected at least 1"),
        ({"triage": {"status_labels": "stale"}}, "triage.status_labels: expected list[str]"),
    ],
)
def test_invalid_values_are_reported_and_defaulted(raw: dict, error: str) -> None:  # type: ignore[type-arg]
    config, errors = parse_config(raw)
    assert any(error in e for e in errors), errors
    assert config.mode == "live" and config.welcome.enabled is True


def test_valid_values_are_used_and_others_kept() -> None:
    config, errors = parse_config(
        {"mode": "shadow", "welcome": {"issue": False}, "triage": {"min_confidence": {"bug": 1}}}
    )
    assert errors == []
    assert config.mode == "shadow" and not config.welcome.issue and config.welcome.pull_request
    assert config.triage.min_confidence == {"bug": 1.0}


def test_label_trust_settings() -> None:
    defaults = RepoConfig().triage
    assert (defaults.precision, defaults.min_support) == (0.95, 10)
    assert {"duplicate", "wontfix", "good first issue", "status/*"} <= set(defaults.status_labels)
    config, errors = parse_config(
        {"triage": {"precision": 1, "min_support": 3, "status_labels": []}}
    )
    assert errors == []
    assert config.triage.precision == 1.0 and isinstance(config.triage.precision, float)
    assert config.triage.min_support == 3 and config.triage.status_labels == []
    bad, errors = parse_config({"triage": {"precision": 0, "min_support": 5}})
    assert len(errors) == 1 and (bad.triage.precision, bad.triage.min_support) == (0.95, 5)


def test_deep_merge_order() -> None:
    org = {"welcome": {"issue": False, "discussion": False}, "mode": "shadow"}
    repo = {"welcome": {"issue": True}}
    assert deep_merge(org, repo) == {
        "welcome": {"issue": True, "discussion": False},
        "mode": "shadow",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (".github", ("me", ".github", ".github/steward.yml")),
        ("other/base", ("other", "base", ".github/steward.yml")),
        ("other/base:conf/steward.yml", ("other", "base", "conf/steward.yml")),
        ("", None),
        (3, None),
    ],
)
def test_parse_extends(value: object, expected: tuple[str, str, str] | None) -> None:
    assert parse_extends(value, owner="me") == expected


@pytest.mark.parametrize("text", ["welcome: [", "- a list", "just words"])
def test_yaml_that_is_not_a_mapping(text: str) -> None:
    with pytest.raises(ConfigSyntaxError):
        load_yaml(text)


def test_every_setting_is_documented() -> None:
    rows = schema_docs()
    assert len(rows) > 20
    assert all(doc for _, _, _, doc in rows)


def test_readme_reference_matches_the_schema() -> None:
    """The `.github/steward.yml` reference in the manual is the schema's own."""
    from pathlib import Path

    from core.config_schema import schema_markdown

    page = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    text = page.read_text()
    block = text.split("<!-- config-docs:start -->\n")[1].split("<!-- config-docs:end -->")[0]
    assert block.strip() == schema_markdown().strip(), (
        "the reference is stale: paste `steward config-docs` between the config-docs markers"
        " of docs/configuration.md"
    )
