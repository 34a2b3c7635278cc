"""Benchmark an org's triage models on disk and in a worker's memory, by layout.

An org's repositories are fine-tuned together (:func:`workers.retrain.flow.run_retrain`
with ``together``): one encoder, one head per repository. This script builds the model
dir of an org of ``N`` repositories in two layouts and measures both:

- **shared** (what the bot writes now): the encoder once in ``.encoders/<digest>/`` and,
  per repository, a version folder with its head, its TF-IDF channel (fitted on real
  NLBSE'24 issues) and ``triage.json``;
- **per repository** (before): every folder carrying its own copy of the encoder, each
  slightly different, as when every repository was fine-tuned on its own.

For each it reports bytes on disk, and the resident memory of a fresh worker-like
process that loads every repository's model (``load_cached``, as the triage worker
does) and classifies one issue per repository, above the same process with the
libraries imported. Per-repository layouts of more than ``--max-real`` repositories are
not written (200 copies are 17 GB): their disk and memory are extrapolated on the line
through the per-repository layouts of 1 and ``--max-real`` repositories, both measured,
and the table marks them ``computed``.

    .venv/bin/python benchmarks/bench_org_models.py [--repos 5 200] [--max-real 5]
        [--json FILE] [--keep DIR]

The encoder is the packaged all-MiniLM-L6-v2 (or ``STEWARD_BASE_MODEL``); the heads are
untrained (random) since only size and memory are measured here.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")
LABELS = ["bug", "feature", "question"]

PROBE = """
import json, sys, time
from pathlib import Path
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
import torch, transformers  # the libraries a worker has loaded anyway
from models.triage.data import LabelledItem
from models.triage.model import load_cached
torch.set_num_threads(1)
base = rss()
folders = [Path(p) for p in json.loads(sys.argv[1])]
item = LabelledItem(repo="o/r", title="It crashes on start", body="Stack trace below")
started = time.monotonic()
models = [load_cached(f.resolve(), device="cpu") for f in folders]
for model in models:
    model.predict([item])
print(json.dumps({"base": base, "loaded": rss(), "seconds": time.monotonic() - started,
                  "encoders": len({id(m.encoder) for m in models})}))
"""


def texts_by_repo() -> list[list[tuple[str, str]]]:
    """(text, label) pools per NLBSE repository, for realistic TF-IDF channels."""
    import csv

    csv.field_size_limit(sys.maxsize)
    pools: dict[str, list[tuple[str, str]]] = {}
    with DATA.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            pools.setdefault(row["repo"], []).append(
                (f"{row['title']}\n{row['body'][:1500]}", row["label"])
            )
    return list(pools.values())


def build(model_dir: Path, repos: int, *, shared: bool, seed: int = 0) -> list[Path]:
    """Write ``repos`` repositories' live models under ``model_dir``; return their folders."""
    import numpy as np
    import torch

    from models.defaults import base_model
    from models.encoder import Encoder
    from models.triage.lexical import LexicalModel
    from models.triage.model import ENCODERS_DIR, TriageMeta, TriageModel

    rng = random.Random(seed)
    pools = texts_by_repo()
    encoder = Encoder.from_pretrained(base_model({}), device="cpu", max_length=256)
    folders = []
    for i in range(repos):
        head = torch.nn.Linear(encoder.dim, len(LABELS))
        meta = TriageMeta(
            list(LABELS), False, dict.fromkeys(LABELS, 0.9), "packaged", 256, repo=f"org/r{i}"
        )
        model = TriageModel(encoder, head, meta)
        sample = rng.sample(pools[i % len(pools)], 300)
        targets = np.eye(len(LABELS))[[LABELS.index(label) for _, label in sample]]
        model.attach_lexical(
            LexicalModel.fit([t for t, _ in sample], targets, multi_label=False), 0.3
        )
        folder = model_dir / ".versions" / f"org__r{i}" / "1"
        if shared:
            model.save(folder, encoders=model_dir / ENCODERS_DIR)
        else:
            with torch.no_grad():  # a repository fine-tuned alone has weights of its own
                next(encoder.model.parameters()).add_(1e-6)
            model.save(folder)
        folders.append(folder)
    return folders


def disk_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def probe(folders: list[Path]) -> dict[str, Any]:
    """Load every folder in a fresh process; its memory above the imported libraries."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([str(f) for f in folders])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(root: Path, repos: int, *, shared: bool) -> dict[str, Any]:
    """One row: build the layout, measure disk and memory, remove it."""
    model_dir = root / f"{'shared' if shared else 'per-repo'}-{repos}"
    started = time.monotonic()
    folders = build(model_dir, repos, shared=shared)
    built = time.monotonic() - started
    memory = probe(folders)
    row = {
        "layout": "shared" if shared else "per repository",
        "repos": repos,
        "how": "measured",
        "disk_bytes": disk_bytes(model_dir),
        "memory_bytes": memory["loaded"] - memory["base"],
        "encoders_in_memory": memory["encoders"],
        "load_and_classify_s": round(memory["seconds"], 1),
        "build_s": round(built, 1),
    }
    shutil.rmtree(model_dir, ignore_errors=True)
    return row


def computed(small: dict[str, Any], large: dict[str, Any], repos: int) -> dict[str, Any]:
    """A per-repository row extrapolated on the line through two measured ones (a fixed
    cost plus a cost per repository, each encoder being one repository's).
    """
    span = large["repos"] - small["repos"]

    def line(key: str) -> float:
        slope = (large[key] - small[key]) / span
        return float(large[key] + slope * (repos - large["repos"]))

    return {
        **large,
        "repos": repos,
        "how": f"computed from {small['repos']} and {large['repos']}",
        "disk_bytes": int(line("disk_bytes")),
        "memory_bytes": int(line("memory_bytes")),
        "encoders_in_memory": repos,
        "load_and_classify_s": round(line("load_and_classify_s"), 1),
        "build_s": None,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a text table."""
    lines = [
        f"{'layout':<15} {'repos':>5} {'disk':>10} {'worker memory':>14} {'encoders':>8}"
        f" {'load+classify':>13}  how",
    ]
    for r in rows:
        lines.append(
            f"{r['layout']:<15} {r['repos']:>5} {r['disk_bytes'] / 2**20:>8.1f}MB"
            f" {r['memory_bytes'] / 2**20:>12.0f}MB {r['encoders_in_memory']:>8}"
            f" {r['load_and_classify_s']:>12.1f}s  {r['how']}"
        )
    return "\n".join(lines)


def say(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repos", type=int, nargs="+", default=[5, 200])
    parser.add_argument(
        "--max-real", type=int, default=5, help="largest per-repository layout written"
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="steward-org-models-") as tmp:
        root = Path(tmp)
        measured: list[dict[str, Any]] = []
        for repos in sorted({1, args.max_real}):
            say(f"per-repository layout, {repos} repositories ...")
            measured.append(measure(root, repos, shared=False))
        for repos in sorted(args.repos):
            say(f"shared layout, {repos} repositories ...")
            rows.append(measure(root, repos, shared=True))
            known = [m for m in measured if m["repos"] == repos]
            if known:
                rows.extend(known)
            elif len(measured) == 2:
                rows.append(computed(measured[0], measured[1], repos))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
