"""make test-deploy's scenario: the real docker-compose.yml, as an organisation runs it,
against the project's fake GitHub.

deploy/test-deploy.sh builds the images and calls this with the host's virtualenv (it
imports ``fakegithub`` and reads the database through ``core.store``). Every step checks
what it claims and stops the run with a message when it does not hold:

1. ``up`` (web ×2, worker ×2): the web containers serve the setup page; the workers and the
   scheduler wait for the App and say so through their healthchecks.
2. The setup flow inside the containers: ``/`` on one web container, the fake's manifest
   conversion (what GitHub does when the form is posted), ``/setup/callback`` on the other;
   the credentials land in ``/data/.env`` on the volume (0600, uid steward) and survive
   ``docker compose restart``.
3. An installation: the bootstrap reads the repository's clean history (72 ``bug``, 24
   ``enhancement``) and puts ``bug`` live on day one (the gate's 95 % bound reaches 0.95).
4. New issues through both web containers: each decided once, ``bug`` applied to the
   crash reports, each newcomer welcomed once. Then ``celery -A workers.celery_app inspect
   ping`` in a web container: every worker container answers (again after step 6).
5. ``docker kill`` of a worker while it holds tasks: they finish on the other worker;
   0 lost, 0 doubled.
6. Workers stopped, issues queued, ``docker compose down`` and ``up``: the queued work is
   done once, the App is still configured, redeliveries of old deliveries are duplicates.
7. Redis stopped: web, workers and scheduler report unhealthy; Redis back: healthy again.

It prints a table (with the build numbers test-deploy.sh measured) and writes it to
``build/deploy-test/report.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.cookiejar
import ipaddress
import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fakegithub import FakeGitHub, load_webhook_example  # noqa: E402
from fakegithub.deliveries import retarget, with_author  # noqa: E402

OWNER, REPO = "acme", "widgets"
FULL = f"{OWNER}/{REPO}"
INSTALLATION_ID = 4242
SUBJECTS = [
    "the settings page", "the CSV export", "login", "the search box", "file upload",
    "the dashboard", "notifications", "the API client", "dark mode", "the installer", "sync",
    "the editor", "printing", "the sidebar", "tags", "the calendar", "comments",
    "the mobile app", "backups", "the importer",
]  # fmt: skip
NEW_SUBJECTS = [
    "the report builder", "the invoice page", "the chat window", "the map view",
    "the photo gallery", "the audit log", "the billing page", "the team list", "the inbox",
    "the profile page", "the timeline", "the admin panel", "the archive", "the spreadsheet",
    "the scheduler", "the wiki", "the help center", "the plugin list", "the status page",
    "the onboarding", "the changelog", "the forum", "the uploader", "the feed",
]  # fmt: skip
BUG_TITLES = [
    "Crash with a traceback when I open {}",
    "{} crashes with an exception on startup",
    "Error 500 and a stack trace from {}",
    "{} throws a TypeError and stops working",
]
WISH_TITLES = [
    "Feature request: please add keyboard shortcuts to {}",
    "It would be nice if {} supported custom themes",
]
CRASH_BODY = "Steps: open {}. Traceback (most recent call last): Error."
WISH_BODY = "Proposal: improve {}; it would help."
#: The titles new crash reports use (the history's clearest two).
NEW_BUG_TITLES = BUG_TITLES[:1] + BUG_TITLES[2:3]
#: Tasks that write to GitHub (a label, a comment): the ones a killed worker must not double.
EFFECTS = {"steward.triage", "steward.welcome"}
MARKER = re.compile(r"<!-- steward:[^>]*-->")
TASK_LINE = re.compile(
    r"Task (steward\.[\w.]+)\[([0-9a-f-]{36})\] (received|succeeded|retry|raised)"
)
#: The operator's command (docs/operations.md, "Celery's tools"), and one answer in its output.
INSPECT_PING = ("celery", "-A", "workers.celery_app", "inspect", "ping")
PONG = re.compile(r"^->\s+(\S+): OK\s*\n\s+pong\s*$", flags=re.M)


class ScenarioFailed(AssertionError):
    """A step did not do what it claims."""


def say(message: str) -> None:
    print(f"scenario: {message}", file=sys.stderr, flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ScenarioFailed(message)


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 1.0) -> Any:
    """The predicate's first truthy value within ``timeout`` seconds, else a failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise ScenarioFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def run(args: Sequence[str], *, check_rc: bool = True, timeout: float = 600) -> str:
    """Run a command; its stdout (stderr too on failure, in the exception)."""
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check_rc and proc.returncode != 0:
        raise ScenarioFailed(
            f"{shlex.join(args)} exited {proc.returncode}:\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return proc.stdout


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """The compose project and the Docker engine it runs on."""

    compose_cmd: list[str]
    docker: str
    project: str
    env_file: Path
    files: tuple[str, ...] = ("docker-compose.yml", "deploy/compose.local.yml")

    def compose(self, *args: str, timeout: float = 900) -> str:
        files = [arg for name in self.files for arg in ("-f", str(ROOT / name))]
        base = [*self.compose_cmd, "--env-file", str(self.env_file), *files, "-p", self.project]
        return run([*base, *args], timeout=timeout)

    def up(self) -> None:
        self.compose("up", "-d", "--no-build", "--scale", "web=2", "--scale", "worker=2")

    def ids(self, service: str) -> list[str]:
        """Ids of the service's running containers, in container-number order."""
        found = self.compose("ps", "-q", service).split()
        running = [cid for cid in found if self.inspect(cid, "{{.State.Running}}") == "true"]
        return sorted(running, key=lambda cid: self.inspect(cid, "{{.Name}}"))

    def inspect(self, cid: str, template: str) -> str:
        return run([self.docker, "inspect", "-f", template, cid], check_rc=False).strip()

    def health(self, cid: str) -> str:
        return self.inspect(
            cid, "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
        )

    def healthy(self, scale: dict[str, int]) -> bool:
        """Every service has its number of running containers, all healthy."""
        for service, count in scale.items():
            ids = self.ids(service)
            if len(ids) != count or any(self.health(cid) != "healthy" for cid in ids):
                return False
        return True

    def wait_healthy(self, scale: dict[str, int], timeout: float) -> float:
        started = time.monotonic()
        wait_for(lambda: self.healthy(scale), timeout=timeout, what=f"{scale} healthy", every=2)
        return time.monotonic() - started

    def states(self) -> str:
        return self.compose("ps")

    def web_urls(self) -> list[str]:
        """The host address of each web container (its published port)."""
        urls = []
        for cid in self.ids("web"):
            mapping = run([self.docker, "port", cid, "3000/tcp"]).split()[0]
            urls.append(f"http://{mapping.replace('0.0.0.0', '127.0.0.1')}")
        return urls

    def exec(self, cid: str, *args: str, check_rc: bool = True) -> str:
        return run([self.docker, "exec", cid, *args], check_rc=check_rc)

    def health_command(self, cid: str, role: str) -> tuple[bool, str]:
        proc = subprocess.run(
            [self.docker, "exec", cid, "steward-container", "health", role],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()

    def logs(self, cid: str) -> str:
        proc = subprocess.run(
            [self.docker, "logs", cid], capture_output=True, text=True, timeout=60
        )
        return proc.stdout + proc.stderr

    def ip(self, service: str) -> str:
        (cid,) = self.ids(service)
        return self.inspect(cid, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")


def free_ports(host: str, count: int, start: int = 13000) -> list[int]:
    """``count`` consecutive ports free on ``host`` (from ``start`` up)."""
    for first in range(start, start + 2000, count):
        ports = list(range(first, first + count))
        if all(_free(host, port) for port in ports):
            return ports
    raise ScenarioFailed(f"no {count} consecutive free ports on {host}")


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------------------- the fake


class RecordingFake(FakeGitHub):
    """The fake GitHub, remembering the Apps its manifest conversions created (what
    GitHub shows the App's owner: the id and the webhook secret)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[dict[str, Any]] = []

    def convert_manifest(self, code: str) -> dict[str, Any]:
        data = super().convert_manifest(code)
        self.created.append(data)
        return data


def build_repository(fake: FakeGitHub) -> dict[str, int]:
    """acme/widgets with a clean labelled history: 72 crash reports (``bug``) and 24
    feature requests (``enhancement``), closed, one a day; fewer than the 100 labelled
    issues that would queue a fine-tuning (minutes of CPU on a small machine)."""
    fake.add_repo(OWNER, REPO, files={".github/steward.yml": "mode: live\n"})
    for name, description in (
        ("bug", "Something isn't working"),
        ("enhancement", "New feature or request"),
        ("question", "Further information is requested"),
    ):
        fake.add_label(OWNER, REPO, name, description=description)
    fake.add_collaborator(OWNER, REPO, "maintainer", "maintain")
    history = [
        (template.format(subject), "bug", CRASH_BODY.format(subject))
        for template in BUG_TITLES
        for subject in SUBJECTS
    ][:72] + [
        (template.format(subject), "enhancement", WISH_BODY.format(subject))
        for template in WISH_TITLES
        for subject in SUBJECTS
    ][:24]  # fmt: skip
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # Interleaved in time, so the gate's folds each see both labels.
    order = sorted(range(len(history)), key=lambda i: (i * 7919) % len(history))
    for day, index in enumerate(order):
        title, label, body = history[index]
        fake.add_issue(
            OWNER,
            REPO,
            title=title,
            body=body,
            labels=[label],
            state="closed",
            user="maintainer",
            author_association="MEMBER",
            created_at=start + timedelta(days=day),
        )
    return {"bug": 72, "enhancement": 24}


def installation_payload(fake: FakeGitHub) -> dict[str, Any]:
    """A real ``installation.created`` delivery for acme, with acme/widgets."""
    payload = load_webhook_example("installation.created")
    repo = fake.repo(OWNER, REPO)
    account = fake.user(OWNER)
    payload["installation"].update(id=INSTALLATION_ID, app_id=next(iter(fake.apps)))
    payload["installation"]["account"].update(
        login=OWNER, id=account.id, node_id=account.node_id, type="Organization"
    )
    payload["repositories"] = [
        {
            "id": repo.id,
            "node_id": repo.node_id,
            "name": REPO,
            "full_name": FULL,
            "private": False,
        }
    ]
    payload["sender"].update(login="maintainer", type="User")
    return payload


def issue_payload(fake: FakeGitHub, number: int) -> dict[str, Any]:
    """A real ``issues.opened`` delivery for issue ``number``."""
    item = fake.issue(OWNER, REPO, number)
    payload = retarget(
        load_webhook_example("issues.opened"),
        owner=OWNER,
        repo=REPO,
        installation_id=INSTALLATION_ID,
    )
    payload["repository"]["id"] = fake.repo(OWNER, REPO).id
    payload["issue"].update(
        number=number, id=item.id, node_id=item.node_id, title=item.title, body=item.body
    )
    payload["issue"]["labels"] = []
    return with_author(payload, "issue", item.user, "NONE")


@dataclass
class Issues:
    """New issues the scenario opens, and what each should get."""

    fake: FakeGitHub
    numbers: list[int] = field(default_factory=list)
    crash: set[int] = field(default_factory=set)
    deliveries: dict[int, Any] = field(default_factory=dict)
    _next: int = 0

    def open(self, count: int, *, crash_every: int = 3) -> list[int]:
        """``count`` new issues by newcomers; two of every three crash reports."""
        made = []
        for _ in range(count):
            i = self._next
            self._next += 1
            subject = NEW_SUBJECTS[i % len(NEW_SUBJECTS)] + (
                f" #{i}" if i >= len(NEW_SUBJECTS) else ""
            )
            crash = i % crash_every != crash_every - 1
            template = (NEW_BUG_TITLES if crash else WISH_TITLES)[i % 2]
            body = (CRASH_BODY if crash else WISH_BODY).format(subject)
            issue = self.fake.add_issue(
                OWNER, REPO, title=template.format(subject), body=body, user=f"newcomer-{i:03d}"
            )
            made.append(issue.number)
            if crash:
                self.crash.add(issue.number)
        self.numbers.extend(made)
        return made


# --------------------------------------------------------------------------- the checks


def store_at(url: str) -> Any:
    """The bot's database, read from the host (never migrated from here)."""
    from core.store import Store, make_engine

    return Store(make_engine(url))


@dataclass
class Outcome:
    """What the bot did to one issue, from the fake's state and its request log."""

    decided: bool
    applied: tuple[str, ...]
    labels: list[str]
    label_posts: int
    markers: dict[str, int]

    @property
    def welcomed(self) -> int:
        return self.markers.get("<!-- steward:welcome:issue -->", 0)

    @property
    def doubled(self) -> bool:
        return self.label_posts > 1 or any(n > 1 for n in self.markers.values())

    @property
    def done(self) -> bool:
        return self.decided and self.welcomed >= 1


def outcomes(fake: FakeGitHub, store: Any, numbers: Sequence[int]) -> dict[int, Outcome]:
    posts: dict[int, int] = {}
    for call in fake.calls("POST", rf"/repos/{OWNER}/{REPO}/issues/\d+/labels"):
        number = int(call.path.split("/")[5])
        posts[number] = posts.get(number, 0) + 1
    found = {}
    for number in numbers:
        decisions = [
            a for a in store.actions_for(FULL, number)
            if a["feature"] == "triage" and a["action"] == "decision"
        ]  # fmt: skip
        applied = tuple(decisions[0]["detail"].get("applied") or ()) if decisions else ()
        markers: dict[str, int] = {}
        for body in fake.comment_bodies(OWNER, REPO, number):
            for marker in set(MARKER.findall(body)):
                markers[marker] = markers.get(marker, 0) + 1
        found[number] = Outcome(
            decided=bool(decisions),
            applied=applied,
            labels=fake.labels_on(OWNER, REPO, number),
            label_posts=posts.get(number, 0),
            markers=markers,
        )
    return found


def tally(found: dict[int, Outcome], crash: set[int]) -> dict[str, int]:
    return {
        "issues": len(found),
        "decided": sum(o.decided for o in found.values()),
        "labelled bug": sum("bug" in o.labels for o in found.values()),
        "crash reports": sum(n in crash for n in found),
        "welcomed": sum(o.welcomed == 1 for o in found.values()),
        "lost": sum(not o.done for o in found.values()),
        "doubled": sum(o.doubled for o in found.values()),
        "wrong label": sum("bug" in o.labels and n not in crash for n, o in found.items()),
        "label not as decided": sum(
            sorted(o.applied) != sorted(set(o.labels) & {"bug", "enhancement", "question"})
            for o in found.values()
        ),
    }


def ping_answers(output: str) -> set[str]:
    """The workers that answered in ``celery inspect ping``'s output."""
    return set(PONG.findall(output))


def task_events(log: str) -> dict[str, list[tuple[str, str]]]:
    """task id → [(task name, what happened)] from a worker's log, in order."""
    events: dict[str, list[tuple[str, str]]] = {}
    for name, task_id, what in TASK_LINE.findall(log):
        events.setdefault(task_id, []).append((name, what))
    return events


def in_flight(log: str) -> dict[str, str]:
    """Tasks this worker received and had not finished (id → name)."""
    return {
        task_id: seen[-1][0]
        for task_id, seen in task_events(log).items()
        if seen[-1][1] == "received"
    }


# ----------------------------------------------------------------------------- the run


@dataclass
class Scenario:
    stack: Stack
    fake: RecordingFake
    database_url: Callable[[], str]
    results: dict[str, Any] = field(default_factory=dict)
    secret: str = ""
    sent: int = 0
    _turn: int = 0

    # ---- deliveries
    def deliver(self, event: str, payload: dict[str, Any], urls: Sequence[str]) -> Any:
        """One delivery through the fake's Hookshot, to the web containers in turn."""
        url = urls[self._turn % len(urls)]
        self._turn += 1
        app_id = int(self.fake.created[-1]["id"])
        self.fake.hooks.configure(f"{url}/api/github/webhooks", self.secret, app_id=app_id)
        row = self.fake.hooks.send(event, payload)
        check(row.status_code == 202, f"{event} to {url}: {row.status_code} {row.response_body}")
        self.sent += 1
        return row

    def open_and_send(self, issues: Issues, count: int, urls: Sequence[str]) -> list[int]:
        numbers = issues.open(count)
        for number in numbers:
            issues.deliveries[number] = self.deliver(
                "issues", issue_payload(self.fake, number), urls
            )
        return numbers

    def wait_done(self, numbers: Sequence[int], timeout: float) -> dict[int, Outcome]:
        store = store_at(self.database_url())

        def all_done() -> dict[int, Outcome] | None:
            found = outcomes(self.fake, store, numbers)
            return found if all(o.done for o in found.values()) else None

        try:
            return wait_for(all_done, timeout=timeout, what=f"{len(numbers)} issues done", every=2)
        finally:
            store.engine.dispose()

    # ---- 1. up
    def up(self) -> None:
        started = time.monotonic()
        self.stack.up()
        wait_for(
            lambda: self.stack.healthy({"web": 2, "redis": 1, "postgres": 1}),
            timeout=300,
            what="web ×2, Redis and PostgreSQL healthy",
            every=2,
        )
        self.results["up → web ready (setup page)"] = time.monotonic() - started
        (migrate,) = self.stack.compose("ps", "-q", "migrate").split()
        check(self.stack.inspect(migrate, "{{.State.ExitCode}}") == "0", "migrate failed")
        waiting = [self.stack.health_command(cid, "worker") for cid in self.stack.ids("worker")]
        waiting.append(self.stack.health_command(self.stack.ids("scheduler")[0], "scheduler"))
        check(
            all(not ok for ok, _ in waiting),
            f"a worker or the scheduler reports healthy before the App exists: {waiting}",
        )
        self.results["before the App: workers, scheduler"] = "unhealthy (waiting for the App)"

    # ---- 2. the setup flow
    def setup(self) -> None:
        first, second = self.stack.web_urls()
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = browser.open(f"{first}/", timeout=30).read().decode()
        check("Set up Steward" in page, f"{first}/ is not the setup page:\n{page[:500]}")
        state = re.search(r"state=([\w-]+)", page)
        check(state is not None, "the setup page carries no state")
        assert state is not None
        # The browser posts the manifest to GitHub; GitHub creates the App and redirects
        # back with a one-time code, which Steward converts (POST /app-manifests/{code}/...).
        code = secrets.token_hex(10)
        done = browser.open(f"{second}/setup/callback?code={code}&state={state[1]}", timeout=60)
        text = done.read().decode()
        check(done.status == 200 and "Steward is registered" in text, f"callback: {text[:600]}")
        check(len(self.fake.created) == 1, "the fake converted no manifest")
        app = self.fake.created[-1]
        self.secret = str(app["webhook_secret"])
        web = self.stack.ids("web")[0]
        mode = self.stack.exec(web, "stat", "-c", "%a %U", "/data/.env").strip()
        check(mode == "600 steward", f"/data/.env is {mode}, not 600 steward")
        keys = self.stack.exec(web, "sh", "-c", "cut -d= -f1 /data/.env").split()
        check({"APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"} <= set(keys), f".env holds {keys}")
        started = time.monotonic()
        self.stack.compose("restart")
        self.stack.wait_healthy(SCALE, timeout=420)
        self.results["setup: App created, .env on the volume"] = (
            f"App {app['id']}, /data/.env {mode}"
        )
        self.results["restart → all healthy"] = time.monotonic() - started
        self.check_configured("after restart")

    def check_configured(self, when: str) -> None:
        for url in self.stack.web_urls():
            text = urllib.request.urlopen(f"{url}/", timeout=30).read().decode()
            check("Steward is running" in text, f"{url}/ {when}: not configured: {text[:300]}")
            try:
                urllib.request.urlopen(f"{url}/setup/callback?code=x&state=y", timeout=30)
                raise ScenarioFailed(f"{url}/setup/callback {when}: still open")
            except urllib.error.HTTPError as err:
                check(err.code == 404, f"{url}/setup/callback {when}: {err.code}")

    # ---- 3. installation and day one
    def install(self) -> None:
        self.fake.add_installation(INSTALLATION_ID, OWNER, app_id=int(self.fake.created[-1]["id"]))
        started = time.monotonic()
        self.deliver("installation", installation_payload(self.fake), self.stack.web_urls())
        store = store_at(self.database_url())

        def bug_gate() -> dict[str, Any] | None:
            rows = [r for r in store.gates_for(FULL, "issue") if r["label"] == "bug"]
            return rows[0] if rows and store.profile_for(FULL) else None

        try:
            gate = wait_for(bug_gate, timeout=600, what="the bootstrap's gates", every=3)
            live = sorted(r["label"] for r in store.gates_for(FULL, "issue") if r["live"])
        finally:
            store.engine.dispose()
        reason = gate["gate"].get("reason", "")
        check(gate["live"], f"bug did not go live on day one: {reason}")
        self.results["installation → bootstrap → bug live"] = (
            f"{time.monotonic() - started:.0f} s; live {live}; bug: {reason}"
        )

    # ---- 4. new issues
    def new_issues(self, issues: Issues) -> list[int]:
        urls = self.stack.web_urls()
        started = time.monotonic()
        numbers = self.open_and_send(issues, 12, urls)
        found = self.wait_done(numbers, timeout=300)
        counts = tally(found, issues.crash)
        self.expect(counts, "new issues")
        check(counts["labelled bug"] >= counts["crash reports"] // 2, f"few labels: {counts}")
        self.results["new issues (web ×2, worker ×2)"] = (
            f"{counts['issues']} issues in {time.monotonic() - started:.0f} s: "
            f"{counts['decided']} decided, {counts['labelled bug']}/{counts['crash reports']} "
            f"crash reports labelled bug, {counts['welcomed']} welcomed once"
        )
        return numbers

    # ---- 4b. Celery's tools
    def inspect_ping(self, when: str) -> None:
        """``celery -A workers.celery_app inspect ping`` in a web container: every worker
        container answers (its node name is ``steward@<container hostname>``)."""
        workers = {
            f"steward@{self.stack.inspect(cid, '{{.Config.Hostname}}')}"
            for cid in self.stack.ids("worker")
        }
        web = self.stack.ids("web")[0]
        started = time.monotonic()

        def all_answer() -> set[str] | None:
            out = self.stack.exec(web, *INSPECT_PING, check_rc=False)
            found = ping_answers(out)
            return found if found >= workers else None

        found = wait_for(all_answer, timeout=60, what=f"{len(workers)} workers to answer ping")
        check(found == workers, f"inspect ping answered by {sorted(found)}, not {sorted(workers)}")
        self.results[f"celery inspect ping ({when})"] = (
            f"{len(found)}/{len(workers)} worker containers answered "
            f"in {time.monotonic() - started:.1f} s"
        )

    def expect(self, counts: dict[str, int], what: str) -> None:
        for key in ("lost", "doubled", "wrong label", "label not as decided"):
            check(counts[key] == 0, f"{what}: {counts[key]} {key}: {counts}")
        check(counts["decided"] == counts["issues"], f"{what}: {counts}")
        check(counts["welcomed"] == counts["issues"], f"{what}: {counts}")

    # ---- 5. a worker killed mid-run
    def kill_worker(self, issues: Issues) -> list[int]:
        urls = self.stack.web_urls()
        victim, survivor = self.stack.ids("worker")
        numbers: list[int] = []
        sender = threading.Thread(
            target=lambda: numbers.extend(self.open_and_send(issues, 30, urls)), daemon=True
        )
        sender.start()

        def holds_effects() -> bool:  # a task that writes to GitHub, the one not to double
            return bool(EFFECTS & set(in_flight(self.stack.logs(victim)).values()))

        with contextlib.suppress(ScenarioFailed):
            wait_for(holds_effects, timeout=120, what="a triage or welcome task", every=0.3)
        wait_for(
            lambda: in_flight(self.stack.logs(victim)),
            timeout=120,
            what="the worker to be killed to hold a task",
            every=0.3,
        )
        run([self.stack.docker, "kill", victim])
        held = in_flight(self.stack.logs(victim))  # what it held when it died
        sender.join(300)
        check(not sender.is_alive(), "the deliveries did not finish")
        found = self.wait_done(numbers, timeout=420)
        counts = tally(found, issues.crash)
        self.expect(counts, "after the kill")

        def finished_elsewhere() -> bool:
            events = task_events(self.stack.logs(survivor))
            return all(
                any(what == "succeeded" for _, what in events.get(task_id, ())) for task_id in held
            )

        wait_for(finished_elsewhere, timeout=300, what="the killed worker's tasks to finish")
        names = ", ".join(sorted(set(held.values())))
        self.results["docker kill of a worker mid-run (30 issues)"] = (
            f"{len(held)} task(s) held by the killed worker ({names}), "
            f"{len(held)} finished on the other; lost {counts['lost']}, doubled {counts['doubled']}"
        )
        self.stack.up()
        self.stack.wait_healthy(SCALE, timeout=420)
        return numbers

    # ---- 6. down and up
    def down_up(self, issues: Issues, earlier: Sequence[int]) -> list[int]:
        self.stack.compose("stop", "worker", timeout=300)
        numbers = self.open_and_send(issues, 10, self.stack.web_urls())
        self.stack.compose("down", timeout=300)
        started = time.monotonic()
        self.stack.up()
        self.stack.wait_healthy(SCALE, timeout=420)
        self.results["down → up → all healthy"] = time.monotonic() - started
        self.check_configured("after down and up")
        found = self.wait_done(numbers, timeout=420)
        counts = tally(found, issues.crash)
        self.expect(counts, "after down and up")
        again = [issues.deliveries[n] for n in earlier[:3]]
        answers = []
        for row in again:
            redelivered = asyncio.run(self.fake.hooks.redeliver(row.id))
            answers.append((redelivered.status_code, redelivered.response_body or ""))
        check(
            all(code == 200 and "duplicate" in body for code, body in answers),
            f"redeliveries after down and up: {answers}",
        )
        self.results["down → up (10 issues queued, workers stopped)"] = (
            f"{counts['decided']}/10 decided and welcomed after up; lost {counts['lost']}, "
            f"doubled {counts['doubled']}; {len(answers)} redeliveries answered duplicate"
        )
        return numbers

    # ---- 7. health that means something
    def redis_outage(self) -> None:
        roles = {"web": "web", "worker": "worker", "scheduler": "scheduler"}
        watched = {cid: role for service, role in roles.items() for cid in self.stack.ids(service)}
        self.stack.compose("stop", "redis")
        started = time.monotonic()
        wait_for(
            lambda: all(self.stack.health(cid) == "unhealthy" for cid in watched),
            timeout=240,
            what="web, workers and scheduler to report unhealthy without Redis",
            every=2,
        )
        down = time.monotonic() - started
        self.stack.compose("start", "redis")
        started = time.monotonic()
        self.stack.wait_healthy(SCALE, timeout=420)
        self.results["Redis stopped → web, workers, scheduler unhealthy"] = down
        self.results["Redis started → all healthy again"] = time.monotonic() - started

    def final(self, issues: Issues) -> None:
        store = store_at(self.database_url())
        try:
            counts = tally(outcomes(self.fake, store, issues.numbers), issues.crash)
        finally:
            store.engine.dispose()
        self.expect(counts, "all issues")
        self.results["all new issues"] = (
            f"{counts['issues']} issues, {self.sent} deliveries: {counts['decided']} decided, "
            f"{counts['labelled bug']}/{counts['crash reports']} crash reports labelled bug, "
            f"0 on feature requests; {counts['welcomed']} welcomed once; "
            f"lost {counts['lost']}, doubled {counts['doubled']}"
        )


SCALE = {"web": 2, "worker": 2, "scheduler": 1, "redis": 1, "postgres": 1}


# ---------------------------------------------------------------------------- the table


def seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return str(value)
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s" if minutes else f"{value:.0f} s"


def table(builds: dict[str, Any], results: dict[str, Any], total: float) -> str:
    rows = [("what", "measured")]
    for name, size in builds.get("sizes", {}).items():
        rows.append((f"image {name}", size))
    for name, value in builds.get("times", {}).items():
        rows.append((f"build: {name}", seconds(value)))
    for name, value in builds.get("checks", {}).items():
        rows.append((name, value))
    rows.extend((name, seconds(value)) for name, value in results.items())
    rows.append(("scenario, start to end", seconds(total)))
    lines = [f"| {a} | {b} |" for a, b in rows]
    lines.insert(1, "|---|---|")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


@contextlib.contextmanager
def network(docker: str, name: str) -> Iterator[str]:
    """A bridge network with a known subnet; yields its gateway address."""
    run([docker, "network", "rm", name], check_rc=False)
    for third in range(77, 97):
        subnet = f"172.30.{third}.0/24"
        made = subprocess.run(
            [docker, "network", "create", "--subnet", subnet, name],
            capture_output=True,
            text=True,
        )
        if made.returncode == 0:
            break
    else:
        raise ScenarioFailed(f"could not create the network {name}: {made.stderr}")
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    try:
        yield gateway
    finally:
        run([docker, "network", "rm", name], check_rc=False)


def write_env(path: Path, *, fake_url: str, web_ports: Sequence[int], network_name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "STEWARD_IMAGE": "steward:deploy-test",
        "STEWARD_DOTENV": str(path),
        "STEWARD_PORT": f"127.0.0.1:{web_ports[0]}-{web_ports[-1]}",
        "STEWARD_LOCAL_NETWORK": network_name,
        "GITHUB_API_URL": fake_url,
        "STEWARD_VISIBILITY_TIMEOUT": "10",
        "STEWARD_RETRAIN_HOURS": "0",
        "LOG_LEVEL": "info",
    }
    for key in ("STEWARD_LOCAL_REDIS_IMAGE", "STEWARD_LOCAL_POSTGRES_IMAGE"):
        if os.environ.get(key):
            values[key] = os.environ[key]
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--compose", required=True, help="the compose command, e.g. 'docker compose'"
    )
    parser.add_argument("--docker", default="docker")
    parser.add_argument("--project", default="steward-deploy-test")
    parser.add_argument("--network", default="steward-deploy-test")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "deploy-test")
    parser.add_argument("--builds", type=Path, help="build numbers (JSON) for the table")
    parser.add_argument("--keep", action="store_true", help="leave the stack up (debugging)")
    args = parser.parse_args(argv)
    builds = json.loads(args.builds.read_text()) if args.builds and args.builds.exists() else {}
    env_file = args.out / "compose.env"
    stack = Stack(shlex.split(args.compose), args.docker, args.project, env_file)
    started = time.monotonic()
    scenario: Scenario | None = None
    with network(args.docker, args.network) as gateway:
        fake = RecordingFake()
        build_repository(fake)
        with fake.serve_in_thread(gateway, 0) as fake_url:
            ports = free_ports("127.0.0.1", 2)
            write_env(env_file, fake_url=fake_url, web_ports=ports, network_name=args.network)
            env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())

            def database_url() -> str:
                password = env["POSTGRES_PASSWORD"]
                return (
                    f"postgresql+psycopg://steward:{password}@{stack.ip('postgres')}:5432/steward"
                )

            scenario = Scenario(stack, fake, database_url)
            issues = Issues(fake)
            say(f"fake GitHub at {fake_url}; web on 127.0.0.1:{ports[0]}-{ports[-1]}")
            try:
                for step, action in (
                    ("up", scenario.up),
                    ("setup", scenario.setup),
                    ("installation", scenario.install),
                ):
                    say(f"{step} ...")
                    action()
                say("new issues ...")
                first = scenario.new_issues(issues)
                scenario.inspect_ping("worker ×2")
                say("docker kill of a worker ...")
                scenario.kill_worker(issues)
                say("down and up ...")
                scenario.down_up(issues, first)
                scenario.inspect_ping("after down and up")
                scenario.final(issues)
                say("Redis outage ...")
                scenario.redis_outage()
                check(
                    not fake.violations,
                    f"calls GitHub's description rejects: {fake.violations[:3]}",
                )
            except BaseException:
                say("failed; the stack's state:\n" + stack.states())
                for service in ("web", "worker", "scheduler"):
                    for cid in stack.ids(service):
                        say(f"--- {service} {cid[:12]} (last lines)\n{stack.logs(cid)[-3000:]}")
                raise
            finally:
                if not args.keep:
                    stack.compose("down", "-v", "--remove-orphans", timeout=300)
    report = table(builds, scenario.results if scenario else {}, time.monotonic() - started)
    (args.out / "report.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ScenarioFailed as exc:
        print(f"scenario: FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
