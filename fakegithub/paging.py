"""REST and GraphQL pagination helpers. Pure functions."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import TypeVar
from urllib.parse import urlencode

T = TypeVar("T")

#: GitHub's default and maximum ``per_page``.
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def page_args(query: Mapping[str, str]) -> tuple[int, int]:
    """``(page, per_page)`` from a query, clamped like GitHub (per_page ≤ 100)."""
    page = positive(query.get("page"), 1)
    per_page = min(positive(query.get("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE)
    return page, per_page


def positive(raw: str | None, default: int) -> int:
    """A positive integer query value, or ``default`` (missing, malformed, not positive)."""
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 else default


def paginate(items: Sequence[T], url: str, query: Mapping[str, str]) -> tuple[list[T], str | None]:
    """One page of ``items`` and the ``Link`` header GitHub would send with it.

    ``url`` is the absolute URL without query; other query parameters are kept in
    the links, as GitHub does.
    """
    page, per_page = page_args(query)
    last = max(1, math.ceil(len(items) / per_page))
    chunk = list(items[(page - 1) * per_page : page * per_page])
    relations: list[tuple[str, int]] = []
    if page > 1:
        relations += [("prev", min(page - 1, last)), ("first", 1)]
    if page < last:
        relations += [("next", page + 1), ("last", last)]
    if not relations:
        return chunk, None
    links = [f'<{_page_url(url, query, number)}>; rel="{rel}"' for rel, number in relations]
    return chunk, ", ".join(links)


def _page_url(url: str, query: Mapping[str, str], page: int) -> str:
    params = {k: v for k, v in query.items() if k != "page"}
    params["page"] = str(page)
    return f"{url}?{urlencode(params)}"


def encode_cursor(index: int) -> str:
    """A GraphQL cursor for the item at ``index`` (opaque, like GitHub's)."""
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The index after which a page starts; -1 when there is no cursor."""
    if not cursor:
        return -1
    try:
        return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise ValueError(f"`{cursor}` does not appear to be a valid cursor.") from exc


def slice_connection(
    items: Sequence[T],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> tuple[list[tuple[int, T]], bool, bool]:
    """``(index, item)`` pairs of one page, ``has_next`` and ``has_previous``, with
    Relay semantics (``first``/``after`` forwards, ``last``/``before`` backwards).
    """
    start = decode_cursor(after) + 1
    end = decode_cursor(before) if before else len(items)
    end = min(end, len(items))
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    window = [(i, items[i]) for i in range(start, end)]
    return window, end < len(items), start > 0
