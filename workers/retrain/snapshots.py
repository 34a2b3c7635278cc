"""What each trained version and each org encoder was trained on, on disk, and the
retraining decision's record in the audit log (the I/O around
:mod:`workers.retrain.change`).

A version folder holds ``trained_on.json``: its repository's snapshot (each labelled
issue's number and labels, training part and holdout). An encoder fine-tuned on an
org's pooled data holds the same file in ``.encoders/<digest>/``, with one snapshot per
repository. Both are written once, atomically; a version or encoder without one (trained
before snapshots existed) makes the next run fall back to the data fingerprint.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.store import ActionRecord, Store
from models.triage.model import ENCODERS_DIR, META_FILE
from workers.modelstore import ModelPaths, version_of
from workers.retrain.change import Snapshot

SNAPSHOT_FILE = "trained_on.json"
#: The audit log's feature name for retraining decisions (``steward status`` reads it).
FEATURE = "retrain"


def write_snapshots(
    folder: Path,
    snapshots: Mapping[str, Snapshot],
    *,
    trained: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """``folder/trained_on.json``: each repository's snapshot and, for an encoder, the
    keys of the issues it was fine-tuned on (``trained``: the training parts, without
    the holdouts), written atomically."""
    body: dict[str, Any] = {
        "format": 1,
        "repos": {r: {k: list(v) for k, v in snap.items()} for r, snap in snapshots.items()},
    }
    if trained is not None:
        body["trained"] = {repo: sorted(set(keys)) for repo, keys in trained.items()}
    tmp = folder / f".{SNAPSHOT_FILE}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(body, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / SNAPSHOT_FILE)


def _read(folder: Path) -> dict[str, Any] | None:
    try:
        body = json.loads((folder / SNAPSHOT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def read_snapshots(folder: Path) -> dict[str, dict[str, tuple[str, ...]]] | None:
    """The snapshots ``folder`` holds (None: it has none, or cannot be read)."""
    body = _read(folder)
    try:
        return {
            repo: {key: tuple(labels) for key, labels in snap.items()}
            for repo, snap in (body or {})["repos"].items()
        }
    except (KeyError, AttributeError, TypeError):
        return None


def read_trained(folder: Path) -> dict[str, set[str]] | None:
    """The issues an encoder was fine-tuned on, per repository (None: not recorded)."""
    body = _read(folder)
    try:
        return {repo: set(keys) for repo, keys in (body or {})["trained"].items()}
    except (KeyError, AttributeError, TypeError):
        return None


def newest_version(store: Store, paths: ModelPaths) -> int | None:
    """The repository's newest recorded version (retention always keeps its folder)."""
    for row in reversed(store.model_versions_for(paths.repo)):
        number = version_of(row)
        if number is not None:
            return number
    return None


def org_encoder(members: Sequence[ModelPaths]) -> Path | None:
    """The encoder folder most of the members' live models share (None: no live model,
    or its encoder is not in the model dir's store)."""
    digests: Counter[str] = Counter()
    for paths in members:
        try:
            meta = json.loads((paths.live / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("encoder_digest"):
            digests[str(meta["encoder_digest"])] += 1
    if not digests:
        return None
    folder = members[0].model_dir / ENCODERS_DIR / digests.most_common(1)[0][0]
    return folder if (folder / "config.json").is_file() else None


def record_decision(store: Store, repo: str, detail: Mapping[str, Any]) -> None:
    """One line of the audit log: what this run did with ``repo`` and why."""
    action = "trained" if detail.get("trained") else "skipped"
    store.record_action(
        ActionRecord(
            effect_key=f"{FEATURE}:{repo}:{uuid.uuid4().hex}",
            repo=repo,
            feature=FEATURE,
            action=action,
            detail=dict(detail),
        )
    )
