"""Who is a person and who is a bot: the one rule every part of Steward asks.

GitHub marks an App's account with the type ``Bot`` (REST ``type``, GraphQL
``__typename``) and a login ending in ``[bot]`` (``dependabot[bot]``,
``steward[bot]``). Either is enough: a payload may carry only one of them (a GraphQL
author has no ``type``, a timeline actor may have no ``__typename``, a login alone has
neither), and the comparison ignores case, as GitHub's logins do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def is_bot(login: str, account_type: str = "", *, also: Iterable[str] = ()) -> bool:
    """Whether the account is a bot: type ``Bot``, a ``[bot]`` login, or one of ``also``
    (accounts a maintainer named as bots, e.g. a CI user without the suffix).
    """
    folded = login.casefold()
    if account_type == "Bot" or folded.endswith("[bot]"):
        return True
    return folded in {name.casefold() for name in also}


def is_bot_user(user: Mapping[str, Any] | None, *, also: Iterable[str] = ()) -> bool:
    """:func:`is_bot` of a user object as GitHub sends it (REST or GraphQL); a missing
    user (a deleted account, GitHub's "ghost") is not a bot.
    """
    if not isinstance(user, Mapping):
        return False
    kind = str(user.get("type") or user.get("__typename") or "")
    return is_bot(str(user.get("login") or ""), kind, also=also)
