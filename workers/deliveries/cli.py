"""``steward deliveries list | redeliver``: the App's webhook deliveries, for operators.

``list`` shows what GitHub's delivery log holds for a window and what the recovery
job would do about each delivery; ``redeliver`` asks GitHub to send the ones Steward
missed again, now, through the same claims in Redis as the periodic job (so the two
never ask twice). Both read the log as the App (``APP_ID``, ``PRIVATE_KEY``) and the
accepted deliveries from ``REDIS_URL`` (or the embedded Redis of ``steward serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings
    from workers.deliveries.decide import Verdict
    from workers.deliveries.flow import RecoverOptions, Recovery

_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def say(message: str) -> None:
    """A line on stderr (stdout carries results)."""
    print(message, file=sys.stderr, flush=True)


def duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``3d`` or combinations (``1h30m``) as a timedelta."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30m, 2h or 1d")
    return timedelta(
        **{_UNITS[unit]: sum(int(n) for n, u in parts if u == unit) for _, unit in parts}
    )


def register(subparsers: Any) -> None:
    """Add ``steward deliveries`` and its actions."""
    deliveries = subparsers.add_parser(
        "deliveries", help="list and redeliver webhooks GitHub could not hand over"
    )
    actions = deliveries.add_subparsers(dest="deliveries_command", metavar="ACTION")
    deliveries.set_defaults(func=lambda args: _help(deliveries))

    listing = actions.add_parser("list", help="the App's delivery log and what Steward has")
    _common(listing)
    listing.add_argument(
        "--failed", action="store_true", help="only deliveries whose latest attempt failed"
    )
    listing.set_defaults(func=cmd_list)

    again = actions.add_parser(
        "redeliver", help="ask GitHub to send again what Steward missed (now, in this process)"
    )
    _common(again)
    again.add_argument(
        "--dry-run", action="store_true", help="say what would be asked; ask nothing"
    )
    again.add_argument(
        "--limit", type=int, default=None, metavar="N", help="ask for at most N (default 50)"
    )
    again.set_defaults(func=cmd_redeliver)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=duration,
        default=timedelta(hours=2),
        metavar="DURATION",
        help="how far back to read the log: 30m, 2h, 1d (default 2h; GitHub keeps 3 days)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def cmd_list(args: argparse.Namespace) -> int:
    """Print the deliveries of the window with the job's verdict on each."""
    from workers.deliveries.decide import DELIVERED
    from workers.deliveries.flow import RecoverOptions

    done = _recover(RecoverOptions(since=args.since, dry_run=True, no_probe=True))
    if done is None:
        return 2
    shown = [v for v in done.plan.verdicts if not (args.failed and v.verdict == DELIVERED)]
    if args.json:
        print(json.dumps({**done.summary(), "deliveries": [_row(v) for v in shown]}))
        return 0
    print(_heading(done))
    _table(shown)
    return 0 if done.stopped is None else 1


def cmd_redeliver(args: argparse.Namespace) -> int:
    """Ask GitHub to redeliver what Steward missed in the window."""
    from workers.deliveries.flow import RecoverOptions

    options = RecoverOptions(
        since=args.since, limit=args.limit, dry_run=args.dry_run, no_probe=True
    )
    done = _recover(options)
    if done is None:
        return 2
    chosen = done.plan.redeliver
    if args.json:
        print(json.dumps({**done.summary(), "deliveries": [_row(v) for v in chosen]}))
        return 0 if done.stopped is None else 1
    print(_heading(done))
    _table(chosen)
    if args.dry_run:
        print(f"would ask GitHub to redeliver {len(chosen)} (dry run: nothing asked)")
    else:
        print(f"asked GitHub to redeliver {len(done.asked)} of {len(chosen)}")
    for guid, why in done.refused.items():
        print(f"  refused {guid}: {why}")
    if done.stopped:
        say(f"stopped {done.stopped}; run it again later")
    return 0 if done.stopped is None else 1


def _recover(options: RecoverOptions) -> Recovery | None:
    """One run of the recovery with ``options``; None (after saying why) when it cannot."""
    from workers.commandline import redis_url_for
    from workers.deliveries.flow import CredentialsMissing, app_credentials

    settings = _settings()
    if settings is None:
        return None
    try:
        app_credentials(settings)
    except CredentialsMissing as exc:
        say(f"steward deliveries: {exc}")
        return None
    with redis_url_for(settings) as url:
        return asyncio.run(_run(settings, url, options))


def _settings() -> Settings | None:
    from core.settings import SettingsError, load_settings

    try:
        return load_settings(receiver=False)
    except SettingsError as exc:
        say(f"steward: configuration error: {exc}")
        return None


async def _run(settings: Settings, redis_url: str, options: RecoverOptions) -> Recovery:
    import aiohttp
    import redis.asyncio as aioredis

    from workers.deliveries.flow import DeliveryLog, recover

    client = aioredis.Redis.from_url(redis_url)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            deliveries = DeliveryLog.open(session, settings, client)
            return await recover(client, deliveries, ttl=settings.delivery_ttl, options=options)
    finally:
        await client.aclose()


def _heading(done: Recovery) -> str:
    if done.skipped:
        return f"skipped: {done.skipped}"
    counts = ", ".join(f"{n} {v}" for v, n in sorted(done.plan.counts().items()))
    line = (
        f"since {done.start:%Y-%m-%d %H:%M:%S}Z: {done.rows} attempt(s) of "
        f"{len(done.plan.verdicts)} deliveries ({counts or 'none'})"
    )
    if not done.complete:
        line += "; more in the log than one run reads"
    if done.stopped:
        line += f"; stopped {done.stopped}"
    return line


def _row(verdict: Verdict) -> dict[str, Any]:
    attempt = verdict.attempt
    return {
        "guid": attempt.guid,
        "id": attempt.id,
        "delivered_at": attempt.delivered_at.isoformat(),
        "event": attempt.name,
        "attempts": verdict.attempts,
        "status_code": attempt.status_code,
        "status": attempt.status,
        "verdict": verdict.verdict,
        "why": verdict.why,
    }


def _table(verdicts: tuple[Verdict, ...] | list[Verdict]) -> None:
    if not verdicts:
        return
    print(f"{'delivered (UTC)':20} {'event':28} {'tries':>5} {'answer':>6}  {'verdict':13} guid")
    for v in verdicts:
        a = v.attempt
        print(
            f"{a.delivered_at:%Y-%m-%d %H:%M:%S}  {a.name[:28]:28} {v.attempts:>5} "
            f"{a.status_code or '-':>6}  {v.verdict:13} {a.guid}  ({v.why})"
        )
