"""Routes that keep the record of installations and their repositories current."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import InstallationChange
from core.routing.dispatch import Dispatch
from core.tasks import INSTALLATION, InstallationArgs

router = Router()


@router.register("installation", action="created")
@router.register("installation", action="unsuspend")
@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
@router.register("installation_repositories", action="added")
@router.register("installation_repositories", action="removed")
async def installation_changed(event: sansio.Event, dispatch: Dispatch) -> None:
    """Queue a sync of the installation record with the repositories the event names."""
    change = InstallationChange.parse(event.data)
    args = InstallationArgs(
        installation_id=change.installation_id,
        action=str(event.data.get("action")),
        account=change.account.login,
        account_type=change.account.type,
        added=tuple(change.added),
        removed=tuple(repo_id for repo_id, _ in change.removed),
    )
    dispatch.enqueue(INSTALLATION, args)
