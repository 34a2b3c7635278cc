"""Real webhook payloads from ``@octokit/webhooks-examples`` (committed extracts)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def available_webhook_examples() -> list[str]:
    """Names of the extracted examples, e.g. ``["discussion.created", "ping", ...]``."""
    folder = resources.files("fakegithub") / "data" / "webhooks"
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def load_webhook_example(name: str) -> dict[str, Any]:
    """A fresh copy of one example payload, by ``event.action`` (or ``ping``)."""
    path = resources.files("fakegithub") / "data" / "webhooks" / f"{name}.json"
    if not path.is_file():
        known = ", ".join(available_webhook_examples())
        raise KeyError(f"no webhook example {name!r}; extracted: {known}")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
