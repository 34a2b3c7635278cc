"""File path similarity of RevFinder (Thongtanunam et al., SANER 2015), as pure functions.

A path is compared as a sequence of components (``net/http2/transport.go`` is
``("net", "http2", "transport.go")``). Four string comparison techniques give a length in
components, each normalised by the longer path's component count:

* Longest Common Prefix (LCP), * Longest Common Suffix (LCSuff),
* Longest Common Substring (LCSubstr, consecutive components),
* Longest Common Subsequence (LCSubseq, components in order, gaps allowed).

These are the reference definitions; ``PathIndex`` computes the same numbers in bulk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

Components = tuple[str, ...]

#: The four techniques, in the order used by every array in this package.
MEASURES: tuple[str, ...] = ("lcp", "lcsuff", "lcsubstr", "lcsubseq")
#: A path in prose: ``dir/…/name.ext``, or a bare file name with a common source extension.
_PATH = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+\.\w{1,8}|[\w-]+\.(?:go|py|js|ts|rs|java|c|h|cc|cpp|md|rst|toml|ya?ml|json))\b"
)


def extract_paths(text: str) -> list[str]:
    """File paths mentioned in free text (``net/http2/transport.go``, ``README.md``)."""
    return list(dict.fromkeys(m.group(1).strip("./") for m in _PATH.finditer(text)))


@lru_cache(maxsize=1 << 16)
def split_path(path: str) -> Components:
    """Path components, ignoring empty parts (leading, trailing or doubled slashes)."""
    return tuple(part for part in path.split("/") if part)


def parent_dir(path: str) -> str:
    """The directory of a path (``""`` for a top-level file)."""
    return "/".join(split_path(path)[:-1])


def longest_common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    """Number of leading components shared by ``a`` and ``b``."""
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def longest_common_suffix(a: Sequence[str], b: Sequence[str]) -> int:
    """Number of trailing components shared by ``a`` and ``b``."""
    return longest_common_prefix(tuple(reversed(a)), tuple(reversed(b)))


def longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest run of consecutive components present in both."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def longest_common_subsequence(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest sequence of components appearing in both, in order."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            current[j] = previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1])
        previous = current
    return previous[-1]


_TECHNIQUES: dict[str, Callable[[Sequence[str], Sequence[str]], int]] = {
    "lcp": longest_common_prefix,
    "lcsuff": longest_common_suffix,
    "lcsubstr": longest_common_substring,
    "lcsubseq": longest_common_subsequence,
}


def path_similarity(measure: str, a: str, b: str) -> float:
    """RevFinder similarity of two paths: the technique's length over the longer path's length."""
    ca, cb = split_path(a), split_path(b)
    longest = max(len(ca), len(cb))
    if longest == 0:
        return 0.0
    return _TECHNIQUES[measure](ca, cb) / longest


def change_similarity(measure: str, files_a: Sequence[str], files_b: Sequence[str]) -> float:
    """Average path similarity over all file pairs of two changes (0 when either has no file)."""
    if not files_a or not files_b:
        return 0.0
    total = sum(path_similarity(measure, a, b) for a in files_a for b in files_b)
    return total / (len(files_a) * len(files_b))
