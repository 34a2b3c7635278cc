"""Benchmark triage end to end: signed issues.opened in, labels out, and worker memory.

Starts the fake GitHub, `steward serve --no-worker` and one `steward worker` (thread
pool) on a local Redis database (or the embedded one), puts a real saved triage model
(the packaged MiniLM encoder with a classification head) in the model folder, then
sends issues one at a time and measures the time from the POST until the labels are on
the issue, plus the worker's resident memory with the model loaded.

    python benchmarks/bench_triage_e2e.py [--issues 20] [--model DIR]

With ``--model`` an existing trained model folder (e.g. from `steward train`) is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_receiver import pick_redis  # noqa: E402
from fakegithub import FakeGitHub, load_webhook_example  # noqa: E402
from fakegithub.deliveries import delivery_headers, retarget, with_author  # noqa: E402

SECRET = "bench"
OWNER, REPO = "bench-org", "widgets"


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    import psutil

    proc = psutil.Process(pid)
    total = int(proc.memory_info().rss)
    for child in proc.children(recursive=True):
        total += int(child.memory_info().rss)
    return total / 2**20


def make_model(folder: Path, source: str | None) -> None:
    """Copy a trained model, or save the packaged encoder with a fresh head."""
    if source:
        shutil.copytree(source, folder)
        return
    import torch

    from models.defaults import packaged_model_path
    from models.encoder import Encoder
    from models.triage.model import TriageMeta, TriageModel

    encoder = Encoder.from_pretrained(packaged_model_path(), device="cpu")
    head = torch.nn.Linear(encoder.model.config.hidden_size, 3)
    meta = TriageMeta(
        labels=["bug", "feature", "question"],
        multi_label=False,
        thresholds={"bug": 0.0, "feature": 0.0, "question": 0.0},
        base_model="packaged",
        repo=f"{OWNER}/{REPO}",
    )
    TriageModel(encoder, head, meta).save(folder)


def wait(predicate: object, timeout: float) -> bool:
    """Poll ``predicate`` every 5 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def main() -> int:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=20)
    parser.add_argument("--model", default=None, help="a trained model folder to use")
    args = parser.parse_args()

    from tests.support import free_port, key_pair

    tmp = Path(tempfile.mkdtemp(prefix="steward-bench-triage-"))
    make_model(tmp / "models" / f"{OWNER}__{REPO}", args.model)
    fake = FakeGitHub(check_responses=False)
    fake.register_app(1, key_pair()[1])
    fake.add_repo(
        OWNER,
        REPO,
        labels=["bug", "feature", "question"],
        files={
            # Every issue gets its top label whatever the calibrated threshold says, so
            # each one measures the full path, labels included.
            ".github/steward.yml": "welcome:\n  enabled: false\n"
            "reviewers:\n  mode: 'off'\n  issues: 'off'\n"
            "triage:\n  min_confidence: {bug: 0.0, feature: 0.0, question: 0.0}\n"
        },
    )
    fake.add_installation(1, OWNER)
    redis_url = pick_redis()
    port = free_port()
    with fake.serve_in_thread() as api:
        env = {
            **os.environ,
            "APP_ID": "1",
            "PRIVATE_KEY": key_pair()[0],
            "WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": api,
            "STEWARD_DATA_DIR": str(tmp),
            "LOG_LEVEL": "warning",
            "STEWARD_ENV_FILE": str(tmp / "none.env"),
            "PORT": str(port),
        }
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        serve_args = ["serve"] + (["--no-worker"] if redis_url else [])
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", *serve_args],
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
        ]
        if redis_url:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "app.cli", "worker"],
                    env=env,
                    cwd=ROOT,
                    start_new_session=True,
                )
            )
        try:
            latencies, rss = run(fake, port, args.issues, procs)
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                proc.wait(30)
            if redis_url:
                import redis

                redis.Redis.from_url(redis_url).flushdb()
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"triage end to end: {len(latencies)} issues, one at a time (first one excluded: "
        "model load)"
    )
    print(f"  webhook → labels p50   {statistics.median(latencies):7.3f} s")
    print(f"  webhook → labels max   {max(latencies):7.3f} s")
    print(f"  worker RSS, model loaded {rss:7.0f} MiB")
    return 0


def run(
    fake: FakeGitHub, port: int, count: int, procs: list[subprocess.Popen[bytes]]
) -> tuple[list[float], float]:
    """Send ``count + 1`` issues; return latencies (without the first) and worker RSS."""
    url = f"http://127.0.0.1:{port}/api/github/webhooks"
    wait(lambda: _healthy(port), 60)
    latencies = []
    for i in range(count + 1):
        issue = fake.add_issue(
            OWNER,
            REPO,
            title=f"Crash number {i} when saving",
            body="Traceback (most recent call last): ...",
            user=f"user{i}",
        )
        payload = with_author(
            retarget(
                load_webhook_example("issues.opened"), owner=OWNER, repo=REPO, installation_id=1
            ),
            "issue",
            f"user{i}",
            "NONE",
        )
        payload["issue"]["number"] = issue.number
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers=delivery_headers("issues", body, secret=SECRET)
        )
        start = time.perf_counter()
        urllib.request.urlopen(request, timeout=10).read()
        if not wait(lambda n=issue.number: fake.labels_on(OWNER, REPO, n), 120):
            raise SystemExit(f"issue {issue.number} got no label")
        if i:
            latencies.append(time.perf_counter() - start)
    return latencies, rss_mb(procs[-1].pid)


def _healthy(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
