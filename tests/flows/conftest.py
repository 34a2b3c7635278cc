"""Fixtures of the in-process flow tests: a worker's runtime per test, the checked fake.

A test calls a flow function (``run_welcome``, ``run_triage``, …) directly, the way a
Celery task does (``workers.tasks._run_flow``): a :class:`workers.runtime.Runtime` built
from injected settings, a fresh task context per run, the real Redis for locks and the
token and ETag caches, a fresh SQLite store, and the session's fake GitHub over real
HTTP. No subprocess and no Celery: each flow branch costs milliseconds.

Every test uses its own repository (``tests.support.unique``), so tests sharing the
session's fake never see each other's effects; what the fake recorded is read from
the requests made since the test started.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from core.settings import Settings, load_settings
from core.store import Store, open_store
from core.tasks import Task, TaskArgs
from fakegithub.fake import FakeGitHub
from fakegithub.http import RecordedRequest
from fakegithub.state import Permission
from tests.support import APP_ID, ORG, SECRET, key_pair, unique
from workers.runtime import Runtime, TaskContext

A = TypeVar("A", bound=TaskArgs)
Flow = Callable[[TaskContext, A], Awaitable[dict[str, Any]]]

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: The labels of a triage repository; the shared model's head knows the first three.
TRIAGE_LABELS = ("bug", "enhancement", "question")


@pytest.fixture
def fake(fake_github: tuple[FakeGitHub, str]) -> Iterator[FakeGitHub]:
    """The shared fake GitHub; the test's own calls must not break GitHub's contract."""
    github, _ = fake_github
    before = len(github.violations)
    yield github
    assert github.violations[before:] == [], "calls GitHub's OpenAPI description rejects"


@pytest.fixture(scope="session")
def base_settings(fake_github: tuple[FakeGitHub, str], redis_url: str) -> Settings:
    """A worker's settings, read once: the test App, the fake's URL and the test Redis."""
    _, api_url = fake_github
    return load_settings(
        {
            "APP_ID": str(APP_ID),
            "PRIVATE_KEY": key_pair()[0],
            "WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": api_url,
            "REDIS_URL": redis_url,
        },
        env_file=Path("/nonexistent.env"),
    )


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    """The session's settings with this test's data and model folders."""
    return base_settings.with_overrides(data_dir=tmp_path / "data", model_dir=tmp_path / "models")


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test starts from a copy."""
    path = tmp_path_factory.mktemp("store") / "template.db"
    open_store(f"sqlite:///{path}").engine.dispose()
    return path


@pytest.fixture
def store(migrated_db: Path, sqlite_url: str) -> Iterator[Store]:
    """This test's store at ``sqlite_url``: a copy of the template, checked by migrate."""
    shutil.copyfile(migrated_db, sqlite_url.removeprefix("sqlite:///"))
    opened = open_store(sqlite_url)
    yield opened
    opened.engine.dispose()


class Outbox:
    """Follow-up tasks the flows queue, recorded instead of sent to a broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, message: dict[str, Any]) -> None:
        self.sent.append((name, message))


@pytest.fixture
def runtime(settings: Settings, store: Store, redis_url: str) -> Iterator[Runtime]:
    """What a worker process holds, built in-process from the injected settings."""
    client = redis.Redis.from_url(redis_url)
    yield Runtime(settings=settings, store=store, redis=client, send=Outbox())
    client.close()


@dataclass
class Flows:
    """Runs flows in-process and reads back what they did (fake, store, requests)."""

    runtime: Runtime
    fake: FakeGitHub
    #: Index of the first request the fake recorded during this test.
    start: int

    @property
    def store(self) -> Store:
        """The worker's store."""
        return self.runtime.store

    @property
    def settings(self) -> Settings:
        """The worker's settings."""
        return self.runtime.settings

    def queued(self, task: str) -> list[dict[str, Any]]:
        """The messages the flows queued for ``task`` (recorded, never sent)."""
        assert isinstance(self.runtime.send, Outbox)
        return [message for name, message in self.runtime.send.sent if name == task]

    async def run(self, flow: Flow[A], args: A) -> dict[str, Any]:
        """Run ``flow`` once with a fresh task context, as one Celery task run would."""
        async with self.runtime.task_context() as ctx:
            return await flow(ctx, args)

    async def drain(self, task: Task[A], flow: Flow[A]) -> list[dict[str, Any]]:
        """Run each queued message of ``task`` through ``flow`` in the order queued, as
        workers would take them (a message that does not fit its contract fails here),
        and take them out of the outbox: their results."""
        assert isinstance(self.runtime.send, Outbox)
        sent = self.runtime.send.sent
        mine = [message for name, message in sent if name == task.name]
        sent[:] = [(name, message) for name, message in sent if name != task.name]
        return [await self.run(flow, task.parse(message)) for message in mine]

    def new_repo(
        self,
        prefix: str,
        *,
        config: str = "",
        files: Mapping[str, str] | None = None,
        labels: tuple[str, ...] = (),
        collaborators: Mapping[str, Permission] | None = None,
    ) -> str:
        """A fresh repository of the test org (``config`` is its ``.github/steward.yml``)."""
        name = unique(prefix)
        all_files = {**(files or {}), **({".github/steward.yml": config} if config else {})}
        self.fake.add_repo(ORG, name, files=all_files, labels=labels, collaborators=collaborators)
        return name

    def mark(self) -> int:
        """A point in this test's request log, for :meth:`requests` ``since=``."""
        return len(self.fake.requests) - self.start

    def requests(
        self, method: str = "*", path_regex: str = "", *, since: int = 0
    ) -> list[RecordedRequest]:
        """Requests the fake recorded during this test (after ``since``, a :meth:`mark`),
        with this method (``*``: any) and a path matching ``path_regex``.
        """
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.fake.requests[self.start + since :]
            if (method == "*" or r.method == method.upper()) and pattern.search(r.path)
        ]

    def writes(self, repo: str) -> list[RecordedRequest]:
        """REST writes to ``ORG/repo`` during this test (token minting is not a write)."""
        prefix = f"/repos/{ORG}/{repo}/"
        return [
            r for r in self.requests() if r.method in WRITE_METHODS and r.path.startswith(prefix)
        ]

    def mutations(self) -> list[RecordedRequest]:
        """GraphQL mutations sent during this test."""
        return [
            r
            for r in self.requests("POST", r"^/graphql$")
            if "mutation" in str((r.json or {}).get("query", ""))
        ]

    def actions(self, repo: str, number: int, action: str | None = None) -> list[dict[str, Any]]:
        """Audit-log rows of ``ORG/repo#number`` (only those of ``action`` when given)."""
        rows = self.store.actions_for(f"{ORG}/{repo}", number)
        return [r for r in rows if action is None or r["action"] == action]


@pytest.fixture
def flows(runtime: Runtime, fake: FakeGitHub) -> Flows:
    """The in-process flow runner of one test."""
    return Flows(runtime=runtime, fake=fake, start=len(fake.requests))


@pytest.fixture(scope="session")
def triage_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real triage model folder (packaged MiniLM encoder plus a seeded head), made once.

    Its thresholds make the decision predictable: ``bug`` always clears its threshold,
    ``enhancement`` and ``question`` never do (sigmoid probabilities stay below 2.0).
    The approach is the one of ``tests/integration/test_triage_e2e.py``.
    """
    import torch

    from models.defaults import packaged_model_path
    from models.encoder import get_encoder
    from models.triage.model import TriageMeta, TriageModel

    folder = tmp_path_factory.mktemp("triage-model") / "model"
    encoder = get_encoder(packaged_model_path())
    torch.manual_seed(0)
    head = torch.nn.Linear(encoder.model.config.hidden_size, len(TRIAGE_LABELS))
    meta = TriageMeta(
        labels=list(TRIAGE_LABELS),
        multi_label=True,
        thresholds={"bug": 0.0, "enhancement": 2.0, "question": 2.0},
        base_model="packaged",
        max_length=64,
        repo=f"{ORG}/model",
    )
    TriageModel(encoder, head, meta).save(folder)
    return folder


def model_gates() -> list[dict[str, Any]]:
    """The shared model's gates: `bug` measured and live, the others never applied."""
    from models.triage.gate import LabelGate

    bug = LabelGate(
        "bug",
        0.0,
        applied=200,
        correct=200,
        positives=200,
        measured_on=400,
        live=True,
        reason="200/200 right",
    )
    never = [
        LabelGate(
            name,
            1.01,
            applied=0,
            correct=0,
            positives=0,
            measured_on=40,
            live=False,
            reason="no threshold",
        )
        for name in ("enhancement", "question")
    ]
    return [g.to_json() for g in [bug, *never]]


@pytest.fixture
def install_model(flows: Flows, triage_model: Path) -> Callable[[str], Path]:
    """Give ``ORG/<repo>`` the shared model (a link, as the retrain flow's live link is)."""
    from workers.modelstore import model_folder
    from workers.retrain.flow import discussion_gates

    def install(repo: str, *, gated: bool = True, discussions: str = "confirmed") -> Path:
        """``discussions``: ``confirmed`` (people's labels on discussions put `bug` live, as
        the feedback flow's re-judgement stores it) or ``new`` (as retraining records them:
        the issues' thresholds, in shadow).
        """
        assert flows.settings.model_dir is not None  # set by the ``settings`` fixture
        link = model_folder(flows.settings.model_dir, f"{ORG}/{repo}")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(triage_model, target_is_directory=True)
        if gated:  # as retraining records a promoted model whose holdout put `bug` live
            for kind in ("issue", "pull_request"):  # measured on both kinds of item
                flows.store.replace_gates(
                    f"{ORG}/{repo}", source="model", kind=kind, gates=model_gates()
                )
            fresh = discussion_gates(model_gates())
            confirmed = [
                {**g, "live": True, "judged": 100, "judged_correct": 100}
                if g["label"] == "bug"
                else g
                for g in fresh
            ]
            flows.store.replace_gates(
                f"{ORG}/{repo}",
                source="model",
                kind="discussion",
                gates=fresh if discussions == "new" else confirmed,
            )
        return link

    return install
