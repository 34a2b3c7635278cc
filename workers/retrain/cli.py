"""``steward models list | promote | retrain | prune | import``: triage model versions, and
models brought in from a folder.

``register(subparsers)`` adds the commands; ``app.cli`` composes it with the other
feature modules. Versions live in ``<model dir>/.versions/<owner>__<repo>/<n>/`` and
the live model is the symlink ``<model dir>/<owner>__<repo>`` (see
:mod:`workers.retrain.flow`). Rollback is ``promote`` of an older version; ``prune``
deletes versions beyond the live one and the newest N, and encoders no kept version names.
``import PATH`` copies a folder into the store: a base encoder (a Hugging Face model saved
with ``save_pretrained``) goes to ``<model dir>/.base/<name>/``, where
``STEWARD_BASE_MODEL`` can name it, and a trained Steward model (``triage.json``) becomes
a new version of its repository, so a deployment without the Hugging Face hub can bring
its own encoder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.commandline import redis_url_for

if TYPE_CHECKING:
    from core.settings import Settings
    from core.store import Store
    from workers.modelstore import ModelPaths


def say(message: str) -> None:
    """A progress line on stderr (stdout carries results)."""
    print(message, file=sys.stderr, flush=True)


def register(subparsers: Any) -> None:
    """Add ``steward models`` and its actions."""
    models = subparsers.add_parser(
        "models", help="list, promote (roll back), retrain and prune models"
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    models.set_defaults(func=lambda args: _help(models))

    listing = actions.add_parser("list", help="a repository's model versions and which is live")
    listing.add_argument(
        "--repo", metavar="OWNER/NAME", help="one repository (default: every repository)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object on stdout")
    listing.set_defaults(func=cmd_list)

    promote = actions.add_parser("promote", help="make a version live (older one: rollback)")
    promote.add_argument("--repo", required=True, metavar="OWNER/NAME")
    promote.add_argument("--version", required=True, type=int, metavar="N")
    promote.set_defaults(func=cmd_promote)

    retrain = actions.add_parser(
        "retrain", help="collect, fine-tune, evaluate and maybe promote now (in this process)"
    )
    retrain.add_argument("--repo", required=True, metavar="OWNER/NAME")
    retrain.add_argument("--installation-id", required=True, type=int, metavar="N")
    retrain.add_argument(
        "--force", action="store_true", help="train even when the data has not changed"
    )
    retrain.set_defaults(func=cmd_retrain)

    prune = actions.add_parser(
        "prune", help="delete old versions, and encoders no kept version uses (every repository)"
    )
    prune.add_argument(
        "--keep", type=int, metavar="N", help="newest versions kept besides the live one (5)"
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    prune.set_defaults(func=cmd_prune)
    register_import(actions)


def register_import(actions: Any) -> None:
    """``steward models import PATH``."""
    imported = actions.add_parser(
        "import",
        help="copy a base encoder or a trained model from a folder into the store",
        description="A base encoder folder (config.json, tokenizer, *.safetensors) is copied "
        f"to <model dir>/{BASE_DIR}/<name>/, for STEWARD_BASE_MODEL; a trained model folder "
        "(triage.json) becomes a new version of its repository.",
    )
    imported.add_argument("path", type=Path, metavar="PATH", help="the folder to copy")
    imported.add_argument(
        "--repo", metavar="OWNER/NAME", help="a trained model's repository (default: its own)"
    )
    imported.add_argument("--name", help="a base encoder's name in the store (default: PATH's)")
    imported.add_argument(
        "--promote", action="store_true", help="make the imported trained model live"
    )
    imported.set_defaults(func=cmd_import)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _settings() -> Settings:
    from core.settings import SettingsError, load_settings

    try:
        return load_settings(receiver=False)
    except SettingsError as exc:
        say(f"steward: configuration error: {exc}")
        raise SystemExit(2) from None


def _open(repo: str) -> tuple[Settings, Store, ModelPaths]:
    from core.store import open_store
    from workers.modelstore import ModelPaths, model_dir_of
    from workers.records import parse_repo

    owner, name = parse_repo(repo)
    settings = _settings()
    store = open_store(settings.database_url_or_default)
    return settings, store, ModelPaths(model_dir_of(settings), f"{owner}/{name}")


def version_rows(store: Store, paths: ModelPaths) -> list[dict[str, Any]]:
    """Every recorded version with its key numbers, and whether it is live on disk."""
    from workers.modelstore import live_version, version_of

    live = live_version(paths)
    rows = []
    for row in store.model_versions_for(paths.repo):
        number = version_of(row)
        metrics: Mapping[str, Any] = row["metrics"] or {}
        holdout = metrics.get("holdout") or {}
        previous = metrics.get("live_on_holdout") or {}
        rows.append(
            {
                "version": number,
                "created_at": str(row["created_at"])[:19],
                "promoted": bool(row["promoted"]),
                "live": number == live,
                # Retention deletes old versions' files; the row (and its history) stays.
                "on_disk": number is not None and (paths.version(number) / "triage.json").is_file(),
                "pruned_at": metrics.get("pruned_at"),
                "macro_f1": holdout.get("macro_f1"),
                "applied_precision": holdout.get("applied_precision"),
                "coverage": holdout.get("coverage"),
                "previous_macro_f1": previous.get("macro_f1"),
                "holdout_items": metrics.get("holdout_items"),
                "train_items": metrics.get("train_items"),
                "decision": metrics.get("decision", "adopted" if metrics.get("adopted") else ""),
                "fingerprint": row["fingerprint"],
                "path": row["path"],
            }
        )
    return rows


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def known_repositories(model_dir: Path) -> list[str]:
    """Repositories with a model under ``model_dir``: a live folder or link, or versions."""
    from models.triage.data import repo_from_dirname
    from workers.modelstore import VERSIONS_DIR

    names = {p.name for p in model_dir.glob("*__*") if (p / "triage.json").is_file()}
    versions = model_dir / VERSIONS_DIR
    if versions.is_dir():
        names |= {p.name for p in versions.iterdir() if p.is_dir() and "__" in p.name}
    return sorted(repo_from_dirname(name) for name in names)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the versions of one repository's model, or every repository's live model.

    A model folder someone trained by hand into the model dir is registered as a version
    on first sight, so it can be listed, promoted and rolled back like the others.
    """
    if not args.repo:
        return list_all(as_json=args.json)
    _, store, paths = _open(args.repo)
    from workers.modelstore import adopt_live

    adopt_live(store, paths, say)
    rows = version_rows(store, paths)
    if args.json:
        print(json.dumps({"repo": paths.repo, "versions": rows}, default=str))
        return 0
    if not rows:
        print(f"{paths.repo}: no model versions yet")
        return 0
    print("version  live  created              macro F1  (was)   precision  train/holdout  why")
    for r in rows:
        mark = "*" if r["live"] else ("db" if r["promoted"] else "")
        sizes = f"{r['train_items'] or '-'}/{r['holdout_items'] or '-'}"
        print(
            f"{r['version']!s:8} {mark:5} {r['created_at']:20} {_num(r['macro_f1']):9} "
            f"{_num(r['previous_macro_f1']):7} {_num(r['applied_precision']):10} "
            f"{sizes:14} {_gone(r)}{r['decision']}"
        )
    return 0


def _gone(row: Mapping[str, Any]) -> str:
    """``pruned <date>; `` for a version retention deleted, ``missing; `` for one gone
    otherwise, '' for one on disk (the list stays a history; promote needs the files)."""
    if row["on_disk"]:
        return ""
    return f"pruned {str(row['pruned_at'])[:10]}; " if row["pruned_at"] else "missing; "


def list_all(*, as_json: bool) -> int:
    """One line per repository: its live version and how it scored."""
    from core.store import open_store
    from workers.modelstore import ModelPaths, adopt_live, model_dir_of

    settings = _settings()
    store = open_store(settings.database_url_or_default)
    model_dir = model_dir_of(settings)
    summary: list[dict[str, Any]] = []
    for repo in known_repositories(model_dir):
        paths = ModelPaths(model_dir, repo)
        adopt_live(store, paths, say)
        rows = version_rows(store, paths)
        live = next((r for r in rows if r["live"]), None)
        summary.append({"repo": repo, "versions": len(rows), "live": live})
    if as_json:
        print(json.dumps({"repos": summary}, default=str))
        return 0
    if not summary:
        print(f"no models in {model_dir} yet")
        return 0
    print("repository                          versions  live  macro F1  precision")
    for row in summary:
        current: dict[str, Any] = row["live"] or {}
        print(
            f"{row['repo']:36} {row['versions']:8}  {current.get('version', '-')!s:5} "
            f"{_num(current.get('macro_f1')):9} {_num(current.get('applied_precision'))}"
        )
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Make a version live; running workers pick it up on their next item."""
    from workers.modelstore import VersionPruned, promote_version

    _, store, paths = _open(args.repo)
    try:
        promote_version(store, paths, args.version)
    except VersionPruned as exc:  # nothing to promote: its files were deleted on purpose
        say(f"error: {exc}")
        return 2
    except (LookupError, FileNotFoundError) as exc:
        say(f"error: {exc}")
        return 1
    print(f"{paths.repo}: version {args.version} is live ({paths.live})")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    """Run one retrain of a repository now, printing progress."""
    settings, store, _ = _open(args.repo)
    if not settings.app_id or not settings.private_key:
        say("error: APP_ID and PRIVATE_KEY must be set (the App acts as the installation)")
        return 2
    with redis_url_for(settings) as url:
        result = asyncio.run(_retrain(settings.with_overrides(redis_url=url), store, args))
    print(json.dumps(result, default=str))
    return 0 if "error" not in result else 1


async def _retrain(settings: Settings, store: Store, args: argparse.Namespace) -> dict[str, Any]:
    import redis

    from core.tasks import RetrainArgs
    from workers.records import parse_repo
    from workers.retrain.flow import run_retrain
    from workers.runtime import Runtime

    owner, name = parse_repo(args.repo)
    runtime = Runtime(
        settings=settings, store=store, redis=redis.Redis.from_url(str(settings.redis_url))
    )
    async with runtime.task_context() as ctx:
        task_args = RetrainArgs(
            installation_id=args.installation_id, owner=owner, repo=name, force=args.force
        )
        return await run_retrain(ctx, task_args, say=say)


def cmd_prune(args: argparse.Namespace) -> int:
    """Delete, in every repository, the versions beyond the live one and the newest N,
    then the encoders no kept version names; print each and the MiB freed.

    Safe beside a running retrain: it keeps the newest versions (a new one is the newest)
    and encoders written in the last hour (one may be about to be named by a version).
    """
    from core.store import open_store
    from models.triage.plan import RetrainPolicy
    from workers.modelstore import ModelPaths, mib, model_dir_of, prune_encoders, prune_versions

    keep = RetrainPolicy().keep_versions if args.keep is None else args.keep
    if keep < 1:
        say("error: --keep must be 1 or more (the newest version always stays)")
        return 2
    settings = _settings()
    store = open_store(settings.database_url_or_default)
    model_dir = model_dir_of(settings)
    pruned = [
        prune_versions(store, ModelPaths(model_dir, repo), keep, dry_run=args.dry_run, say=print)
        for repo in known_repositories(model_dir)
    ]
    # A dry run deletes no version, so the encoders only those would free are named here.
    gone = [folder for p in pruned for folder in p.removed]
    pruned.append(
        prune_encoders(model_dir, time.time(), skip=gone, dry_run=args.dry_run, say=print)
    )
    freed = sum(p.freed for p in pruned)
    print(f"{'would free' if args.dry_run else 'freed'} {mib(freed)} in {model_dir}")
    return 0


#: Base encoders brought in by hand: ``<model dir>/.base/<name>/``.
BASE_DIR = ".base"


def cmd_import(args: argparse.Namespace) -> int:
    """Copy a folder into the model store: a trained model, or a base encoder."""
    from workers.modelstore import META_FILE, model_dir_of

    source = args.path.expanduser()
    if not source.is_dir():
        say(f"error: {source} is not a folder")
        return 2
    settings = _settings()
    if (source / META_FILE).is_file():
        return import_trained(settings, source, args)
    if (source / "config.json").is_file():
        return import_encoder(model_dir_of(settings), source, args.name)
    say(
        f"error: {source} is neither a trained Steward model ({META_FILE}) nor an encoder "
        "(config.json, as save_pretrained writes it)"
    )
    return 2


def copy_in(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` whole or not at all (a temporary sibling, renamed);
    ``FileExistsError`` when ``target`` exists."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(f"{target} exists")
    tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(".*"))
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def import_encoder(model_dir: Path, source: Path, name: str | None) -> int:
    """A base encoder into ``<model dir>/.base/<name>``, checked by loading it."""
    from models.encoder import Encoder
    from workers.modelstore import discard, folder_size, mib

    name = name or source.resolve().name
    if not name or name.startswith(".") or "/" in name:
        say(f"error: {name!r} cannot name an encoder; pass --name")
        return 2
    if not list(source.glob("*.safetensors")):
        say(
            f"error: {source} has no *.safetensors weights (Steward loads no pickles); "
            "save the model with save_pretrained(..., safe_serialization=True)"
        )
        return 2
    target = model_dir / BASE_DIR / name
    try:
        copy_in(source, target)
    except FileExistsError:
        say(f"error: {target} exists; pass another --name (running workers may be using it)")
        return 1
    try:
        dim = Encoder.from_pretrained(str(target), device="cpu").dim
    except Exception as exc:  # transformers' errors name the missing piece
        shutil.rmtree(discard(target), ignore_errors=True)
        say(f"error: {source} does not load as an encoder ({exc}); nothing was kept")
        return 1
    print(f"{target}: base encoder {name}, {dim} dimensions, {mib(folder_size(target))}")
    say(f"use it with STEWARD_BASE_MODEL={target.resolve()} (the workers' environment)")
    return 0


def import_trained(settings: Settings, source: Path, args: argparse.Namespace) -> int:
    """A trained model as a new version of its repository (and its encoder, if stored
    apart, into the encoder store); live with ``--promote``."""
    from core.store import open_store
    from models.triage.model import TriageMeta
    from workers.modelstore import META_FILE, ModelPaths, model_dir_of, promote_version, publish
    from workers.records import parse_repo

    try:
        meta = TriageMeta.from_dict(json.loads((source / META_FILE).read_text()))
        owner, name = parse_repo(args.repo or meta.repo or "")
    except (ValueError, TypeError) as exc:
        say(f"error: {source}: {exc or 'no repository'} (pass --repo OWNER/NAME)")
        return 2
    paths = ModelPaths(model_dir_of(settings), f"{owner}/{name}")
    try:
        bring_encoder(source, meta, paths.model_dir)
    except FileNotFoundError as exc:
        say(f"error: {exc}")
        return 2
    paths.versions.mkdir(parents=True, exist_ok=True)
    tmp = paths.versions / f".tmp-{uuid.uuid4().hex}"  # cleaned by a retrain if left
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(".*"))
    number = publish(tmp, paths)
    store = open_store(settings.database_url_or_default)
    metrics = {
        "version": number,
        "decision": "imported",
        "imported_from": str(source.resolve()),
        "model_metrics": meta.metrics,
    }
    store.add_model_version(
        paths.repo,
        str(paths.version(number)),
        metrics=metrics,
        fingerprint=meta.fingerprint,
        promoted=False,
    )
    if args.promote:
        promote_version(store, paths, number)
    state = "live" if args.promote else "not live: `steward models promote` makes it so"
    print(f"{paths.repo}: version {number} imported from {source} ({state})")
    return 0


def bring_encoder(source: Path, meta: Any, model_dir: Path) -> None:
    """Copy the encoder a model folder names into ``model_dir``'s encoder store, unless
    the folder holds its own or the store has it (``FileNotFoundError``: found nowhere)."""
    from models.triage.model import ENCODERS_DIR, encoder_folder

    if (source / "config.json").is_file():
        return
    target = model_dir / ENCODERS_DIR / meta.encoder_digest
    if meta.encoder_digest and (target / "config.json").is_file():
        return
    found = encoder_folder(source, meta)  # the store above the source folder
    with contextlib.suppress(FileExistsError):  # another import stored it meanwhile
        copy_in(found, target)
