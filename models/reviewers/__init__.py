"""Reviewer suggestions: expertise signals, a learned ranker, RevFinder and fairness rules.

A pure library (no GitHub, no ``app``/``workers`` imports, nothing runs at import time).
The bot uses ``ReviewerIndex`` (``add`` merged changes, ``suggest`` for a new one), the
constraint and load types, and the issue helpers; ``steward eval-reviewers`` replays a
history to compare the ranker with the RevFinder baseline.
"""

from models.reviewers.constraints import Constraints, Load, apply_load, is_eligible
from models.reviewers.data import Change, load_changes
from models.reviewers.index import ReviewerIndex, Suggestion
from models.reviewers.issues import (
    OpenIssue,
    looks_like_good_first_issue,
    match_good_first_issues,
    rank_people_for_issue,
)
from models.reviewers.revfinder import RevFinder, borda_count

__all__ = [
    "Change",
    "Constraints",
    "Load",
    "OpenIssue",
    "RevFinder",
    "ReviewerIndex",
    "Suggestion",
    "apply_load",
    "borda_count",
    "is_eligible",
    "load_changes",
    "looks_like_good_first_issue",
    "match_good_first_issues",
    "rank_people_for_issue",
]
