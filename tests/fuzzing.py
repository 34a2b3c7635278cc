"""Fuzzed webhook deliveries built from the real example payloads.

One generator for the fuzz test in the suite (driven by Hypothesis' ``randoms()``) and
for ``benchmarks/bench_fuzz.py`` (driven by a seeded ``random.Random``). A delivery is a
real ``@octokit/webhooks-examples`` payload, pointed at a test repository, with a few
mutations at random places: a value replaced by an odd one (a float for an id, a number
as a string, a huge integer, a NUL byte, a lone surrogate, deep nesting, ``NaN``…), a
key removed, a whole object replaced; then serialised, sometimes with an odd
``Content-Type``, and signed with the right secret. A signed body is not a trusted body.
"""

from __future__ import annotations

import copy
import json
import random
import urllib.parse
from dataclasses import dataclass
from typing import Any

from fakegithub.deliveries import delivery_headers, retarget
from fakegithub.webhooks import available_webhook_examples, load_webhook_example

EXAMPLES = available_webhook_examples()

#: Odd values a proxy, another GitHub version or a leaked secret could send.
ODD_VALUES: list[Any] = [
    None,
    1.0,
    "12",
    2**70,
    -1,
    0,
    True,
    [],
    {},
    "",
    "a\x00b",
    "\ud800",
    "x" * 5000,
    "../../etc/passwd",
    "octo org",
    float("nan"),
    float("inf"),
    [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
    {"login": 7},
    {"id": "1"},
    [{"name": None}],
    "🐛",
]

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=bogus",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "Application/JSON",
    "text/plain",
    "",
    "application/x-www-form-urlencoded",
]


@dataclass(frozen=True)
class Delivery:
    """One fuzzed, signed delivery."""

    event: str
    body: bytes
    headers: dict[str, str]
    mutations: tuple[str, ...]


def paths(node: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> list[tuple[Any, ...]]:
    """Every key path of a payload down to ``depth`` (list items by index)."""
    found: list[tuple[Any, ...]] = []
    if depth == 0 or not isinstance(node, dict | list):
        return found
    children = node.items() if isinstance(node, dict) else enumerate(node[:3])
    for key, value in children:
        path = (*prefix, key)
        found.append(path)
        found.extend(paths(value, path, depth - 1))
    return found


def mutate(payload: dict[str, Any], rnd: random.Random) -> str:
    """Change one place of ``payload`` in place; say what was done."""
    path = rnd.choice(paths(payload))
    parent: Any = payload
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    roll = rnd.random()
    if roll < 0.15 and isinstance(parent, dict):
        del parent[key]
        return f"del {'.'.join(map(str, path))}"
    if roll < 0.25:
        depth = rnd.choice([50, 600, 5000])
        parent[key] = json.loads("[" * depth + "]" * depth) if depth < 900 else "deep"
        return f"nest {'.'.join(map(str, path))} {depth}"
    value = copy.deepcopy(rnd.choice(ODD_VALUES))  # never shared: a later mutation nests
    parent[key] = value
    return f"set {'.'.join(map(str, path))} = {value!r:.30}"


def serialise(payload: dict[str, Any], rnd: random.Random) -> bytes:
    """JSON as GitHub writes it, or with the odd encoding choices a proxy makes."""
    text = json.dumps(payload, ensure_ascii=rnd.random() < 0.5, allow_nan=True)
    if rnd.random() < 0.02:
        text = "[" * 3000 + text + "]" * 3000  # deeper than any parser should follow
    return text.encode("utf-8", "surrogatepass")


def fuzzed(rnd: random.Random, *, owner: str, repo: str, installation_id: int) -> Delivery:
    """A real payload for ``owner/repo`` with 0–3 mutations, signed with ``SECRET``."""
    from tests.support import SECRET

    name = rnd.choice(EXAMPLES)
    payload = load_webhook_example(name)
    if "repository" in payload:
        payload = retarget(payload, owner=owner, repo=repo, installation_id=installation_id)
    done = tuple(mutate(payload, rnd) for _ in range(rnd.choice([0, 1, 1, 2, 3])))
    body = serialise(payload, rnd)
    content_type = rnd.choice(CONTENT_TYPES) if rnd.random() < 0.3 else "application/json"
    if content_type == "application/x-www-form-urlencoded":
        body = b"payload=" + urllib.parse.quote_from_bytes(body).encode()
    event = name.split(".")[0]
    headers = delivery_headers(event, body, secret=SECRET)
    headers["Content-Type"] = content_type
    return Delivery(event, body, headers, (name, *done, f"content-type {content_type!r}"))
