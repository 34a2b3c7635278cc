"""The words of an issue, as the lexical channels count them.

Bug reports name code: ``NameNode``, ``dfs.replication``, ``FSDownload.java``. A reader
matching two reports matches those names whole and also by their parts ("name node"),
so an identifier yields itself and, when it has several, its camelCase, snake_case and
dotted parts. English stop words and one-character tokens carry no meaning for
retrieval and are dropped. Very long bodies (pasted logs) keep their head and tail, so
one report's cost stays bounded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from models.triage.text import clip_chars

#: Characters of a body that are counted: the head and tail of anything longer.
MAX_BODY_CHARS = 20_000
#: Tokens shorter than this are dropped ("a", "x", single digits).
MIN_LENGTH = 2
#: An identifier: letters, digits, underscores and inner dots (``dfs.replication``).
_IDENTIFIER = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")
#: The parts of an identifier: capitalised words, acronyms, lower-case runs, numbers.
_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")

#: Function words that match everywhere. Kept short on purpose: scikit-learn's list drops
#: words that matter in bug reports ("system", "empty", "show", "name", "back", "full"),
#: and BM25's IDF already discounts what is common. Words like "down", "up" or "off" stay:
#: "server down" is a report.
_STOP_WORD_TEXT = """
    a about after again against all also am an and any are as at be because been before
    being between both but by can could did do does doing during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me
    more most my no nor not now of on once only or other our ours own same she should so
    some such than that the their theirs them then there these they this those through to
    too until very was we were what when where which while who whom why will with would
    you your yours
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORD_TEXT.split())


def identifier_words(identifier: str) -> list[str]:
    """An identifier lower-cased, then its parts when it has more than one.

    ``NameNode`` → ``namenode, name, node``; ``dfs.replication`` → ``dfs.replication,
    dfs, replication``; ``crash`` → ``crash``.
    """
    whole = identifier.lower()
    parts = [part.lower() for part in _PART.findall(identifier)]
    return [whole, *parts] if len(parts) > 1 else [whole]


def words(text: str) -> list[str]:
    """The countable words of ``text``, in order, repeats kept (term frequencies)."""
    out: list[str] = []
    for identifier in _IDENTIFIER.findall(text or ""):
        out += content_words(identifier)
    return out


@functools.lru_cache(maxsize=1 << 16)
def content_words(identifier: str) -> tuple[str, ...]:
    """``identifier_words`` without stop words and short tokens (cached: words repeat)."""
    kept = identifier_words(identifier)
    return tuple(w for w in kept if len(w) >= MIN_LENGTH and w not in STOP_WORDS)


def body_words(body: str) -> list[str]:
    """``words`` of a body, of its first and last ``MAX_BODY_CHARS`` characters at most."""
    return words(clip_chars(body or "", MAX_BODY_CHARS))


def weighted_counts(
    title: Iterable[str], body: Iterable[str], title_weight: float
) -> dict[str, float]:
    """Term counts of one issue, each title occurrence worth ``title_weight`` (as in BM25F)."""
    counts: dict[str, float] = {}
    for word in title:
        counts[word] = counts.get(word, 0.0) + title_weight
    for word in body:
        counts[word] = counts.get(word, 0.0) + 1.0
    return counts
