"""Benchmark: a burst of deliveries while workers are SIGKILLed at random instants.

Real ``steward serve --no-worker`` and ``steward worker`` processes on the stream
transport (:mod:`core.streams`), the fake GitHub, and the burst of
:mod:`tests.kill_anywhere`: ``--deliveries`` first issues of as many newcomers, the
worker SIGKILLed ``--kills`` times at random instants spread over ``--spread`` seconds
(a fresh worker starts after each). It prints how many issues were left without their
welcome (lost), welcomed twice (doubled), and how long after the last kill the last task
finished. The claim time is the product's default (``STEWARD_VISIBILITY_TIMEOUT``, 30 s)
unless ``--claim-after`` says otherwise.

    .venv/bin/python benchmarks/bench_kill_anywhere.py [--deliveries 500] [--kills 100]
        [--spread 300] [--claim-after 30] [--seed 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_day_one import bench_redis, say, wait_until  # noqa: E402
from fakegithub.fake import FakeGitHub  # noqa: E402
from tests.bot import Bot, bot_env  # noqa: E402
from tests.kill_anywhere import run_burst  # noqa: E402
from tests.support import APP_ID, INSTALLATION_ID, ORG, key_pair  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the burst and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--spread", type=float, default=300)
    parser.add_argument("--claim-after", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="steward-bench-kill-"))
    fake = FakeGitHub(check_responses=False)
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(INSTALLATION_ID, ORG)
    try:
        with fake.serve_in_thread() as api_url, bench_redis(workdir) as redis_url:
            env = bot_env(api_url=api_url, data_dir=workdir, redis_url=redis_url)
            env["STEWARD_VISIBILITY_TIMEOUT"] = str(args.claim_after)
            bot = Bot(env=env, data_dir=workdir)
            try:
                bot.start_server("--no-worker")
                bot.start_worker()
                wait_until(lambda: " ready" in bot.log("worker.log") or None, 120, "worker")
                say(f"{args.deliveries} deliveries, {args.kills} kills over {args.spread:.0f}s")
                burst = run_burst(
                    bot,
                    fake,
                    deliveries=args.deliveries,
                    kills=args.kills,
                    spread=args.spread,
                    seed=args.seed,
                    timeout=args.spread + 600,
                )
            finally:
                bot.kill_workers()
                bot.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = burst.summary()
    for key, value in summary.items():
        print(f"{key:>28}: {value}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
