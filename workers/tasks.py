"""Celery tasks: one per contract in :mod:`core.tasks`, each a thin wrapper that parses
its typed arguments, runs the feature's async flow and turns GitHub trouble into retries.

Tasks carry ids and a few scalar fields, never whole payloads. They are ``acks_late``
(set on the app) so a killed worker's task is run again; every flow's effects are
idempotent, so a second run changes nothing that the first applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from celery import Task, shared_task
from celery.exceptions import Retry
from gidgethub import BadRequest, GitHubBroken, QueryError

from core import tasks as contracts
from core.logs import log_context
from core.metrics import record_task
from core.queue import enqueue, run_bounded
from core.tasks import A, TaskArgs, TaskArgsError
from workers.commands.flow import run_commands
from workers.deliveries.flow import run_recover_deliveries
from workers.digest.flow import run_digest, run_digest_repo
from workers.feedback.flow import run_feedback
from workers.followup.flow import run_first_response, run_followup, run_followup_repo
from workers.github import GitHubUnavailable, RateLimited, backoff_delay
from workers.installations.flow import run_forget, run_installation_sync
from workers.matching.flow import run_embed, run_index, run_recommend
from workers.retrain.flow import queue_retrains, run_retrain
from workers.reviewers.flow import run_issue_people, run_reviewers
from workers.reviewers.history import run_backfill, run_record_pull
from workers.runtime import LockLost, TaskContext, get_runtime
from workers.triage.bootstrap import run_bootstrap
from workers.triage.flow import run_triage
from workers.welcome.flow import run_welcome

log = logging.getLogger(__name__)

Flow = Callable[[TaskContext, A], Awaitable[dict[str, Any]]]
TRANSIENT = (
    GitHubUnavailable,
    GitHubBroken,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    LockLost,
)
MAX_RETRIES = 12
#: GitHub answers that no retry changes: the item, repository or installation is gone or
#: was never there, or GitHub refuses the change. The task records why and stops.
PERMANENT = frozenset({404, 410, 422, 451})


def cannot_act(exc: Exception) -> dict[str, Any] | None:
    """The task's result when ``exc`` means it cannot act at all (None: it may retry or
    it is a real failure): arguments that name no installation, or GitHub's 4xx answer
    that the item, repository or installation is not there.
    """
    if isinstance(exc, TaskArgsError):
        return {"skipped": str(exc)}
    if isinstance(exc, BadRequest) and int(exc.status_code) in PERMANENT:
        status = int(exc.status_code)
        return {"skipped": f"GitHub answered {status}: {str(exc)[:200] or 'no message'}"}
    if isinstance(exc, QueryError) and _graphql_types(exc) == {"NOT_FOUND"}:
        return {"skipped": f"GitHub's GraphQL API: {str(exc)[:200]}"}
    return None


def _graphql_types(exc: QueryError) -> set[str]:
    errors = exc.response.get("errors") if isinstance(exc.response, dict) else None
    return {str(e.get("type")) for e in errors or [] if isinstance(e, dict)}


async def _run_flow(flow: Flow[A], args: A, *, name: str) -> dict[str, Any]:
    async with get_runtime().task_context() as ctx:
        return await run_bounded(flow(ctx, args), name=name)


def _log_fields(task: Task, args: TaskArgs) -> dict[str, Any]:
    owner, repo = getattr(args, "owner", None), getattr(args, "repo", None)
    return {
        "delivery": args.delivery_id,
        "installation": getattr(args, "installation_id", None),
        "repo": f"{owner}/{repo}" if owner else None,
        "number": getattr(args, "number", None),
        "task": task.name,
    }


def run_task(
    task: Task, contract: contracts.Task[A], kwargs: dict[str, Any], *, flow: Flow[A]
) -> dict[str, Any]:
    """Run ``flow`` for one task, retrying later on rate limits and GitHub outages.

    A message that does not fit its contract, or an item GitHub says is not there, is
    logged once with the reason and ends the task: retrying cannot help, and a task
    exception would hide real failures. Each run is counted by how it ended
    (``steward_tasks_total``) and timed (``steward_task_seconds``).
    """
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = _run_task(task, contract, kwargs, flow=flow)
        outcome = task_outcome(result)
        return result
    except Retry:
        outcome = "retried"
        raise
    finally:
        record_task(task.name, outcome, time.perf_counter() - started)


def task_outcome(result: dict[str, Any]) -> str:
    """How a task run that returned ``result`` ended: rejected, skipped or succeeded."""
    if "rejected" in result:
        return "rejected"
    if isinstance(result.get("skipped"), str):
        return "skipped"
    return "succeeded"


def _run_task(
    task: Task, contract: contracts.Task[A], kwargs: dict[str, Any], *, flow: Flow[A]
) -> dict[str, Any]:
    try:
        args = contract.parse(kwargs)
    except TaskArgsError as exc:
        log.error("refused %s: %s", task.name, exc)
        return {"rejected": str(exc)}
    with log_context(**_log_fields(task, args)):
        try:
            return asyncio.run(_run_flow(flow, args, name=task.name))
        except (TaskArgsError, BadRequest, QueryError) as exc:
            result = cannot_act(exc)
            if result is None:
                raise
            log.warning("cannot act: %s", result["skipped"])
            return result
        except RateLimited as exc:
            log.warning("rate limited; task retries in %.0fs", exc.wait_seconds)
            raise task.retry(countdown=exc.wait_seconds, max_retries=MAX_RETRIES) from exc
        except TRANSIENT as exc:
            delay = 5 + backoff_delay(task.request.retries, base=5, cap=600)
            log.warning("GitHub unavailable (%r); task retries in %.0fs", exc, delay)
            raise task.retry(countdown=delay, max_retries=MAX_RETRIES) from exc


@shared_task(name=contracts.WELCOME.name, bind=True)  # type: ignore[untyped-decorator]
def welcome(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Welcome a first-time contributor (see :func:`workers.welcome.flow.run_welcome`)."""
    return run_task(self, contracts.WELCOME, kwargs, flow=run_welcome)


@shared_task(name=contracts.INSTALLATION.name, bind=True)  # type: ignore[untyped-decorator]
def installation(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Record an installation change (see :mod:`workers.installations.flow`)."""
    return run_task(self, contracts.INSTALLATION, kwargs, flow=run_installation_sync)


@shared_task(name=contracts.FEEDBACK.name, bind=True)  # type: ignore[untyped-decorator]
def feedback(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Record a human label change that corrects the bot (see :mod:`workers.feedback.flow`)."""
    return run_task(self, contracts.FEEDBACK, kwargs, flow=run_feedback)


@shared_task(name=contracts.COMMAND.name, bind=True)  # type: ignore[untyped-decorator]
def command(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Run the commands in a comment (see :mod:`workers.commands.flow`)."""
    return run_task(self, contracts.COMMAND, kwargs, flow=run_commands)


@shared_task(name=contracts.TRIAGE.name, bind=True)  # type: ignore[untyped-decorator]
def triage(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Label a new item (see :mod:`workers.triage.flow`); runs on the inference queue."""
    return run_task(self, contracts.TRIAGE, kwargs, flow=run_triage)


@shared_task(name=contracts.REVIEWERS.name, bind=True)  # type: ignore[untyped-decorator]
def reviewers(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Request or suggest reviewers (see :mod:`workers.reviewers.flow`)."""
    return run_task(self, contracts.REVIEWERS, kwargs, flow=run_reviewers)


@shared_task(name=contracts.ISSUE_PEOPLE.name, bind=True)  # type: ignore[untyped-decorator]
def issue_people(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Rank people who could help with a new issue."""
    return run_task(self, contracts.ISSUE_PEOPLE, kwargs, flow=run_issue_people)


@shared_task(name=contracts.RECOMMEND.name, bind=True)  # type: ignore[untyped-decorator]
def recommend(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Suggest open issues to a returning contributor after a merge (see
    :mod:`workers.matching.flow`); runs on the inference queue.
    """
    return run_task(self, contracts.RECOMMEND, kwargs, flow=run_recommend)


@shared_task(name=contracts.EMBED.name, bind=True)  # type: ignore[untyped-decorator]
def embed(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Embed one new or edited item into the repository's semantic index."""
    return run_task(self, contracts.EMBED, kwargs, flow=run_embed)


@shared_task(name=contracts.INDEX.name, bind=True)  # type: ignore[untyped-decorator]
def index(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Embed a repository's history and open issues (after a backfill or a new encoder)."""
    return run_task(self, contracts.INDEX, kwargs, flow=run_index)


@shared_task(name=contracts.RECORD_PULL.name, bind=True)  # type: ignore[untyped-decorator]
def record_pull(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Add a merged pull request to the review history."""
    return run_task(self, contracts.RECORD_PULL, kwargs, flow=run_record_pull)


@shared_task(name=contracts.BACKFILL.name, bind=True)  # type: ignore[untyped-decorator]
def backfill(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Collect a repository's review history (resumable; see :mod:`workers.reviewers.history`)."""
    return run_task(self, contracts.BACKFILL, kwargs, flow=run_backfill)


@shared_task(name=contracts.BOOTSTRAP.name, bind=True)  # type: ignore[untyped-decorator]
def bootstrap(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Learn and gate a newly installed repository's labels (see
    :mod:`workers.triage.bootstrap`); runs on the inference queue.
    """
    return run_task(self, contracts.BOOTSTRAP, kwargs, flow=_bootstrap)


async def _bootstrap(ctx: TaskContext, args: contracts.BootstrapArgs) -> dict[str, Any]:
    return await run_bootstrap(ctx, args)


async def _retrain(ctx: TaskContext, args: contracts.RetrainArgs) -> dict[str, Any]:
    return await run_retrain(ctx, args)


@shared_task(name=contracts.RETRAIN.name, bind=True)  # type: ignore[untyped-decorator]
def retrain(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Fine-tune a repository's model and promote it if better (see
    :mod:`workers.retrain.flow`); runs on the inference queue.
    """
    return run_task(self, contracts.RETRAIN, kwargs, flow=_retrain)


@shared_task(name=contracts.RETRAIN_ALL.name)  # type: ignore[untyped-decorator]
def retrain_all() -> dict[str, Any]:
    """Queue ``steward.retrain`` for every active repository (Celery beat runs this)."""

    def send(args: contracts.RetrainArgs) -> None:
        enqueue(retrain.app, contracts.RETRAIN, args)

    queued = queue_retrains(get_runtime().store, send)
    log.info("queued %d retrain(s)", queued)
    return {"queued": queued}


@shared_task(name=contracts.RECOVER_DELIVERIES.name, bind=True)  # type: ignore[untyped-decorator]
def recover_deliveries(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Ask GitHub to redeliver webhooks Steward missed (Celery beat runs this; see
    :mod:`workers.deliveries.flow`).
    """
    return run_task(self, contracts.RECOVER_DELIVERIES, kwargs, flow=run_recover_deliveries)


@shared_task(name=contracts.FIRST_RESPONSE.name, bind=True)  # type: ignore[untyped-decorator]
def first_response(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Record an item's opening or a maintainer's first answer (no GitHub call)."""
    return run_task(self, contracts.FIRST_RESPONSE, kwargs, flow=run_first_response)


@shared_task(name=contracts.FOLLOWUP.name, bind=True)  # type: ignore[untyped-decorator]
def followup(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Queue ``steward.followup_repo`` per repository with an item due (Celery beat,
    hourly)."""
    return run_task(self, contracts.FOLLOWUP, kwargs, flow=run_followup)


@shared_task(name=contracts.FOLLOWUP_REPO.name, bind=True)  # type: ignore[untyped-decorator]
def followup_repo(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Route one repository's items no maintainer answered in time, once each (see
    :mod:`workers.followup.flow`)."""
    return run_task(self, contracts.FOLLOWUP_REPO, kwargs, flow=run_followup_repo)


@shared_task(name=contracts.DIGEST.name, bind=True)  # type: ignore[untyped-decorator]
def digest(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Queue ``steward.digest_repo`` per active repository (Celery beat, every 6 hours)."""
    return run_task(self, contracts.DIGEST, kwargs, flow=run_digest)


@shared_task(name=contracts.DIGEST_REPO.name, bind=True)  # type: ignore[untyped-decorator]
def digest_repo(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Write or edit one repository's weekly digest (see :mod:`workers.digest.flow`)."""
    return run_task(self, contracts.DIGEST_REPO, kwargs, flow=run_digest_repo)


@shared_task(name=contracts.FORGET.name, bind=True)  # type: ignore[untyped-decorator]
def forget(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Delete the data of what was uninstalled ``STEWARD_RETENTION_DAYS`` ago (Celery
    beat, daily; see :func:`workers.installations.flow.run_forget`)."""
    return run_task(self, contracts.FORGET, kwargs, flow=run_forget)


__all__ = [
    "TaskContext",
    "backfill",
    "bootstrap",
    "command",
    "digest",
    "digest_repo",
    "embed",
    "feedback",
    "first_response",
    "followup",
    "followup_repo",
    "forget",
    "index",
    "installation",
    "issue_people",
    "recommend",
    "record_pull",
    "recover_deliveries",
    "retrain",
    "retrain_all",
    "reviewers",
    "triage",
    "welcome",
]


@shared_task(name=contracts.ROUTE.name, bind=True)  # type: ignore[untyped-decorator]
def route(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Parse, route and fan out one delivery the receiver queued (see
    :mod:`workers.routing`); its feature tasks are queued once, whatever runs twice.
    """
    from workers.routing import route_task

    return route_task(self, kwargs)


# Possible duplicates (issue 27) and matching per repository (issue 28).


@shared_task(name=contracts.DUPLICATES.name, bind=True)  # type: ignore[untyped-decorator]
def duplicates(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Possible duplicates of a new issue (see :mod:`workers.duplicates.flow`)."""
    from workers.duplicates.flow import run_duplicates

    return run_task(self, contracts.DUPLICATES, kwargs, flow=run_duplicates)


@shared_task(name=contracts.CALIBRATE_DUPLICATES.name, bind=True)  # type: ignore[untyped-decorator]
def calibrate_duplicates(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Gate a repository's duplicate suggestions on its own history."""
    from workers.duplicates.flow import run_calibrate_duplicates

    return run_task(self, contracts.CALIBRATE_DUPLICATES, kwargs, flow=run_calibrate_duplicates)


@shared_task(name=contracts.REFRESH_DUPLICATES.name, bind=True)  # type: ignore[untyped-decorator]
def refresh_duplicates(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Read new duplicates and corrections; calibrate again when enough arrived."""
    from workers.duplicates.flow import run_refresh_duplicates

    return run_task(self, contracts.REFRESH_DUPLICATES, kwargs, flow=run_refresh_duplicates)


@shared_task(name=contracts.REFRESH_DUPLICATES_ALL.name, bind=True)  # type: ignore[untyped-decorator]
def refresh_duplicates_all(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Queue a duplicates refresh per active repository (Celery beat, daily)."""
    from workers.duplicates.flow import run_refresh_duplicates_all

    return run_task(self, contracts.REFRESH_DUPLICATES_ALL, kwargs, flow=run_refresh_duplicates_all)


@shared_task(name=contracts.CHOOSE_MATCHING.name, bind=True)  # type: ignore[untyped-decorator]
def choose_matching(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Choose a repository's reviewer and people settings by replay (see
    :mod:`workers.reviewers.matching`)."""
    from workers.reviewers.matching import run_choose_matching

    return run_task(self, contracts.CHOOSE_MATCHING, kwargs, flow=run_choose_matching)
