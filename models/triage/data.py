"""Labelled issues: loading the CSV and JSONL formats into one typed list.

CSV rows carry one label (``repo,created_at,label,title,body``); JSONL lines carry
several (``{"repo","number","title","body","labels":[...],"created_at"}``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DatasetError(ValueError):
    """A training or evaluation file Steward cannot use; the message says why and what to do."""


@dataclass(frozen=True)
class LabelledItem:
    """One issue as it was opened, with the labels maintainers gave it."""

    repo: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    created_at: str = ""
    number: int | None = None


@dataclass(frozen=True)
class LabelInfo:
    """A repository label as GitHub describes it (used by the zero-shot path)."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Dataset:
    """Items of one file plus the sha256 of its bytes (the training-data fingerprint)."""

    items: list[LabelledItem]
    fingerprint: str
    path: str = ""
    repos: list[str] = field(default_factory=list)


def fingerprint(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_csv(text: str) -> list[LabelledItem]:
    """Items of a one-label CSV; an empty label cell means "unlabelled"."""
    # Issue bodies with pasted logs exceed csv's default 128 KiB field limit.
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(text.splitlines(keepends=True))
    missing = {"repo", "title", "body"} - set(reader.fieldnames or [])
    if missing:
        raise DatasetError(
            f"CSV is missing columns {sorted(missing)}; expected repo,created_at,label,title,body"
        )
    return [
        LabelledItem(
            repo=row["repo"].strip(),
            title=row.get("title") or "",
            body=row.get("body") or "",
            labels=(row["label"].strip(),) if (row.get("label") or "").strip() else (),
            created_at=row.get("created_at") or "",
        )
        for row in reader
    ]


def item_from_json(obj: dict[str, Any]) -> LabelledItem:
    """One JSONL record; labels may be strings or GitHub label objects with a ``name``."""
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
    labels = [lab["name"] if isinstance(lab, dict) else str(lab) for lab in obj.get("labels") or []]
    number = obj.get("number")
    return LabelledItem(
        repo=str(obj["repo"]),
        title=obj.get("title") or "",
        body=obj.get("body") or "",
        labels=tuple(dict.fromkeys(labels)),
        created_at=str(obj.get("created_at") or ""),
        number=int(number) if number is not None else None,
    )


def parse_jsonl(text: str) -> list[LabelledItem]:
    """Items of a JSONL file, one object per non-blank line."""
    items = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(item_from_json(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(f"line {lineno}: not a labelled issue ({exc})") from exc
    return items


def load_dataset(path: str | Path) -> Dataset:
    """Read a ``.csv`` or ``.jsonl`` file of labelled issues."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    is_jsonl = path.suffix.lower() in {".jsonl", ".ndjson"} or text.lstrip().startswith("{")
    try:
        items = parse_jsonl(text) if is_jsonl else parse_csv(text)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a valid CSV file ({exc})") from exc
    if not items:
        raise DatasetError(f"{path} holds no issues")
    return Dataset(items, fingerprint(raw), str(path), sorted({it.repo for it in items}))


def load_items(path: str | Path) -> list[LabelledItem]:
    """Just the items of ``path`` (see ``load_dataset``)."""
    return load_dataset(path).items


def labelled_only(items: Iterable[LabelledItem]) -> list[LabelledItem]:
    """Items with at least one label: an unlabelled issue says nothing about any label."""
    return [it for it in items if it.labels]


def by_repo(items: Iterable[LabelledItem]) -> dict[str, list[LabelledItem]]:
    """Group items by repository, keeping file order within each."""
    groups: dict[str, list[LabelledItem]] = defaultdict(list)
    for item in items:
        groups[item.repo].append(item)
    return dict(sorted(groups.items()))


def label_set(items: Sequence[LabelledItem]) -> list[str]:
    """Sorted labels used by ``items``."""
    return sorted({lab for it in items for lab in it.labels})


def is_multi_label(items: Sequence[LabelledItem]) -> bool:
    """True unless every item carries exactly one label (then it is a single-label taxonomy)."""
    return any(len(it.labels) != 1 for it in items)


def repo_dirname(repo: str) -> str:
    """``owner/name`` → ``owner__name`` (the per-repo model folder)."""
    return repo.replace("/", "__")


def repo_from_dirname(name: str) -> str:
    """``owner__name`` → ``owner/name``."""
    return name.replace("__", "/", 1)
