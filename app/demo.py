"""``steward demo``: the whole bot against an offline fake GitHub, narrated.

Starts the fake GitHub (checked against GitHub's OpenAPI description), then the
README's run command (``steward serve``: embedded Redis, a Celery worker, SQLite) in a
temporary folder, replays a handful of real deliveries signed with a throw-away
secret, and prints what the bot did on "GitHub".
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fakegithub import FakeGitHub, load_webhook_example
from fakegithub.deliveries import delivery_headers, retarget, with_author
from fakegithub.fake import new_key_pair

LABEL_DESCRIPTIONS = {
    "bug": "Something isn't working",
    "enhancement": "New feature or request",
    "question": "Further information is requested",
}
#: Closed, labelled issues: the history a bootstrap would read.
PAST_ISSUES = [
    ("Crash when the config file is empty", "bug"),
    ("Exception on startup after upgrading", "bug"),
    ("Support YAML config files", "enhancement"),
    ("Add a --verbose flag", "enhancement"),
    ("How do I run widgets behind a proxy?", "question"),
    ("Where are the logs written?", "question"),
]
APP_ID = 1
INSTALLATION_ID = 1
OWNER, REPO = "acme", "widgets"
#: dave, erin and frank are first-timers.
EXPECTED_WELCOMES = 3
#: The command a maintainer writes in the demo: it labels the issue and gets a 👍.
COMMAND = "/label question"


@dataclass(frozen=True)
class Delivery:
    """One replayed delivery and what we expect of it."""

    title: str
    event: str
    payload: dict[str, Any]
    delivery_id: str | None = None
    secret: str | None = None


def build_world(fake: FakeGitHub, public_pem: str) -> dict[str, int]:
    """A small org: a repo with a contributing guide, a few items by various people."""
    fake.register_app(APP_ID, public_pem, slug="steward")
    fake.add_repo(
        OWNER,
        REPO,
        files={"CONTRIBUTING.md": "# Contributing\n"},
        labels=["bug", "enhancement", "question", "good first issue"],
        collaborators={"alice": "maintain"},
    )
    fake.add_installation(INSTALLATION_ID, OWNER)
    for name, description in LABEL_DESCRIPTIONS.items():
        fake.add_label(OWNER, REPO, name, description=description)
    for title, label in PAST_ISSUES:
        fake.add_issue(OWNER, REPO, title=title, labels=[label], state="closed", user="alice")
    numbers = {
        "dave": fake.add_issue(OWNER, REPO, title="App crashes on start", user="dave").number,
        "alice": fake.add_issue(
            OWNER, REPO, title="Release 2.0", user="alice", author_association="MEMBER"
        ).number,
        "erin": fake.add_pull(
            OWNER,
            REPO,
            title="Fix crash on start",
            user="erin",
            files=["src/start.py"],
            author_association="FIRST_TIME_CONTRIBUTOR",
        ).number,
        "frank": fake.add_discussion(
            OWNER, REPO, title="How do I configure widgets?", author="frank"
        ).number,
    }
    fake.add_issue(OWNER, REPO, title="Old question", user="gina")
    numbers["gina"] = fake.add_issue(OWNER, REPO, title="Another question", user="gina").number
    # A maintainer steers the bot from a comment (see "Commands in comments").
    command = fake.add_comment(OWNER, REPO, numbers["gina"], body=COMMAND, user="alice")
    numbers["command"] = command.id
    return numbers


def _item(name: str, number: int, *, login: str, association: str = "NONE") -> dict[str, Any]:
    key = {"issues": "issue", "pull_request": "pull_request", "discussion": "discussion"}[
        name.split(".")[0]
    ]
    payload = retarget(
        load_webhook_example(name), owner=OWNER, repo=REPO, installation_id=INSTALLATION_ID
    )
    payload[key]["number"] = number
    return with_author(payload, key, login, association)


def deliveries(fake: FakeGitHub, numbers: dict[str, int]) -> list[Delivery]:
    """The replay: real payloads from @octokit/webhooks-examples, retargeted."""
    dave = _item("issues.opened", numbers["dave"], login="dave", association="NONE")
    discussion = _item("discussion.created", numbers["frank"], login="frank", association="NONE")
    discussion["discussion"]["node_id"] = fake.discussion(OWNER, REPO, numbers["frank"]).node_id
    bot = _item("issues.opened", numbers["dave"], login="dependabot[bot]", association="NONE")
    return [
        Delivery("ping from GitHub", "ping", load_webhook_example("ping")),
        Delivery("dave opens his first issue", "issues", dave, delivery_id="dave-1"),
        Delivery("GitHub redelivers it", "issues", dave, delivery_id="dave-1"),
        Delivery(
            "alice (a member) opens an issue",
            "issues",
            _item("issues.opened", numbers["alice"], login="alice", association="MEMBER"),
        ),
        Delivery(
            "erin opens her first pull request",
            "pull_request",
            _item(
                "pull_request.opened",
                numbers["erin"],
                login="erin",
                association="FIRST_TIME_CONTRIBUTOR",
            ),
        ),
        Delivery("frank starts his first discussion", "discussion", discussion),
        Delivery(
            "gina opens her second issue",
            "issues",
            _item("issues.opened", numbers["gina"], login="gina", association="NONE"),
        ),
        Delivery("a bot opens an issue", "issues", bot),
        Delivery(
            f"alice comments {COMMAND}",
            "issue_comment",
            fake.comment_payload(OWNER, REPO, numbers["command"]),
        ),
        Delivery("a forged delivery (wrong secret)", "issues", dave, secret="forged"),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, delivery: Delivery, secret: str) -> tuple[int, str]:
    body = json.dumps(delivery.payload).encode()
    headers = delivery_headers(
        delivery.event, body, secret=delivery.secret or secret, delivery=delivery.delivery_id
    )
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
            return True
    except OSError:
        return False


def _effects(fake: FakeGitHub) -> list[str]:
    lines = []
    for call in fake.requests:
        if call.method == "GET" or "access_tokens" in call.path:
            continue
        body = call.json if isinstance(call.json, dict) else {}
        if call.path == "/graphql":
            if "mutation" not in str(body.get("query", "")):
                continue
            variables = body.get("variables", {})
            text = str(variables.get("body") or f"labels (GraphQL): {variables.get('labels')}")
        elif "labels" in body:
            text = "labels: " + ", ".join(map(str, body["labels"]))
        elif "content" in body:
            text = f"reaction: {body['content']}"
        else:
            text = str(body.get("body", body))
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        lines.append(
            f"  {call.method} {call.path} → {call.status}\n      “{shorten(first_line, 90)}”"
        )
    return lines


def shorten(text: str, width: int) -> str:
    """``text`` cut at a word boundary with an ellipsis, never mid-word (a text without
    spaces, such as compact JSON, is cut at ``width``)."""
    if len(text) <= width:
        return text
    cut = textwrap.shorten(text, width, placeholder=" …")
    return cut if cut != "…" and cut.strip() != "…" else text[: width - 1] + "…"


def answer_text(body: str) -> str:
    """The receiver's answer as a person reads it: the queued tasks as a list."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and isinstance(data.get("queued"), list):
        names = [str(n).removeprefix("steward.") for n in data["queued"]]
        return "queued " + ", ".join(names)
    return body


def _welcomes(fake: FakeGitHub) -> int:
    """Welcome comments posted anywhere in the demo repository."""
    repo = fake.repo(OWNER, REPO)
    bodies = [c for n in repo.issues for c in fake.comment_bodies(OWNER, REPO, n)]
    bodies += [c.body for n in repo.discussions for c in fake.discussion_comments(OWNER, REPO, n)]
    return sum("steward:welcome" in b for b in bodies)


def _command_ran(fake: FakeGitHub) -> bool:
    """Whether alice's ``/label question`` was acknowledged with a 👍."""
    return any(
        "reactions" in call.path and call.status == 201 and call.method == "POST"
        for call in fake.requests
    )


def demo_env(
    *, api: str, data_dir: str, port: int, private_pem: str, secret: str, verbose: bool
) -> dict[str, str]:
    """The environment of the demo's ``steward serve``: the fake GitHub, a throw-away App."""
    env = {
        **os.environ,
        "APP_ID": str(APP_ID),
        "PRIVATE_KEY": private_pem,
        "WEBHOOK_SECRET": secret,
        "GITHUB_API_URL": api,
        "STEWARD_DATA_DIR": data_dir,
        "STEWARD_ENV_FILE": str(Path(data_dir) / "none.env"),
        "PORT": str(port),
        "LOG_LEVEL": "info" if verbose else "warning",
    }
    for name in ("REDIS_URL", "DATABASE_URL"):
        env.pop(name, None)
    return env


def replay(fake: FakeGitHub, numbers: dict[str, int], *, port: int, secret: str) -> bool:
    """Send the deliveries, then wait for the welcomes; True when they all came."""
    url = f"http://127.0.0.1:{port}/api/github/webhooks"
    print("\nreplaying deliveries:")
    for delivery in deliveries(fake, numbers):
        status, text = _post(url, delivery, secret)
        print(f"  {status}  {delivery.title:<40} {shorten(answer_text(text), 70)}")
    done = _wait(lambda: _welcomes(fake) >= EXPECTED_WELCOMES and _command_ran(fake), 90)
    time.sleep(2)  # let any (wrong) extra effect show up before we count
    return done


def report(fake: FakeGitHub, *, done: bool) -> int:
    """Print what the bot did on the fake GitHub; 0 when every expectation held."""
    print("\nwhat the bot did on GitHub:")
    print("\n".join(_effects(fake)) or "  nothing")
    print(
        f"\nGitHub calls made: {len(fake.requests)}; "
        f"calls that break GitHub's OpenAPI description: {len(fake.violations)}"
    )
    ok = (
        done and _welcomes(fake) == EXPECTED_WELCOMES and _command_ran(fake) and not fake.violations
    )
    print(
        "demo "
        + (
            "passed: one welcome for each first-timer (none for members, bots or forgeries); "
            "labels only from the repository's own set; the maintainer's command ran once."
            if ok
            else "FAILED"
        )
    )
    return 0 if ok else 1


def run_demo(*, verbose: bool = False) -> int:
    """Run the narrated demo; 0 when every expectation held."""
    private_pem, public_pem = new_key_pair()
    secret = secrets.token_hex(16)
    fake = FakeGitHub()
    numbers = build_world(fake, public_pem)
    with tempfile.TemporaryDirectory(prefix="steward-demo-") as tmp, fake.serve_in_thread() as api:
        port = _free_port()
        env = demo_env(
            api=api,
            data_dir=tmp,
            port=port,
            private_pem=private_pem,
            secret=secret,
            verbose=verbose,
        )
        print(f"fake GitHub at {api}; starting `steward serve` (embedded Redis + worker) …")
        log = None if verbose else open_service_log()
        if log is not None:
            print(f"the bot's own logs go to {log.name}")
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=env,
            start_new_session=True,
            stdout=log,
            stderr=log,
        )
        try:
            if not _wait(lambda: _healthy(port), 60):
                print("steward serve did not come up", file=sys.stderr)
                return 1
            done = replay(fake, numbers, port=port, secret=secret)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
            if log is not None:
                log.close()
    return report(fake, done=done)


def open_service_log() -> IO[bytes]:
    """``.steward/demo.log`` (kept after the demo), so the story stays readable."""
    path = Path(".steward") / "demo.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")
