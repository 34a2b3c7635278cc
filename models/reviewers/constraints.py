"""Who may be suggested, and how current load spreads the work: pure functions.

``Constraints`` filter candidates (write access, never the author, no bots, opt-outs and an
org-wide ``never`` list). ``Load`` discounts scores by open review requests and a busy flag,
so that among similarly qualified people the less loaded one comes first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Logins ending with this are GitHub Apps (``dependabot[bot]``) and never review.
BOT_SUFFIX = "[bot]"


def _norm(login: str) -> str:
    return login.strip().lstrip("@").lower()


@dataclass(frozen=True)
class Constraints:
    """Eligibility rules; all sets hold logins and are compared case-insensitively.

    ``allowed``: people with write access (``None`` when unknown: anyone may be suggested);
    ``bots``: extra bot accounts besides ``*[bot]``; ``never``: the org-wide never list;
    ``opted_out``: people who asked not to get suggestions.
    """

    allowed: frozenset[str] | None = None
    bots: frozenset[str] = frozenset()
    never: frozenset[str] = frozenset()
    opted_out: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        allowed: Iterable[str] | None = None,
        bots: Iterable[str] = (),
        never: Iterable[str] = (),
        opted_out: Iterable[str] = (),
    ) -> Constraints:
        """Normalise logins (case, ``@``) into a ``Constraints``."""
        return cls(
            allowed=None if allowed is None else frozenset(_norm(a) for a in allowed),
            bots=frozenset(_norm(b) for b in bots),
            never=frozenset(_norm(n) for n in never),
            opted_out=frozenset(_norm(o) for o in opted_out),
        )


def is_bot(login: str, bots: Iterable[str] = ()) -> bool:
    """True for GitHub App accounts (``[bot]`` suffix) and the listed bot logins."""
    name = _norm(login)
    return name.endswith(BOT_SUFFIX) or name in {_norm(b) for b in bots}


def why_ineligible(login: str, author: str, constraints: Constraints) -> str | None:
    """The reason ``login`` cannot review ``author``'s change, or ``None`` when eligible."""
    name = _norm(login)
    if not name:
        return "empty login"
    if author and name == _norm(author):
        return "author"
    if is_bot(name, constraints.bots):
        return "bot"
    if name in constraints.never:
        return "never list"
    if name in constraints.opted_out:
        return "opted out"
    if constraints.allowed is not None and name not in constraints.allowed:
        return "no write access"
    return None


def is_eligible(login: str, author: str, constraints: Constraints) -> bool:
    """True when ``login`` may be suggested for ``author``'s change."""
    return why_ineligible(login, author, constraints) is None


@dataclass(frozen=True)
class Load:
    """Current review load: open requests per login, who is busy, and discount strength.

    ``open_requests`` may be fractional (e.g. recently closed requests decaying to zero).

    A score is divided by ``1 + per_request * open_requests`` and multiplied by
    ``busy_factor`` for busy people, so load reorders close calls without hiding experts.
    """

    open_requests: Mapping[str, float] = field(default_factory=dict)
    busy: frozenset[str] = frozenset()
    per_request: float = 1.0
    busy_factor: float = 0.25

    def factor(self, login: str) -> float:
        """Multiplier applied to ``login``'s score (1.0 when unloaded)."""
        name = _norm(login)
        requests = self.open_requests.get(name, self.open_requests.get(login, 0))
        value = 1.0 / (1.0 + self.per_request * max(requests, 0))
        return value * (self.busy_factor if name in self.busy else 1.0)


def apply_load(scored: Iterable[tuple[str, float]], load: Load | None) -> list[tuple[str, float]]:
    """Scores (non-negative) discounted by load, best first; ties keep their input order."""
    items = list(scored)
    if load is not None:
        items = [(login, score * load.factor(login)) for login, score in items]
    return sorted(items, key=lambda item: -item[1])
