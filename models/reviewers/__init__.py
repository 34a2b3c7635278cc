"""Reviewer suggestions: expertise signals, a learned ranker, RevFinder and fairness rules.

A pure library (no GitHub, no ``app``/``workers`` imports, nothing runs at import time).
The bot uses ``ReviewerIndex`` (``add`` merged changes, ``suggest`` for a new one; with
``target="authors"`` for people to resolve an issue), the constraint types and the one load
rule (``bot_load``), the issue helpers, and ``work`` (open items for a person);
``choose_settings`` picks a repository's own load discount, encoder use and ranker
regularisation by replaying its history (``MatchingChoice``; ``needs_rechoice`` and
``effective_load`` are the rules around it); ``steward eval-reviewers --task
reviewers|people|work`` replays a history against baselines.
"""

from models.reviewers.calibrate import (
    EffectiveLoad,
    MatchingChoice,
    TaskChoice,
    choose_settings,
    effective_load,
    needs_rechoice,
)
from models.reviewers.constraints import (
    LOAD_POLICY,
    Constraints,
    Load,
    apply_load,
    bot_load,
    is_eligible,
    relative_load,
)
from models.reviewers.data import Change, load_changes
from models.reviewers.index import ReviewerIndex, Suggestion, issue_view
from models.reviewers.issues import (
    OpenIssue,
    looks_like_good_first_issue,
    match_good_first_issues,
    rank_people_for_issue,
)
from models.reviewers.revfinder import RevFinder, borda_count
from models.reviewers.text import EmbeddingTextIndex
from models.reviewers.work import (
    Profile,
    WorkItem,
    WorkMatch,
    calibrate_min_similarity,
    calibrate_min_similarity_text,
    contributor_profile,
    rank_work,
)

__all__ = [
    "LOAD_POLICY",
    "Change",
    "Constraints",
    "EffectiveLoad",
    "EmbeddingTextIndex",
    "Load",
    "MatchingChoice",
    "OpenIssue",
    "Profile",
    "RevFinder",
    "ReviewerIndex",
    "Suggestion",
    "TaskChoice",
    "WorkItem",
    "WorkMatch",
    "apply_load",
    "borda_count",
    "bot_load",
    "calibrate_min_similarity",
    "calibrate_min_similarity_text",
    "choose_settings",
    "contributor_profile",
    "effective_load",
    "is_eligible",
    "issue_view",
    "load_changes",
    "looks_like_good_first_issue",
    "match_good_first_issues",
    "needs_rechoice",
    "rank_people_for_issue",
    "rank_work",
    "relative_load",
]
