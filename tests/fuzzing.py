"""Fuzzed webhook deliveries built from the real example payloads.

One generator for the fuzz test in the suite (driven by Hypothesis' ``randoms()``) and
for ``benchmarks/bench_fuzz.py`` (driven by a seeded ``random.Random``). A delivery is a
real ``@octokit/webhooks-examples`` payload, pointed at a test repository, with a few
mutations at random places: a value replaced by an odd one (a float for an id, a number
as a string, a huge integer, a NUL byte, a lone surrogate, deep nesting, ``NaN``…), a
key removed, a whole object replaced; then serialised, sometimes with an odd
``Content-Type``, and signed with the right secret. A signed body is not a trusted body.

People's text is fuzzed too (:func:`text_delivery`): a comment (``issue_comment``
created or edited, ``discussion_comment.created``), an issue opened or edited, or a
discussion opened, whose text is made of :data:`HOSTILE_TEXT` (commands, mentions,
markers, code fences, bidirectional overrides, the worst inputs of the command
parser), delivered once or again (:data:`REPEATS`). The caller puts the item into the
fake GitHub first, so the tasks it queues find it there and run all the way.
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


#: What people write to make a bot do something: commands, mentions, references,
#: images, HTML, Steward's markers, fences, direction overrides, zero-width characters.
HOSTILE_TEXT: list[str] = [
    "/label bug",
    "/label nope, `x`",
    "/remove-label bug",
    "/assign @me",
    "/assign @victim",
    "/unassign",
    "/reviewers",
    "/steward help",
    "/steward wrong",
    "/steward ` @victim `",
    "\n",
    "\r\n",
    "\n```\n",
    "\n~~~\n",
    "````",
    "`",
    "@victim",
    "@org/maintainers",
    "octo/other#1",
    "![](https://example.invalid/p.png)",
    "<img src=x>",
    "<!-- steward:welcome:issue -->",
    "<!-- steward:commands-help -->",
    "<!--",
    "-->",
    "> ",
    "    ",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\x00",
    "🐛",
]
#: Comments no parser may take long over (each GitHub's maximum of 65,536 characters).
WORST_TEXT: list[str] = [
    "/label a" + " " * 65_527 + "b",
    "`" * 65_536,
    "```\n" * 16_382 + "/label x",
    "<!--" * 16_384,
    "/label\n" * 9_362,
]
#: The events whose text :func:`text_delivery` fills, as ``event.action``.
TEXT_EVENTS = (
    "issue_comment.created",
    "issue_comment.edited",
    "issues.opened",
    "issues.edited",
    "discussion.created",
    "discussion_comment.created",
)
#: How often one item's delivery arrives (GitHub retries, redeliveries, edits).
REPEATS = (1, 1, 2, 3)


def hostile_text(rnd: random.Random) -> str:
    """A person's text: a few hostile pieces, now and then one of the worst inputs."""
    if rnd.random() < 0.08:
        return rnd.choice(WORST_TEXT)
    pieces = [rnd.choice(HOSTILE_TEXT) for _ in range(rnd.randint(1, 8))]
    return "".join(pieces).replace("\x00", "") if rnd.random() < 0.5 else "".join(pieces)


def text_fields(event: str) -> list[tuple[str, str]]:
    """Where the event carries people's text: ``(object, field)`` pairs."""
    if event.startswith(("issue_comment", "discussion_comment")):
        return [("comment", "body")]
    if event.startswith("issues"):
        return [("issue", "title"), ("issue", "body")]
    return [("discussion", "title"), ("discussion", "body")]


#: The real example each text event is built from.
TEXT_EXAMPLES = {
    "issue_comment.created": "issue_comment.created",
    "issue_comment.edited": "issue_comment.edited",
    "issues.opened": "issues.opened",
    "issues.edited": "issues.opened",
    "discussion.created": "discussion.created",
    "discussion_comment.created": "discussion_comment.created",
}


def with_hostile_text(payload: dict[str, Any], name: str, rnd: random.Random) -> dict[str, Any]:
    """``payload`` with hostile text in every field of people's text ``name`` carries
    (a title at most 256 characters, as GitHub allows)."""
    for key, field in text_fields(name):
        if isinstance(payload.get(key), dict):
            text = hostile_text(rnd)
            payload[key][field] = text[:256] if field == "title" else text
    return payload


def text_delivery(rnd: random.Random, payload: dict[str, Any], name: str) -> Delivery:
    """``payload`` (the ``name`` event, ``event.action``, describing an item the caller
    made) signed as GitHub sends it, now and then with one odd value as :func:`fuzzed`
    puts in."""
    from tests.support import SECRET

    event, _, action = name.partition(".")
    payload = copy.deepcopy(payload)
    payload["action"] = action
    if action == "edited":
        first = text_fields(name)[0]
        payload["changes"] = {first[1]: {"from": hostile_text(rnd)[:1000]}}
    done = tuple(mutate(payload, rnd) for _ in range(rnd.choice([0, 0, 0, 1])))
    if rnd.random() < 0.25:  # a body that names no installation (routed all the same)
        payload.pop("installation", None)
        done = (*done, "del installation")
    body = json.dumps(payload, ensure_ascii=rnd.random() < 0.5).encode("utf-8", "surrogatepass")
    headers = delivery_headers(event, body, secret=SECRET)
    return Delivery(event, body, headers, (name, *done))
