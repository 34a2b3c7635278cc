"""The text an item is embedded from: one rule for the bot's index and its evaluation.

Issues, pull requests and discussions are embedded from their title, the start of their
body and, for pull requests, the paths they change (the directories and file names say
what code the change is about, which the title often does not).
"""

from __future__ import annotations

from collections.abc import Sequence

#: Characters of body kept: the encoder reads 256 tokens, and the start says the most.
BODY_CHARS = 1500
#: Paths listed at most (a huge change's paths would crowd out its words).
MAX_PATHS = 20


def embedding_text(title: str, body: str = "", paths: Sequence[str] = ()) -> str:
    """Title, body start and changed paths as one text for the encoder."""
    parts = [title.strip(), body.strip()[:BODY_CHARS]]
    if paths:
        parts.append("files: " + " ".join(list(dict.fromkeys(paths))[:MAX_PATHS]))
    return "\n".join(part for part in parts if part)
