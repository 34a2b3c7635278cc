"""Who may be suggested, and how current load spreads the work: pure functions.

``Constraints`` filter candidates (write access, never the author, no bots, opt-outs and an
org-wide ``never`` list). ``Load`` discounts scores by open review requests and a busy flag,
so that among similarly qualified people the less loaded one comes first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from core.accounts import is_bot as is_bot_account

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
    """True for GitHub App accounts and the listed bot logins (the one rule,
    :func:`core.accounts.is_bot`, on a login without its account type).
    """
    return is_bot_account(_norm(login), also=(_norm(b) for b in bots))


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

    ``open_requests`` may be fractional (e.g. recently closed requests decaying to zero);
    ``bot_load`` and the replay pass *relative* workload (1.0 = the average loaded person).

    A score is divided by ``1 + per_request * max(open_requests - free_load, 0)``: workload
    up to ``free_load`` costs nothing, so only people carrying more than that are pushed
    down, and busy people's scores are then multiplied by ``busy_factor``. Load reorders
    close calls; a clear expert stays first unless far more loaded than the others.
    """

    open_requests: Mapping[str, float] = field(default_factory=dict)
    busy: frozenset[str] = frozenset()
    per_request: float = 1.0
    busy_factor: float = 0.25
    free_load: float = 0.0

    def factor(self, login: str) -> float:
        """Multiplier applied to ``login``'s score (1.0 when unloaded)."""
        name = _norm(login)
        requests = self.open_requests.get(name, self.open_requests.get(login, 0))
        value = 1.0 / (1.0 + self.per_request * max(requests - self.free_load, 0))
        return value * (self.busy_factor if name in self.busy else 1.0)

    def with_requests(self, open_requests: Mapping[str, float], busy: Iterable[str] = ()) -> Load:
        """The same policy applied to other requests and busy people."""
        return replace(
            self, open_requests=dict(open_requests), busy=frozenset(_norm(b) for b in busy)
        )


#: The one load policy of the bot and the replay, on *relative* workload (``relative_load``):
#: up to the average workload is free, each average workload above it divides the score by
#: a further 1.2. On golang-net's replay this keeps the busiest reviewer's share of requests
#: below the real history's at about half the accuracy cost of the previous release's
#: ``Load(per_request=2.0)``, which discounted everyone's workload from the first request.
LOAD_POLICY = Load(per_request=1.2, free_load=1.0)


#: Half-life of a review request after its change closed: recent work still counts.
WORKLOAD_HALF_LIFE_DAYS = 60.0


@dataclass(frozen=True)
class Request:
    """One review request: who, when it was made, when its change closed (None: open)."""

    login: str
    created: float
    closed: float | None = None


def workload(
    requests: Iterable[Request], moment: float, half_life_days: float = WORKLOAD_HALF_LIFE_DAYS
) -> dict[str, float]:
    """Workload per login at ``moment``: a request counts 1 while open, then decays.

    The bot passes its repository's open requests and the reviews of its history; the
    replay passes the requests it simulated. Requests made after ``moment`` count 0.
    """
    rate = math.log(2.0) / (half_life_days * 86_400.0)
    counts: dict[str, float] = {}
    for request in requests:
        if request.created > moment:
            continue
        still_open = request.closed is None or moment < request.closed
        age = 0.0 if still_open else moment - float(request.closed or moment)
        counts[request.login] = counts.get(request.login, 0.0) + math.exp(-rate * age)
    return counts


def relative_load(open_requests: Mapping[str, float]) -> dict[str, float]:
    """Workload per login divided by the mean over people with any load (1.0 = average).

    Dividing by the mean makes one policy fit slow and busy repositories alike. Logins are
    normalised (case, ``@``); an empty or all-zero input stays all zero.
    """
    counts: dict[str, float] = {}
    for login, value in open_requests.items():
        name = _norm(login)
        counts[name] = counts.get(name, 0.0) + max(float(value), 0.0)
    loaded = [value for value in counts.values() if value > 0]
    mean = sum(loaded) / len(loaded) if loaded else 1.0
    return {login: value / mean for login, value in counts.items()}


def bot_load(
    open_requests: Mapping[str, float], busy: Iterable[str] = (), policy: Load = LOAD_POLICY
) -> Load:
    """The bot's ``Load``: raw open review requests per login, made relative, under ``policy``.

    The replay (``steward eval-reviewers``) measures exactly this rule.
    """
    return policy.with_requests(relative_load(open_requests), busy)


def apply_load(scored: Iterable[tuple[str, float]], load: Load | None) -> list[tuple[str, float]]:
    """Scores (non-negative) discounted by load, best first; ties keep their input order."""
    items = list(scored)
    if load is not None:
        items = [(login, score * load.factor(login)) for login, score in items]
    return sorted(items, key=lambda item: -item[1])
