"""benchmarks/bench_probot.py end to end with tiny numbers (a smoke test, not a timing).

It npm-installs Probot into a temporary folder, so it needs node, npm and the npm
registry (or npm's cache), and the local Redis the script uses; it skips without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_probot.py"
#: The script's exit statuses for "npm install failed" and "no local Redis".
EXIT_NPM_FAILED, EXIT_NO_REDIS = 3, 4
REQUESTS, WARMUP = 60, 10

pytestmark = pytest.mark.slow


def _require_prerequisites() -> None:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed to install and run Probot")
    try:
        redis.Redis(socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("bench_probot.py needs the local Redis at 127.0.0.1:6379")


def test_both_servers_acknowledge_and_queue_every_delivery(tmp_path: Path) -> None:
    _require_prerequisites()
    out = tmp_path / "bench.json"
    tiny = ["--requests", str(REQUESTS), "--rounds", "2", "--concurrency", "4"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *tiny, "--warmup", str(WARMUP), "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if done.returncode == EXIT_NPM_FAILED:
        pytest.skip(f"npm install of Probot failed (offline?): {done.stderr[-600:]}")
    if done.returncode == EXIT_NO_REDIS:
        pytest.skip("no two empty databases on the local Redis")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]

    report = json.loads(out.read_text())
    rows = {row["server"]: row for row in report["rows"]}
    assert set(rows) == {"steward", "probot"}
    for row in rows.values():
        assert (row["requests"], row["acks"], row["non_2xx"]) == (REQUESTS, REQUESTS, 0)
        # Every acknowledged delivery (timed, warm-up and the one probe) was queued.
        assert row["acked_total"] == REQUESTS + WARMUP + 1
        assert row["queued_deliveries"] == row["acked_total"]
        assert row["all_queued"]
        assert row["cpu_ms_per_ack"] > 0
    assert rows["probot"]["queued_messages"] == rows["probot"]["acked_total"]
    assert rows["steward"]["queued_messages"] == (
        rows["steward"]["acked_total"] * rows["steward"]["jobs_per_delivery"]
    )
    assert {"acks_per_s", "p99_ms", "cpu_ms_per_ack"} <= set(report["ratios"])
    assert "Steward/Probot" in done.stdout
