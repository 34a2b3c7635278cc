"""Issue text as a maintainer sees it when the issue is opened.

Issue templates leave HTML comments (instructions nobody reads) and people paste
logs and stack traces. We drop the comments and keep only the start and end of long
code blocks and of very long bodies, so the encoder's token budget goes to prose.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_FENCE = re.compile(r"(^|\n)(```|~~~)[^\n]*\n(.*?)(\n\2[^\n]*|$)", re.DOTALL)
_BLANK_RUNS = re.compile(r"\n[ \t]*(\n[ \t]*){2,}")
_SPACE_RUNS = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True)
class TextOptions:
    """How raw title and body become model input (saved with each model)."""

    strip_html_comments: bool = True
    max_code_lines: int = 8
    max_chars: int = 4000

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextOptions:
        """Inverse of ``to_dict``; unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


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
    body = collapse_code(body, opts.max_code_lines)
    body = _SPACE_RUNS.sub(" ", _BLANK_RUNS.sub("\n\n", body)).strip()
    text = f"{(title or '').strip()}\n\n{body}" if body else (title or "").strip()
    return clip_chars(text, opts.max_chars)
