"""The model store: where trained triage models live, which version is live, how a new
one is published and promoted, what retention deletes, and the per-repository lock that
keeps collection and training from overlapping.

Every feature that reads or writes models goes through this one module: retraining
publishes and promotes, triage and the semantic index read the live model, ``steward
status`` and ``steward models`` list versions. Its interface is narrow (paths of one
repository, publish, point live, list, prune) so that another store (an object store)
can replace the folder behind it.

Layout on disk (``<model dir>`` is ``STEWARD_MODEL_DIR``, or ``models`` in the data
dir)::

    <model dir>/.versions/<owner>__<repo>/<n>/   trained versions, never modified
    <model dir>/.encoders/<digest>/              encoders the versions name, once each
    <model dir>/<owner>__<repo>                  relative symlink to the live version

Promotion (and rollback) replaces the symlink with ``os.replace``: atomic, so a worker
sees the old or the new model, never half of one, and a reader that resolves the link
once reads one immutable folder. A real folder found at the live path (from ``steward
train --out``) is adopted as a version first. The database row marked ``promoted`` is
the source of truth; each run re-points the link to it if a crash left them apart.

A folder is deleted by renaming it to a ``.trash-<uuid>`` sibling first (atomic), then
removing that: nothing ever reads a half-deleted folder as a version or an encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import LockError

from core.settings import Settings
from core.store import Store
from models.triage.data import repo_dirname

if TYPE_CHECKING:
    from models.triage.model import TriageModel

log = logging.getLogger(__name__)

Log = Callable[[str], None]


#: Seconds the retrain lock lives without renewal (a killed worker frees it this fast).
LOCK_TTL = 300.0


VERSIONS_DIR = ".versions"


META_FILE = "triage.json"


#: Prefix of a folder on its way out (see :func:`discard`); never read as a model.
TRASH_PREFIX = ".trash-"


#: Seconds an unreferenced encoder is left alone after it was written: another org's
#: retrain stores its encoder a moment before it publishes the version naming it.
ENCODER_MIN_AGE = 3600.0


@dataclass(frozen=True)
class ModelPaths:
    """Where one repository's live model and its versions live."""

    model_dir: Path
    repo: str

    @property
    def live(self) -> Path:
        """The path the bot reads (a symlink to the live version)."""
        return self.model_dir / repo_dirname(self.repo)

    @property
    def versions(self) -> Path:
        """The folder of numbered versions."""
        return self.model_dir / VERSIONS_DIR / repo_dirname(self.repo)

    def version(self, number: int) -> Path:
        """The folder of one version."""
        return self.versions / str(number)


def model_dir_of(settings: Settings) -> Path:
    """``STEWARD_MODEL_DIR``, or ``models`` in the data dir."""
    return settings.model_dir or settings.data_dir / "models"


def live_version(paths: ModelPaths) -> int | None:
    """The version the live symlink points at (None: no link, or not to a version)."""
    if not paths.live.is_symlink():
        return None
    name = Path(os.readlink(paths.live)).name
    return int(name) if name.isdigit() else None


def publish(folder: Path, paths: ModelPaths) -> int:
    """Move a finished model folder to the next free version number; return it."""
    paths.versions.mkdir(parents=True, exist_ok=True)
    while True:
        number = next_version(os.listdir(paths.versions))
        try:
            os.mkdir(paths.version(number))  # claims the number, even against a racer
        except FileExistsError:
            continue
        os.replace(folder, paths.version(number))  # onto the empty folder: atomic
        return number


def point_live(paths: ModelPaths, number: int) -> None:
    """Make ``number`` the live version by atomically replacing the symlink."""
    target = os.path.relpath(paths.version(number), paths.live.parent)
    tmp = paths.live.with_name(f".{paths.live.name}.{uuid.uuid4().hex}.link")
    os.symlink(target, tmp, target_is_directory=True)
    try:
        os.replace(tmp, paths.live)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def adopt_live(store: Store, paths: ModelPaths, say: Log) -> None:
    """A real model folder at the live path becomes a recorded, promoted version."""
    live = paths.live
    if live.is_symlink() or not (live / META_FILE).is_file():
        return
    meta = json.loads((live / META_FILE).read_text())
    number = publish(live, paths)
    point_live(paths, number)
    metrics = {"version": number, "adopted": True, "model_metrics": meta.get("metrics") or {}}
    store.add_model_version(
        paths.repo,
        str(paths.version(number)),
        metrics=metrics,
        fingerprint=str(meta.get("fingerprint") or ""),
        promoted=True,
    )
    say(f"adopted the existing model at {live} as version {number}")


def reconcile_live(store: Store, paths: ModelPaths, say: Log) -> None:
    """Point the live link at the version the database says is promoted."""
    for row in store.model_versions_for(paths.repo):
        number = version_of(row)
        if not row["promoted"] or number is None or live_version(paths) == number:
            continue
        if (paths.version(number) / META_FILE).is_file():
            point_live(paths, number)
            say(f"live model re-pointed to version {number} (as recorded)")


def clean_partial(paths: ModelPaths) -> None:
    """Remove half-written versions of an interrupted run, and what an interrupted prune
    left in the trash (called under the lock).
    """
    if paths.versions.is_dir():
        for child in paths.versions.iterdir():
            if child.name.startswith((".tmp-", TRASH_PREFIX)):
                shutil.rmtree(child, ignore_errors=True)


class VersionPruned(FileNotFoundError):
    """The version was recorded, but retention deleted its folder."""


def promote_version(store: Store, paths: ModelPaths, number: int) -> dict[str, Any]:
    """Make a recorded version live (rollback is promoting an older one)."""
    rows = [r for r in store.model_versions_for(paths.repo) if version_of(r) == number]
    if not rows:
        raise LookupError(f"{paths.repo} has no version {number}")
    if not (paths.version(number) / META_FILE).is_file():
        pruned_at = (rows[-1]["metrics"] or {}).get("pruned_at")
        if pruned_at:
            raise VersionPruned(
                f"{paths.repo} version {number} was pruned on {str(pruned_at)[:19]} (its files "
                "are deleted); `steward models list --repo` shows the versions still on disk"
            )
        raise FileNotFoundError(f"version {number} is missing on disk ({paths.version(number)})")
    adopt_live(store, paths, log.info)
    store.promote_model_version(paths.repo, int(rows[-1]["id"]))
    point_live(paths, number)
    return rows[-1]


def live_model(paths: ModelPaths, precision: str = "auto") -> TriageModel | None:
    """The model the bot uses now (loaded once per process per version and precision)."""
    from models.triage.model import load_cached

    if not (paths.live / META_FILE).is_file():
        return None
    return load_cached(paths.live.resolve(), precision=precision)


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (or, dry, would remove) and the bytes that frees."""

    removed: list[Path]
    freed: int = 0


def mib(size: int) -> str:
    """Bytes as MiB, for the log and the CLI."""
    return f"{size / 2**20:.1f} MiB"


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links are not followed)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a racer's file may be gone already
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def discard(folder: Path) -> Path:
    """Rename ``folder`` to a ``.trash-<uuid>`` sibling (atomic) and return it: from now
    on nothing reads it as a model, however long the removal takes or if it is killed.
    """
    trash = folder.with_name(f"{TRASH_PREFIX}{uuid.uuid4().hex}")
    os.rename(folder, trash)
    return trash


def version_numbers(paths: ModelPaths) -> list[int]:
    """The numbered version folders of a repository on disk."""
    if not paths.versions.is_dir():
        return []
    return sorted(int(p.name) for p in paths.versions.iterdir() if p.name.isdigit() and p.is_dir())


def prune_versions(
    store: Store, paths: ModelPaths, keep: int, *, dry_run: bool = False, say: Log = log.info
) -> Pruned:
    """Delete a repository's versions beyond the live one and the newest ``keep``
    (:func:`~workers.retrain.decide.versions_to_prune`) and mark their rows pruned;
    ``dry_run`` only says which. Retraining calls it under the repository's lock.
    """
    rows = store.model_versions_for(paths.repo)
    pinned = {n for r in rows if r["promoted"] and (n := version_of(r)) is not None}
    doomed = versions_to_prune(
        version_numbers(paths), live=live_version(paths), keep=keep, pinned=pinned
    )
    removed, freed = [], 0
    for number in doomed:
        size = folder_size(paths.version(number))
        if not dry_run and not remove_version(store, paths, number=number, rows=rows):
            continue
        removed.append(paths.version(number))
        freed += size
        verb = "would remove" if dry_run else "removed"
        say(f"{paths.repo}: {verb} version {number} ({mib(size)})")
    return Pruned(removed, freed)


def remove_version(
    store: Store, paths: ModelPaths, *, number: int, rows: Sequence[dict[str, Any]]
) -> bool:
    """Delete one version folder and mark its rows (as read before: a number is never
    reused, since the newest version always stays); False if it became live meanwhile
    or another prune took it first.
    """
    try:
        trash = discard(paths.version(number))
    except FileNotFoundError:  # another prune (``steward models prune``) took it first
        return False
    if live_version(paths) == number:  # promoted by hand after the prune looked
        os.rename(trash, paths.version(number))
        return False
    for row in rows:
        if version_of(row) == number:
            store.mark_model_version_pruned(int(row["id"]))
    shutil.rmtree(trash, ignore_errors=True)
    return True


def read_ref(folder: Path) -> ModelRef:
    """Which stored encoder a model folder names (ValueError: unreadable ``triage.json``)."""
    data = json.loads((folder / META_FILE).read_text())
    digest = str(data.get("encoder_digest") or "") if isinstance(data, dict) else ""
    return ModelRef(digest, standalone=(folder / "config.json").is_file())


def model_refs(model_dir: Path, *, skip: Collection[Path] = ()) -> list[ModelRef]:
    """Every model folder anywhere under ``model_dir`` but the encoder store, the trash
    and ``skip`` (live links followed, half-written versions included): what each needs.
    """
    from models.triage.model import ENCODERS_DIR

    refs, skipped = [], {p.resolve() for p in skip}
    for root, dirs, files in os.walk(model_dir):  # links are listed, not descended into
        here = Path(root)
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(TRASH_PREFIX)
            and (here / d).resolve() not in skipped
            and not (here == model_dir and d == ENCODERS_DIR)
        ]
        if META_FILE in files:
            refs.append(read_ref(here))
        refs.extend(
            read_ref(here / d)
            for d in dirs
            if (here / d).is_symlink() and (here / d / META_FILE).is_file()
        )
    return refs


def encoder_ages(encoders: Path, now: float) -> dict[str, float]:
    """Seconds since each folder of the encoder store was last written, by name."""
    return {p.name: now - p.lstat().st_mtime for p in encoders.iterdir() if p.is_dir()}


def prune_encoders(
    model_dir: Path,
    now: float,
    *,
    min_age: float = ENCODER_MIN_AGE,
    skip: Collection[Path] = (),
    dry_run: bool = False,
    say: Log = log.info,
) -> Pruned:
    """Delete encoders no model folder names (``skip``: folders counted as gone, what a
    dry run of :func:`prune_versions` would remove), once ``min_age`` seconds old.
    """
    from models.triage.model import ENCODERS_DIR

    encoders = model_dir / ENCODERS_DIR
    if not encoders.is_dir():
        return Pruned([])
    try:
        referenced = referenced_digests(model_refs(model_dir, skip=skip))
    except (OSError, ValueError) as exc:  # a digest unknown: deleting could break a model
        say(f"no encoder pruned: a model folder could not be read ({exc})")
        return Pruned([])
    removed, freed = [], 0
    for name in encoders_to_prune(
        encoder_ages(encoders, now), referenced=referenced, min_age=min_age
    ):
        folder = encoders / name
        size = folder_size(folder)
        if not dry_run and not remove_encoder(folder, now=now, min_age=min_age):
            continue
        removed.append(folder)
        freed += size
        say(f"{'would remove' if dry_run else 'removed'} encoder {name[:12]} ({mib(size)})")
    return Pruned(removed, freed)


def remove_encoder(folder: Path, *, now: float, min_age: float) -> bool:
    """Delete one stored encoder; False if a retrain reused it since the prune looked, or
    another prune (a second worker's) took it first.
    """
    try:
        if now - folder.lstat().st_mtime < min_age:
            return False
        trash = discard(folder)
    except FileNotFoundError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def retain(store: Store, repos: Sequence[ModelPaths], *, keep: int, say: Log) -> None:
    """Retention after a retrain: each repository's old versions, then the encoders no
    kept version names. A failure is logged and never fails the run (the models are
    saved).
    """
    freed = 0
    for paths in repos:
        try:
            freed += prune_versions(store, paths, keep, say=say).freed
        except OSError as exc:
            log.warning("%s: pruning old versions failed: %s", paths.repo, exc)
    for model_dir in sorted({paths.model_dir for paths in repos}):
        try:
            freed += prune_encoders(model_dir, time.time(), say=say).freed
        except OSError as exc:
            log.warning("%s: pruning encoders failed: %s", model_dir, exc)
    if freed:
        say(f"retention freed {mib(freed)}")


@contextlib.asynccontextmanager
async def retrain_lock(redis: Redis, repo: str, ttl: float = LOCK_TTL) -> AsyncIterator[bool]:
    """Hold ``steward:lock:retrain:<repo>`` while training (renewed; False if taken).

    The lock expires ``ttl`` seconds after its holder stops renewing it, so a killed
    worker blocks retraining of that repository for minutes, not hours.
    """
    lock = redis.lock(f"steward:lock:retrain:{repo}", timeout=ttl, blocking=False)
    if not await lock.acquire():
        yield False
        return
    keeper = asyncio.create_task(_renew(lock, ttl))
    try:
        yield True
    finally:
        keeper.cancel()
        with contextlib.suppress(LockError):
            await lock.release()


async def _renew(lock: Any, ttl: float) -> None:
    while True:
        await asyncio.sleep(ttl / 3)
        await lock.reacquire()


def version_of(row: Mapping[str, Any]) -> int | None:
    """The per-repository version number of a ``model_versions`` row (its folder name)."""
    name = str(row.get("path") or "").rstrip("/").rsplit("/", 1)[-1]
    return int(name) if name.isdigit() else None


def next_version(existing: Iterable[str]) -> int:
    """One more than the largest numeric folder name (1 for none)."""
    numbers = [int(name) for name in existing if name.isdigit()]
    return max(numbers, default=0) + 1


@dataclass(frozen=True)
class ModelRef:
    """What one model folder on disk needs from the encoder store."""

    #: ``encoder_digest`` of its ``triage.json`` ('' when it names none).
    digest: str
    #: Whether it holds its own encoder (``config.json`` in the folder): such a folder
    #: (what ``steward train --out`` writes) needs nothing from the store.
    standalone: bool = False


def versions_to_prune(
    numbers: Iterable[int], *, live: int | None, keep: int, pinned: Collection[int] = ()
) -> list[int]:
    """Version numbers of one repository to delete, oldest first.

    Kept: the newest ``keep`` versions, the ``live`` one (the live link's target, however
    old: it is what the bot uses), and any ``pinned`` one (the version the database marks
    promoted, which the next run points the link back to if a crash left them apart).
    ``keep`` is at least 1: the newest version always stays, so a version number is never
    given to a second model (the next one is numbered after the newest on disk).
    """
    if keep < 1:
        raise ValueError(f"keep must be 1 or more, not {keep}")
    newest_first = sorted(set(numbers), reverse=True)
    kept = {*newest_first[:keep], *pinned}
    if live is not None:
        kept.add(live)
    return sorted(n for n in newest_first if n not in kept)


def referenced_digests(refs: Iterable[ModelRef]) -> set[str]:
    """Digests of the encoder store some kept model folder loads its encoder from."""
    return {ref.digest for ref in refs if ref.digest and not ref.standalone}


def encoders_to_prune(
    ages: Mapping[str, float], *, referenced: Collection[str], min_age: float
) -> list[str]:
    """Folders of the encoder store to delete, by name: unreferenced and old enough.

    ``ages`` maps each folder's name to seconds since it was last written. A young
    unreferenced folder stays: another org's retrain stores its encoder before it
    publishes the version that names it, and must not find it gone. Leftovers of a
    killed write (``.tmp-*``) are never referenced, so they go once they are as old.
    """
    return sorted(name for name, age in ages.items() if name not in referenced and age >= min_age)


def model_folder(model_dir: Path, repo_full_name: str) -> Path:
    """Where a repository's live model is read (:attr:`ModelPaths.live`)."""
    return ModelPaths(model_dir, repo_full_name).live


def has_model(model_dir: Path, repo_full_name: str) -> bool:
    """Whether a live trained model exists for the repository."""
    return (model_folder(model_dir, repo_full_name) / META_FILE).is_file()


def forget_models(model_dir: Path, repo: str) -> list[Path]:
    """Delete a repository's live link and every version of it (its retention period
    is over); encoders no kept version names go at the next :func:`prune_encoders`.
    Returns what was removed.
    """
    paths = ModelPaths(model_dir, repo)
    removed = []
    if paths.live.is_symlink() or paths.live.exists():
        if paths.live.is_symlink():
            paths.live.unlink()
        else:
            shutil.rmtree(discard(paths.live), ignore_errors=True)
        removed.append(paths.live)
    if paths.versions.is_dir():
        shutil.rmtree(discard(paths.versions), ignore_errors=True)
        removed.append(paths.versions)
    return removed
