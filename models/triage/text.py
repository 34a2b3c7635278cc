"""Issue text as a maintainer sees it when the issue is opened.

Issue templates leave HTML comments (instructions nobody reads) and people paste
logs and stack traces. We drop the comments and keep only the start and end of long
code blocks and of very long bodies, so the encoder's token budget goes to prose.

Issue forms add markup a reader's eye skips: sections left at GitHub's ``_No response_``
placeholder, ``<details>`` wrappers, image links, long URLs and commit hashes. Each of
these costs tokens (a 256-token budget holds less than half of a typical TensorFlow
issue), so ``clean_markup`` shortens them; the answers people gave stay, as
``Field: answer`` when they are one short line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_FENCE = re.compile(r"(^|\n)(```|~~~)[^\n]*\n(.*?)(\n\2[^\n]*|$)", re.DOTALL)
_BLANK_RUNS = re.compile(r"\n[ \t]*(\n[ \t]*){2,}")
_SPACE_RUNS = re.compile(r"[ \t]{2,}")
# An issue-form section nobody filled in: a heading followed only by the placeholder.
_EMPTY_FIELD = re.compile(r"(^|\n)#{1,6}[^\n]*\n+[ \t]*_No response_[ \t]*(?=\n|$)")
_DETAILS = re.compile(r"</?(?:details|summary)\b[^>]*>|Click to expand!?", re.IGNORECASE)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s)\]>\"']+")
_SCHEME = re.compile(r"^https?://(?:www\.)?")
_IMAGE_URL = re.compile(r"/assets/|user-images\.|\.(?:png|jpe?g|gif|webp)$", re.IGNORECASE)
_HASH = re.compile(r"\b[0-9a-f]{12,}\b")
_INLINE_TAGS = re.compile(r"</?(?:b|i|em|strong|p|br|sup|sub|code|kbd)\s*/?>", re.IGNORECASE)
# "### Field\n\nshort answer" (issue forms) becomes "Field: short answer".
_SHORT_FIELD = re.compile(
    r"(^|\n)#{1,6}[ \t]+([^\n]{1,60}?)[ \t]*\n+([^\n#`~][^\n]{0,60})(?=\n[ \t]*\n|\n#|$)"
)


@dataclass(frozen=True)
class TextOptions:
    """How raw title and body become model input (saved with each model)."""

    strip_html_comments: bool = True
    max_code_lines: int = 8
    max_chars: int = 4000
    clean_markup: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextOptions:
        """Inverse of ``to_dict``; unknown keys are ignored.

        A key missing from a saved model means it was trained before that option
        existed, so it gets the behaviour of that time (``LEGACY``), not today's default.
        """
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**LEGACY, **known})


#: Values of options added after the first release, as models saved before them ran.
LEGACY: dict[str, Any] = {"clean_markup": False}


def shorten_url(url: str) -> str:
    """``[image]`` for screenshots, else host and the first two path parts (60 chars at most)."""
    if _IMAGE_URL.search(url):
        return "[image]"
    rest = _SCHEME.sub("", url)
    return "/".join(rest.split("/")[:3])[:60]


def clean_markup(body: str) -> str:
    """Drop what issue forms and pasted links add without meaning; keep people's answers."""
    body = _EMPTY_FIELD.sub("", body)
    body = _DETAILS.sub("", body)
    body = _IMAGE.sub("[image]", body)
    body = _URL.sub(lambda m: shorten_url(m.group(0)), body)
    body = _HASH.sub("<hash>", body)
    body = _INLINE_TAGS.sub("", body)
    return outside_code(body, join_short_fields)


def join_short_fields(text: str) -> str:
    """``### Field`` followed by a one-line answer becomes ``Field: answer``."""
    return _SHORT_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}: {m.group(3)}", text)


def outside_code(body: str, rewrite: Callable[[str], str]) -> str:
    """Apply ``rewrite`` to the prose of ``body`` only: fenced code blocks stay as they are.

    (A ``# comment`` line in pasted code is not a heading.)
    """
    parts, last = [], 0
    for fence in _FENCE.finditer(body):
        parts += [rewrite(body[last : fence.start()]), fence.group(0)]
        last = fence.end()
    return "".join([*parts, rewrite(body[last:])])


def collapse_code(body: str, max_lines: int) -> str:
    """Keep the first and last lines of fenced code blocks longer than ``max_lines``."""
    if max_lines <= 0:
        return body

    def shorten(match: re.Match[str]) -> str:
        lines = match.group(3).split("\n")
        if len(lines) <= max_lines:
            return match.group(0)
        head = max(1, max_lines // 2)
        tail = max_lines - head
        kept = [*lines[:head], f"[... {len(lines) - max_lines} lines ...]", *lines[-tail:]]
        return f"{match.group(1)}{match.group(2)}\n" + "\n".join(kept) + match.group(4)

    return _FENCE.sub(shorten, body)


def clip_chars(text: str, max_chars: int) -> str:
    """Keep the first three quarters and the last quarter of a text over ``max_chars``."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = (max_chars * 3) // 4
    return text[:head] + "\n[...]\n" + text[len(text) - (max_chars - head) :]


def prepare_text(title: str, body: str, options: TextOptions | None = None) -> str:
    """Title and cleaned body joined into the encoder's input."""
    opts = options or TextOptions()
    body = (body or "").replace("\r\n", "\n")
    if opts.strip_html_comments:
        body = _HTML_COMMENT.sub("", body)
    if opts.clean_markup:
        body = clean_markup(body)
    body = collapse_code(body, opts.max_code_lines)
    body = _SPACE_RUNS.sub(" ", _BLANK_RUNS.sub("\n\n", body)).strip()
    text = f"{(title or '').strip()}\n\n{body}" if body else (title or "").strip()
    return clip_chars(text, opts.max_chars)
