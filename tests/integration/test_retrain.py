"""Scheduled retraining: the jobs queued from the store, version folders and the live
link on disk, the inference cache following a promotion, and one retrain end to end
against the fake GitHub over real HTTP (collect, fine-tune a tiny model, evaluate on the
newest issues, promote, skip, keep, roll back). The pure rules are in
tests/unit/test_training_plan.py, tests/unit/test_retrain_rules.py and
tests/unit/test_beat_schedule.py.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from app.cli import main
from core.settings import Settings, load_settings
from core.store import Store, open_store
from core.tasks import RetrainArgs
from fakegithub.fake import FakeGitHub
from models.triage.data import LabelledItem
from models.triage.plan import RetrainPolicy
from tests.conftest import shared_data
from tests.support import APP_ID, INSTALLATION_ID, ORG, SECRET, key_pair, unique
from workers.modelstore import (
    ModelPaths,
    adopt_live,
    live_version,
    point_live,
    promote_version,
    publish,
    reconcile_live,
    version_of,
)
from workers.retrain.flow import queue_retrains, retrain_jobs, run_retrain

pytestmark = pytest.mark.timeout(180)

BASE = datetime(2024, 1, 1, tzinfo=UTC)


def cli_env(monkeypatch: pytest.MonkeyPatch, data: Path, env_file: Path) -> None:
    """Run ``steward`` commands on ``data`` alone: no App, no database URL, no model dir
    from this machine's environment."""
    for env in ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "DATABASE_URL", "STEWARD_MODEL_DIR"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("STEWARD_DATA_DIR", str(data))
    monkeypatch.setenv("STEWARD_ENV_FILE", str(env_file))


# ------------------------------------------------------------ retrain jobs


def test_retrain_jobs_and_queueing(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'steward.db'}")
    store.add_repositories(7, [(1, "o/a"), (2, "o/b")])
    store.add_repositories(8, [(3, "p/c")])
    store.remove_repositories([2])
    sent: list[Any] = []
    assert queue_retrains(store, sent.append) == 2
    assert sent == retrain_jobs([(7, "o/a"), (8, "p/c")])
    assert sent[0] == RetrainArgs(installation_id=7, owner="o", repo="a")


# ------------------------------------------------------- versions on disk


def fake_version(folder: Path, tag: str) -> Path:
    """A folder that looks like a saved model (only triage.json matters here)."""
    folder.mkdir(parents=True)
    (folder / "triage.json").write_text(json.dumps({"tag": tag, "fingerprint": f"fp-{tag}"}))
    return folder


def test_versions_live_link_adoption_and_rollback(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'steward.db'}")
    paths = ModelPaths(tmp_path / "models", "o/r")
    # A model trained by hand with `steward train --out` sits at the live path.
    fake_version(paths.live, "manual")
    adopt_live(store, paths, print)
    assert paths.live.is_symlink() and live_version(paths) == 1
    assert json.loads((paths.live / "triage.json").read_text())["tag"] == "manual"
    (row,) = store.model_versions_for("o/r")
    assert row["promoted"] and row["metrics"]["adopted"] and row["fingerprint"] == "fp-manual"

    number = publish(fake_version(tmp_path / "staging", "new"), paths)
    assert number == 2 and not (tmp_path / "staging").exists()
    store.add_model_version(
        "o/r", str(paths.version(2)), metrics={"version": 2}, fingerprint="fp-new", promoted=True
    )
    reconcile_live(store, paths, print)  # the database says 2: the link follows
    assert live_version(paths) == 2

    promote_version(store, paths, 1)  # rollback
    assert live_version(paths) == 1
    assert [r["promoted"] for r in store.model_versions_for("o/r")] == [True, False]
    assert not list(paths.live.parent.glob(".*.link"))  # no temporary links left
    with pytest.raises(LookupError):
        promote_version(store, paths, 9)


def test_models_list_shows_every_repository_and_registers_hand_trained_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    data = tmp_path / "data"
    cli_env(monkeypatch, data, tmp_path / "no.env")
    fake_version(data / "models" / "o__by-hand", "hand")  # `steward train --out` put it here
    versioned = ModelPaths(data / "models", "o/retrained")
    fake_version(versioned.version(1), "a")
    point_live(versioned, 1)
    store = open_store(f"sqlite:///{data / 'steward.db'}")
    store.add_model_version(
        "o/retrained",
        str(versioned.version(1)),
        metrics={"version": 1},
        fingerprint="x",
        promoted=True,
    )

    assert main(["models", "list", "--json"]) == 0
    listed = {r["repo"]: r for r in json.loads(capsys.readouterr().out)["repos"]}
    assert set(listed) == {"o/by-hand", "o/retrained"}
    assert listed["o/by-hand"]["versions"] == 1 and listed["o/by-hand"]["live"]["version"] == 1
    assert live_version(ModelPaths(data / "models", "o/by-hand")) == 1  # registered on sight
    assert main(["models", "list"]) == 0
    assert "o/retrained" in capsys.readouterr().out


def test_point_live_is_a_relative_link(tmp_path: Path) -> None:
    paths = ModelPaths(tmp_path / "models", "o/r")
    fake_version(paths.version(1), "a")
    point_live(paths, 1)
    assert str(paths.live.readlink()) == ".versions/o__r/1"


@pytest.mark.slow
def test_inference_follows_a_promotion(tmp_path: Path) -> None:
    """A running worker's next prediction uses the newly promoted version."""
    import torch

    from models.defaults import packaged_model_path
    from models.encoder import Encoder
    from models.triage.model import TriageMeta, TriageModel
    from workers.triage.inference import ItemText, predict_with_model

    encoder = Encoder.from_pretrained(packaged_model_path(), device="cpu", max_length=32)
    paths = ModelPaths(tmp_path / "models", "o/r")
    for number, bias in ((1, (5.0, 0.0)), (2, (0.0, 5.0))):
        head = torch.nn.Linear(encoder.dim, 2)
        torch.nn.init.zeros_(head.weight)
        head.bias.data = torch.tensor(bias)
        meta = TriageMeta(["bug", "feature"], False, {"bug": 0.5, "feature": 0.5}, "packaged", 32)
        TriageModel(encoder, head, meta).save(paths.version(number))
    text = ItemText(repo="o/r", title="It crashes", body="")
    point_live(paths, 1)
    first = predict_with_model(paths.model_dir, text)
    point_live(paths, 2)
    second = predict_with_model(paths.model_dir, text)
    assert first.probs["bug"] > 0.9 and second.probs["feature"] > 0.9
    # The replaced version is no longer held in memory.
    from models.triage import model as model_module

    cached = {key[0] for key in model_module._MODELS}
    assert str(paths.version(1).resolve()) not in cached
    assert str(paths.version(2).resolve()) in cached


# --------------------------------------------------------------- end to end


def nlbse_issues(repo: str, per_label: int) -> list[dict[str, str]]:
    """``per_label`` real issues of each label of one NLBSE repository, interleaved."""
    csv.field_size_limit(sys.maxsize)
    with shared_data("issues/nlbse24-train.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["repo"] == repo]
    pools = {
        lab: [r for r in rows if r["label"] == lab][:per_label]
        for lab in ("bug", "feature", "question")
    }
    return [row for group in zip(*pools.values(), strict=True) for row in group]


def add_history(
    fake: FakeGitHub, name: str, rows: list[dict[str, str]], *, open_every: int = 0
) -> None:
    """``rows`` as labelled issues of ``ORG/name``, 7 hours apart (every ``open_every``-th
    left open, the rest closed)."""
    for i, row in enumerate(rows):
        fake.add_issue(
            ORG,
            name,
            title=row["title"],
            body=row["body"][:2000],
            labels=[row["label"]],
            state="open" if open_every and i % open_every == 0 else "closed",
            created_at=BASE + timedelta(hours=7 * i),
        )


@pytest.fixture
def fake(fake_github: tuple[FakeGitHub, str]) -> Iterator[FakeGitHub]:
    github, _ = fake_github
    yield github
    assert github.violations == [], "calls GitHub's OpenAPI description rejects"


@pytest.fixture
def settings(fake_github: tuple[FakeGitHub, str], redis_url: str, tmp_path: Path) -> Settings:
    _, api_url = fake_github
    return load_settings(
        {
            "APP_ID": str(APP_ID),
            "PRIVATE_KEY": key_pair()[0],
            "WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": api_url,
            "STEWARD_DATA_DIR": str(tmp_path / "data"),
            "REDIS_URL": redis_url,
        },
        env_file=tmp_path / "no.env",
    )


def tiny_config() -> Any:
    from models.defaults import packaged_model_path
    from models.triage.finetune import TrainConfig

    return TrainConfig(
        base_model=packaged_model_path(),
        epochs=1,
        max_length=48,
        batch_size=16,
        calibration_folds=0,
        progress=False,
        device="cpu",
    )


#: Follow-up tasks the retrain flow queued, ``(task name, message)``.
QUEUED: list[tuple[str, dict[str, Any]]] = []


async def retrain(settings: Settings, store: Store, name: str, **options: Any) -> dict[str, Any]:
    from workers.runtime import Runtime

    client = redis.Redis.from_url(str(settings.redis_url))
    runtime = Runtime(settings, store, client, send=lambda *task: QUEUED.append(task))
    async with runtime.task_context() as ctx:
        return await run_retrain(
            ctx,
            RetrainArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=name, **options),
            policy=RetrainPolicy(min_items=40, min_per_label=5, min_unseen=15),
            config=tiny_config(),
            say=print,
        )


@pytest.mark.slow
async def test_retrain_promotes_skips_keeps_and_rolls_back(
    fake: FakeGitHub, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    name = unique("retrain")
    full = f"{ORG}/{name}"
    fake.add_repo(ORG, name, labels=["bug", "feature", "question"])
    add_history(fake, name, nlbse_issues("facebook/react", 20), open_every=3)
    fake.add_pull(ORG, name, title="Fix it", files=["a.py"], user="dev")  # not an issue
    store = open_store(settings.database_url_or_default)
    paths = ModelPaths(settings.data_dir / "models", full)

    QUEUED.clear()
    first = await retrain(settings, store, name)
    assert first["promoted"] is True and first["version"] == 1 and first["collected"] == 61
    assert live_version(paths) == 1
    # The new encoder's embeddings replace the old ones: the index is rebuilt.
    assert [(task, m["repo"]) for task, m in QUEUED] == [("steward.index", name)]
    from models.triage.model import TriageModel
    from workers.modelstore import has_model

    assert has_model(settings.data_dir / "models", full)
    assert TriageModel.load(paths.live).labels == ["bug", "feature", "question"]
    assert len(store.history_records(full, kind="issue")) == 60
    assert not (settings.data_dir / "datasets").exists()  # nothing on this host's disk

    before = len(fake.requests)
    second = await retrain(settings, store, name)  # nothing new: no training at all
    assert second["skipped"].startswith("no new labelled data") and second["collected"] == 0
    # one query of issues updated since the last run, one of pull requests, one of
    # discussions; no REST
    assert [r.path for r in fake.requests[before:] if f"/{name}/" in r.path] == []
    assert len([r for r in fake.requests[before:] if r.path == "/graphql"]) == 3

    third = await retrain(settings, store, name, force=True)  # same data: not better
    assert third["version"] == 2 and third["promoted"] is False
    assert third["live_macro_f1"] is not None and live_version(paths) == 1
    versions = store.model_versions_for(full)
    assert [(version_of(v), v["promoted"]) for v in versions] == [(1, True), (2, False)]
    assert versions[1]["metrics"]["live_on_holdout"]["n"] == versions[1]["metrics"]["holdout"]["n"]

    cli_env(monkeypatch, settings.data_dir, settings.data_dir / "no.env")
    assert main(["models", "promote", "--repo", full, "--version", "2"]) == 0
    assert live_version(paths) == 2
    assert main(["models", "promote", "--repo", full, "--version", "1"]) == 0  # rollback
    assert live_version(paths) == 1 and TriageModel.load(paths.live).labels
    capsys.readouterr()
    assert main(["models", "list", "--repo", full, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["live"], v["promoted"]) for v in listing["versions"]] == [
        (1, True, True),
        (2, False, False),
    ]
    assert main(["models", "promote", "--repo", full, "--version", "7"]) == 1


@pytest.mark.slow
async def test_an_org_is_retrained_on_one_shared_encoder(
    fake: FakeGitHub, settings: Settings
) -> None:
    """Two repositories of one org: one fine-tuning, one encoder on disk and in memory,
    a head per repository, each promoted on its own holdout; nothing new trains nothing;
    a little new data in one repository gets it a head alone on the same encoder.
    """
    from models.triage.model import ENCODERS_DIR, TriageModel, load_cached

    names = [unique("org-a"), unique("org-b")]
    for name, source in zip(names, ("facebook/react", "microsoft/vscode"), strict=True):
        fake.add_repo(ORG, name, labels=["bug", "feature", "question"])
        add_history(fake, name, nlbse_issues(source, 20))
    store = open_store(settings.database_url_or_default)
    model_dir = settings.data_dir / "models"

    result = await retrain(settings, store, names[0], together=(names[1],))

    other = f"{ORG}/{names[1]}"
    assert result["promoted"] is True and result["together"][other]["promoted"] is True
    assert result["collected"] == 60 and result["together"][other]["collected"] == 60
    [encoder] = list((model_dir / ENCODERS_DIR).iterdir())
    lives = [ModelPaths(model_dir, f"{ORG}/{name}").live.resolve() for name in names]
    assert all(not (live / "config.json").exists() for live in lives)
    first, second = (load_cached(live) for live in lives)
    assert first.encoder is second.encoder and first.meta.encoder_digest == encoder.name
    assert first.meta.repo != second.meta.repo

    again = await retrain(settings, store, names[0], together=(names[1],))
    assert again["skipped"].startswith("no new labelled data")
    assert again["together"][other]["skipped"].startswith("no new labelled data")

    # 24 new labelled issues in the first repository: 40 % of its data, 20 % of the
    # org's (under 25 %), and 19 of its training issues the encoder never saw (its old
    # holdout and 7 new ones; 15 needed): a new head for it alone, on the org's encoder.
    for i, row in enumerate(nlbse_issues("facebook/react", 28)[60:]):
        fake.add_issue(
            ORG,
            names[0],
            title=row["title"],
            body=row["body"][:2000],
            labels=[row["label"]],
            state="closed",
            created_at=BASE + timedelta(hours=7 * (60 + i)),
        )
    heads = await retrain(settings, store, names[0], together=(names[1],))
    assert heads["version"] == 2 and heads["collected"] == 24
    assert heads["together"][other]["skipped"].startswith("no new labelled data")
    assert [e.name for e in (model_dir / ENCODERS_DIR).iterdir()] == [encoder.name]
    version = ModelPaths(model_dir, f"{ORG}/{names[0]}").version(2)
    assert TriageModel.load(version).meta.encoder_digest == encoder.name
    modes = [r["metrics"]["retrain"]["mode"] for r in store.model_versions_for(heads["repo"])]
    assert modes == ["encoder", "heads"]
    last = store.last_action(f"{ORG}/{names[0]}", feature="retrain")
    assert last is not None and last["detail"]["reason"].startswith("heads alone: 24 labelled")
    skipped = store.last_action(other, feature="retrain")
    assert skipped is not None and skipped["action"] == "skipped"
    # `steward status` says what the last retraining did and why.
    from workers.triage.status import render_retraining, retraining_report

    said = render_retraining(retraining_report(last))
    assert "heads alone: 24 labelled issue(s) new or relabelled since version 1" in said[0]
    assert said[1].startswith("    version 2 ") and ": macro F1" in said[1]
    (quiet,) = render_retraining(retraining_report(skipped))
    assert "not retrained: no new labelled data since version 1" in quiet


@pytest.mark.slow
def test_scheduled_retrain_all_runs_in_a_real_worker(
    fake: FakeGitHub, fake_github: tuple[FakeGitHub, str], redis_url: str, tmp_path: Path
) -> None:
    """``steward.retrain_all`` (what beat sends) queues ``steward.retrain`` per active
    repository on the inference queue; a real worker collects and, with too little
    history, trains nothing.
    """
    from celery import _state

    from core.queue import create_celery
    from tests.bot import Bot, bot_env
    from tests.support import wait_for

    name = unique("scheduled")
    fake.add_repo(ORG, name, labels=["bug"])
    for i in range(3):
        fake.add_issue(ORG, name, title=f"Crash {i}", labels=["bug"])
    data_dir = tmp_path / "bot"
    data_dir.mkdir()
    bot = Bot(
        env=bot_env(api_url=fake_github[1], data_dir=data_dir, redis_url=redis_url),
        data_dir=data_dir,
    )
    store = open_store(f"sqlite:///{(data_dir / 'steward.db').resolve()}")
    store.add_repositories(INSTALLATION_ID, [(fake.repo(ORG, name).id, f"{ORG}/{name}")])
    previous = _state.default_app
    try:
        app = create_celery(load_settings({"REDIS_URL": redis_url}, env_file=tmp_path / "no.env"))
    finally:
        _state.set_default_app(previous)
    bot.start_worker()
    try:
        app.send_task("steward.retrain_all")
        wait_for(lambda: "not enough history" in bot.log("worker.log"), timeout=60)
        assert len(store.history_records(f"{ORG}/{name}")) == 3
        assert store.model_versions_for(f"{ORG}/{name}") == []
    finally:
        bot.stop()


async def test_one_retrain_per_repository_at_a_time(redis_url: str) -> None:
    from redis.asyncio import Redis

    from workers.modelstore import retrain_lock

    client = Redis.from_url(redis_url)
    repo = unique("locked")
    try:
        async with (
            retrain_lock(client, repo, ttl=3) as first,
            retrain_lock(client, repo, ttl=3) as second,
        ):
            assert first is True and second is False
        async with retrain_lock(client, repo, ttl=3) as again:  # released on exit
            assert again is True
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_a_correction_changes_the_next_models_decision(
    fake: FakeGitHub, settings: Settings
) -> None:
    """People correct a label; the next model, trained with the correction weighted,
    decides that item the way people did.
    """
    from models.triage.model import TriageModel

    name = unique("correct")
    full = f"{ORG}/{name}"
    fake.add_repo(ORG, name, labels=["bug", "feature", "question"])
    rows = nlbse_issues("facebook/react", 20)
    add_history(fake, name, rows)
    store = open_store(settings.database_url_or_default)
    paths = ModelPaths(settings.data_dir / "models", full)
    assert (await retrain(settings, store, name))["version"] == 1

    first = TriageModel.load(paths.version(1))
    items = [LabelledItem(full, r["title"], r["body"][:2000]) for r in rows[:30]]
    picks = [max(p, key=p.get) for p in first.predict(items)]
    # an item of the training part the first model gets right, and another label for it
    pairs = enumerate(zip(rows[:30], picks, strict=True))
    index = next(i for i, (row, pick) in pairs if row["label"] == pick)
    old = rows[index]["label"]
    new = next(lab for lab in ("bug", "feature", "question") if lab != old)
    issue = fake.issue(ORG, name, index + 1)
    fake.set_labels(fake.repo(ORG, name), issue, [new], actor="maintainer")
    store.record_feedback(
        repo=full, number=index + 1, kind="label_removed", subject=old, actor="maintainer"
    )
    store.record_feedback(
        repo=full, number=index + 1, kind="label_added", subject=new, actor="maintainer"
    )

    second = await retrain(settings, store, name, force=True)

    (after,) = TriageModel.load(paths.version(second["version"])).predict([items[index]])
    (before,) = first.predict([items[index]])
    assert max(after, key=after.get) == new, (before, after)
    assert after[new] > before[new]


async def test_a_repository_gone_from_github_does_not_stop_its_orgs_run(
    fake: FakeGitHub, settings: Settings
) -> None:
    """A repository deleted (or taken out of the installation) since the org's last run is
    left out with the reason; the org's other repositories are collected and judged."""
    name, deleted = unique("kept"), unique("deleted")
    fake.add_repo(ORG, name, labels=["bug", "feature", "question"])
    add_history(fake, name, nlbse_issues("facebook/react", 2))
    store = open_store(settings.database_url_or_default)

    result = await retrain(settings, store, name, together=[deleted])

    assert result["collected"] == 6  # too few to train: judged and skipped, not stopped
    assert "skipped" in result and "gone" not in result["skipped"]
    gone = result["together"][f"{ORG}/{deleted}"]
    assert gone["skipped"].startswith("GitHub's GraphQL API answered NOT_FOUND"), gone
    assert len(store.history_records(f"{ORG}/{name}", kind="issue")) == 6
