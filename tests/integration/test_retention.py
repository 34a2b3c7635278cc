"""Retention on disk: old versions and unreferenced encoders deleted at the end of a
retrain and by ``steward models prune``, with small stand-ins for models and encoders
(a ``triage.json`` naming a digest, a few bytes of weights; nothing is trained).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.cli import main
from core.store import Store, open_store
from models.triage.model import ENCODERS_DIR, TriageMeta, encoder_folder
from models.triage.plan import RetrainPolicy
from tests.integration.test_retrain import cli_env
from workers.modelstore import (
    META_FILE,
    ModelPaths,
    clean_partial,
    live_version,
    point_live,
    prune_encoders,
    prune_versions,
    publish,
    remove_encoder,
    version_numbers,
)
from workers.retrain.flow import Member, retrain_group

pytestmark = pytest.mark.timeout(60)

HOUR = 3600.0
#: Bytes of a stand-in encoder's weights (a real one is ~90 MB).
ENCODER_BYTES = 64 * 1024


def stored_encoder(model_dir: Path, digest: str, *, age: float = 2 * HOUR) -> Path:
    """A stand-in of ``.encoders/<digest>/``, last written ``age`` seconds ago."""
    folder = model_dir / ENCODERS_DIR / digest
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * ENCODER_BYTES)
    then = time.time() - age
    os.utime(folder, (then, then))
    return folder


def model_folder(folder: Path, digest: str, *, standalone: bool = False) -> Path:
    """A stand-in model folder: ``triage.json`` naming ``digest``, a head, and for a
    standalone folder (``steward train --out``) its own encoder."""
    meta = TriageMeta(["bug", "feature"], False, {"bug": 0.5}, "stand-in", encoder_digest=digest)
    folder.mkdir(parents=True)
    (folder / META_FILE).write_text(json.dumps(asdict(meta)))
    (folder / "head.safetensors").write_bytes(b"\0" * 1024)
    if standalone:
        (folder / "config.json").write_text("{}")
    return folder


def saved_version(store: Store, paths: ModelPaths, digest: str, *, live: bool = False) -> int:
    """A version the way a retrain saves it: written aside, published, recorded."""
    tmp = model_folder(paths.versions / f".tmp-{uuid.uuid4().hex}", digest)
    number = publish(tmp, paths)
    store.add_model_version(
        paths.repo,
        str(paths.version(number)),
        metrics={"version": number, "decision": "stand-in"},
        fingerprint=f"fp-{number}",
        promoted=live,
    )
    if live:
        point_live(paths, number)
    return number


def loads_by_path(paths: ModelPaths) -> Path:
    """Where the live model's encoder is found, as ``TriageModel.load`` finds it."""
    meta = TriageMeta.from_dict(json.loads((paths.live / META_FILE).read_text()))
    return encoder_folder(paths.live, meta)


def everything(root: Path) -> set[str]:
    """Every path under ``root``, relative (to compare before and after)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_a_retrain_prunes_old_versions_and_the_encoders_only_they_used(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'steward.db'}")
    model_dir = tmp_path / "models"
    a, b, c = (ModelPaths(model_dir, f"o/{name}") for name in ("a", "b", "c"))
    for n in range(1, 8):  # o/a: versions 1..7, each on its own encoder; 2 is live
        stored_encoder(model_dir, f"d{n}")
        saved_version(store, a, f"d{n}", live=n == 2)
    saved_version(store, b, "d3", live=True)  # another repository still uses d3
    stored_encoder(model_dir, "solo")  # named only by a standalone folder: not needed
    model_folder(c.live, "solo", standalone=True)
    stored_encoder(model_dir, "copied")  # named by a model folder an operator put aside
    model_folder(model_dir / "backup" / "o__a" / "1", "copied")
    stored_encoder(model_dir, "orphan")  # old and named by nothing
    stored_encoder(model_dir, "fresh", age=60)  # an org's retrain just stored it
    lines: list[str] = []

    results = retrain_group(
        store,
        [Member(paths) for paths in (a, b)],
        config=None,  # nothing has enough history: no training
        policy=RetrainPolicy(keep_versions=3),
        say=lines.append,
    )

    assert all("skipped" in result for result in results.values())
    assert version_numbers(a) == [2, 5, 6, 7] and live_version(a) == 2
    assert version_numbers(b) == [1]
    stored = {p.name for p in (model_dir / ENCODERS_DIR).iterdir()}
    assert stored == {"d2", "d3", "d5", "d6", "d7", "copied", "fresh"}
    assert loads_by_path(a) == model_dir / ENCODERS_DIR / "d2"
    assert loads_by_path(b) == model_dir / ENCODERS_DIR / "d3"
    assert (c.live / META_FILE).is_file()  # a standalone folder is never touched
    assert not [p for p in model_dir.rglob(".trash-*")]
    pruned = {
        r["metrics"]["version"]: r["metrics"].get("pruned_at")
        for r in store.model_versions_for("o/a")
    }
    assert [n for n, when in pruned.items() if when] == [1, 3, 4]
    assert "o/a: removed version 1 (0.0 MiB)" in lines
    assert any(line.startswith("removed encoder orphan") for line in lines)
    assert lines[-1] == "retention freed 0.3 MiB"  # d1, d4, solo, orphan: 64 KiB each


def test_models_prune_dry_run_prune_and_promote_of_a_pruned_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    data = tmp_path / "data"
    cli_env(monkeypatch, data, tmp_path / "no.env")
    store = open_store(f"sqlite:///{data / 'steward.db'}")
    paths = ModelPaths(data / "models", "o/r")
    for n in range(1, 5):
        stored_encoder(paths.model_dir, f"d{n}")
        saved_version(store, paths, f"d{n}", live=n == 4)
    before = everything(paths.model_dir)

    assert main(["models", "prune", "--keep", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "o/r: would remove version 1" in out and "o/r: would remove version 2" in out
    assert "would remove encoder d1" in out and "would remove encoder d2" in out
    assert "would free 0.1 MiB" in out
    assert everything(paths.model_dir) == before  # nothing deleted
    assert not any(r["metrics"].get("pruned_at") for r in store.model_versions_for("o/r"))

    assert main(["models", "prune", "--keep", "2"]) == 0
    out = capsys.readouterr().out
    assert "o/r: removed version 1" in out and "removed encoder d2" in out and "freed" in out
    assert version_numbers(paths) == [3, 4]
    assert sorted(p.name for p in (paths.model_dir / ENCODERS_DIR).iterdir()) == ["d3", "d4"]

    assert main(["models", "list", "--repo", "o/r", "--json"]) == 0
    listed = {v["version"]: v for v in json.loads(capsys.readouterr().out)["versions"]}
    assert [(n, v["on_disk"], bool(v["pruned_at"])) for n, v in listed.items()] == [
        (1, False, True),
        (2, False, True),
        (3, True, False),
        (4, True, False),
    ]
    assert main(["models", "list", "--repo", "o/r"]) == 0
    assert "pruned 20" in capsys.readouterr().out

    assert main(["models", "promote", "--repo", "o/r", "--version", "1"]) == 2
    assert "version 1 was pruned" in capsys.readouterr().err
    assert live_version(paths) == 4
    assert main(["models", "promote", "--repo", "o/r", "--version", "3"]) == 0  # rollback
    assert loads_by_path(paths) == paths.model_dir / ENCODERS_DIR / "d3"

    assert main(["models", "prune", "--keep", "0"]) == 2
    assert "--keep must be 1 or more" in capsys.readouterr().err


def test_prune_is_idempotent_and_leaves_too_few_versions_alone(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'steward.db'}")
    paths = ModelPaths(tmp_path / "models", "o/r")
    for n in range(1, 4):
        stored_encoder(paths.model_dir, f"d{n}")
        saved_version(store, paths, f"d{n}", live=n == 1)
    assert prune_versions(store, paths, 5).removed == []
    assert prune_versions(store, paths, 1).removed == [paths.version(2)]
    assert prune_versions(store, paths, 1).removed == []
    assert prune_encoders(paths.model_dir, time.time()).removed == [
        paths.model_dir / ENCODERS_DIR / "d2"
    ]
    assert prune_encoders(paths.model_dir, time.time()).removed == []


def test_an_unreadable_model_folder_keeps_every_encoder(tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    stored_encoder(model_dir, "d1")
    broken = model_dir / ".versions" / "o__r" / "1"
    broken.mkdir(parents=True)
    (broken / META_FILE).write_text('{"encoder_digest": "d')  # half a file: which digest?
    lines: list[str] = []
    assert prune_encoders(model_dir, time.time(), say=lines.append).removed == []
    assert (model_dir / ENCODERS_DIR / "d1").is_dir()
    assert lines and lines[0].startswith("no encoder pruned")


def test_clean_partial_removes_the_trash_of_an_interrupted_prune(tmp_path: Path) -> None:
    paths = ModelPaths(tmp_path / "models", "o/r")
    model_folder(paths.version(1), "d1")
    model_folder(paths.versions / ".trash-0123", "d0")
    model_folder(paths.versions / ".tmp-4567", "d2")
    clean_partial(paths)
    assert [p.name for p in paths.versions.iterdir()] == ["1"]


def test_a_reused_encoder_is_made_young_again_or_stored_again(tmp_path: Path) -> None:
    """Saving skips an encoder already stored; until the version naming it is published,
    its age is what protects it from another org's prune."""
    from models.triage.model import store_encoder

    encoders = tmp_path / "models" / ENCODERS_DIR
    old = stored_encoder(tmp_path / "models", "d1")

    def save_pretrained(folder: Path, **_: Any) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "config.json").write_text("{}")

    encoder: Any = SimpleNamespace(
        model=SimpleNamespace(save_pretrained=save_pretrained),
        tokenizer=SimpleNamespace(save_pretrained=lambda folder: None),
    )
    assert store_encoder(encoder, encoders, "d1") == old
    assert time.time() - old.stat().st_mtime < 60
    assert store_encoder(encoder, encoders, "d2") == encoders / "d2"  # gone: stored again
    assert (encoders / "d2" / "config.json").is_file()


def test_an_encoder_reused_or_taken_since_the_prune_looked_is_left(tmp_path: Path) -> None:
    """Between reading the ages and deleting, a retrain may reuse an encoder (its age is
    reset) or another worker's prune may delete it first."""
    looked = time.time()
    reused = stored_encoder(tmp_path, "d1", age=0)
    assert remove_encoder(reused, now=looked, min_age=HOUR) is False and reused.is_dir()
    assert remove_encoder(tmp_path / "gone", now=looked, min_age=HOUR) is False
    old = stored_encoder(tmp_path, "d2")
    assert remove_encoder(old, now=looked, min_age=HOUR) is True and not old.exists()
