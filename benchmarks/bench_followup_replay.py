"""Replay of the follow-up job over simulated time: nobody pinged twice, none after an answer.

Items are the pull requests of a real review history (``golang-net.jsonl`` by default):
each opens at its ``created_at`` (or every ``--spacing`` hours) and a maintainer answers
after its real time to merge (``merged_at - created_at``); answers later than
``--never-after`` days never come. The fake GitHub holds the issues and the comments;
the real flows record each opening and answer as the route would queue them, and the
repository's follow-up task (``run_followup_repo``, what the hourly ``run_followup``
queues for it) runs once per simulated hour. The counts say how many items were
answered in time, routed, pinged twice (must be 0), and pinged after their answer or
routed although answered in time (both must be 0).

    .venv/bin/python benchmarks/bench_followup_replay.py --items 150
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.tasks import FirstResponseArgs, FollowupRepoArgs  # noqa: E402
from fakegithub.fake import FakeGitHub  # noqa: E402
from fakegithub.state import Permission  # noqa: E402
from tests.support import INSTALLATION_ID, ORG  # noqa: E402
from workers.followup.decide import FOLLOWUP_MARKER  # noqa: E402
from workers.followup.flow import run_first_response, run_followup_repo  # noqa: E402

HISTORY = Path("/work/shared/data/reviews/golang-net.jsonl")
T0 = datetime(2026, 1, 5, tzinfo=UTC)
MAINTAINERS: dict[str, Permission] = {
    "alice": "write",
    "bob": "maintain",
    "carol": "triage",
    "dave": "read",
}
#: Runs one flow with a fresh task context (``Flows.run`` in the tests).
Run = Callable[[Any, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Item:
    """One replayed item: when it opens and how long until a maintainer answers."""

    opened_h: float
    reply_h: float | None


def load_items(path: Path, *, count: int, spacing: float, never_after_days: float) -> list[Item]:
    """The last ``count`` changes of a history as items (``spacing`` 0: real open times)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("created_at") and r.get("merged_at")][-count:]
    start = _time(rows[0]["created_at"]) if rows else T0
    items = []
    for i, row in enumerate(rows):
        opened, merged = _time(row["created_at"]), _time(row["merged_at"])
        delay = (merged - opened).total_seconds() / 3600
        offset = i * spacing if spacing else (opened - start).total_seconds() / 3600
        items.append(Item(round(offset, 2), None if delay > never_after_days * 24 else delay))
    return items


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_routing(item: Item, *, after_hours: int, end_h: int) -> int | None:
    """The hour the job must route ``item`` (None: never, it was answered first)."""
    due = max(0, math.ceil(item.opened_h + after_hours))
    if due > end_h or (item.reply_h is not None and item.opened_h + item.reply_h <= due):
        return None
    return due


async def replay(
    run: Run, fake: FakeGitHub, repo: str, items: Sequence[Item], *, after_hours: int = 72
) -> dict[str, Any]:
    """Deliver openings and answers in time order and run the job every hour."""
    events = sorted(
        [(it.opened_h, 0, i) for i, it in enumerate(items)]
        + [(it.opened_h + it.reply_h, 1, i) for i, it in enumerate(items) if it.reply_h is not None]
    )
    end_h = math.ceil(max(it.opened_h for it in items) + after_hours + 2)
    numbers: dict[int, int] = {}
    routed: list[tuple[int, int, str]] = []  # (item, hour, person)
    for hour in range(end_h + 1):
        while events and events[0][0] <= hour:
            moment, is_answer, i = events.pop(0)
            answer_h = moment if is_answer else None
            await _deliver(run, fake, repo, (i, items[i].opened_h, answer_h), numbers)
        now = (T0 + timedelta(hours=hour)).isoformat()
        args = FollowupRepoArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, now=now)
        result = await run(run_followup_repo, args)
        by_number = {n: i for i, n in numbers.items()}
        for key, who in result["routed"].items():
            full, _, number = key.rpartition("#")
            if full == f"{ORG}/{repo}" and who in MAINTAINERS:
                routed.append((by_number[int(number)], hour, who))
    return summarise(fake, repo, items, routed, (numbers, after_hours, end_h))


async def _deliver(
    run: Run,
    fake: FakeGitHub,
    repo: str,
    event: tuple[int, float, float | None],
    numbers: dict[int, int],
) -> None:
    """An item opens (issue in the fake) or a maintainer answers it (comment in the fake),
    recorded the way the route queues it."""
    i, opened_h, answer_h = event
    if answer_h is None:
        issue = fake.add_issue(ORG, repo, title=f"question {i}", body="how?", user=f"asker{i}")
        numbers[i] = issue.number
    else:
        fake.add_comment(
            ORG, repo, numbers[i], body="answer", user="bob", author_association="MEMBER"
        )
    answer = (
        {}
        if answer_h is None
        else {
            "answerer": "bob",
            "association": "MEMBER",
            "at": (T0 + timedelta(hours=answer_h)).isoformat(),
        }
    )
    args = FirstResponseArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=numbers[i],
        kind="issue",
        author=f"asker{i}",
        opened_at=(T0 + timedelta(hours=opened_h)).isoformat(),
        **answer,
    )
    await run(run_first_response, args)


def summarise(
    fake: FakeGitHub,
    repo: str,
    items: Sequence[Item],
    routed: list[tuple[int, int, str]],
    context: tuple[dict[int, int], int, int],
) -> dict[str, Any]:
    """The replay's counts; the last three must be zero."""
    numbers, after_hours, end_h = context
    times = Counter(i for i, _, _ in routed)
    pings = {
        i: sum(FOLLOWUP_MARKER in b for b in fake.comment_bodies(ORG, repo, n))
        for i, n in numbers.items()
    }
    expected = {
        i: h
        for i, it in enumerate(items)
        if (h := expected_routing(it, after_hours=after_hours, end_h=end_h)) is not None
    }
    after_answer = [
        i
        for i, hour, _ in routed
        if (reply := items[i].reply_h) is not None and items[i].opened_h + reply <= hour
    ]
    return {
        "items": len(items),
        "hours": end_h + 1,
        "answered_in_time": sum(
            1 for it in items if it.reply_h is not None and it.reply_h < after_hours
        ),
        "never_answered": sum(1 for it in items if it.reply_h is None),
        "routed": len(times),
        "expected_routed": len(expected),
        "routed_as_expected": sum(1 for i, h, _ in routed if expected.get(i) == h),
        "pinged_twice": sum(1 for i in numbers if pings[i] > 1 or times[i] > 1),
        "pinged_after_answer": len(after_answer),
        "routed_but_answered_in_time": sum(1 for i in times if i not in expected),
        "people": dict(Counter(who for _, _, who in routed)),
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    from core.settings import load_settings
    from core.store import open_store
    from tests.conftest import _local_redis_db, make_fake
    from tests.support import APP_ID, SECRET, key_pair
    from workers.runtime import Runtime

    items = load_items(
        args.history, count=args.items, spacing=args.spacing, never_after_days=args.never_after
    )
    folder = Path(tempfile.mkdtemp(prefix="steward-followup-"))
    fake = make_fake()
    repo = "replay"
    fake.add_repo(
        ORG,
        repo,
        files={".github/steward.yml": "followup:\n  enabled: true\n"},
        collaborators=MAINTAINERS,
    )
    redis_url = _local_redis_db()
    embedded = None
    if redis_url is None:
        from app.embedded import EmbeddedRedis

        embedded = EmbeddedRedis(folder / "redis")
        redis_url = embedded.start()
    try:
        with fake.serve_in_thread() as api_url:
            settings = load_settings(
                {
                    "APP_ID": str(APP_ID),
                    "PRIVATE_KEY": key_pair()[0],
                    "WEBHOOK_SECRET": SECRET,
                    "GITHUB_API_URL": api_url,
                    "REDIS_URL": redis_url,
                    "STEWARD_DATA_DIR": str(folder / "data"),
                },
                env_file=Path("/nonexistent.env"),
            )
            store = open_store(f"sqlite:///{folder / 'steward.db'}")
            runtime = Runtime(settings=settings, store=store, redis=redis.Redis.from_url(redis_url))

            async def run(flow: Any, flow_args: Any) -> dict[str, Any]:
                async with runtime.task_context() as ctx:
                    result: dict[str, Any] = await flow(ctx, flow_args)
                    return result

            return await replay(run, fake, repo, items, after_hours=72)
    finally:
        if embedded is not None:
            embedded.stop()
        else:
            redis.Redis.from_url(redis_url).flushdb()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the replay and print its counts (exit 1 when an item was pinged wrongly)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, default=HISTORY)
    parser.add_argument("--items", type=int, default=150)
    parser.add_argument(
        "--spacing", type=float, default=0.0, help="hours between openings; 0: real"
    )
    parser.add_argument(
        "--never-after", type=float, default=30.0, help="days; later answers never come"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = asyncio.run(_main(args))
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    bad = (
        result["pinged_twice"]
        + result["pinged_after_answer"]
        + result["routed_but_answered_in_time"]
    )
    return 1 if bad or result["routed"] != result["expected_routed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
